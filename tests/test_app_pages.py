"""A report page's fetch phase (Streamlit AppTest on tests/helpers_app.py's small authority): every measure the
page shows is asked for once, all its audit records are committed together before anything is drawn, and a page
whose records cannot be written draws nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers_app import AUTH, MAIN, app_environment
from streamlit.testing.v1 import AppTest

from dashboard.app import nav

pytestmark = pytest.mark.app

SM = {"is_logged_in": True, "email": "sm@council.example", "name": "Test Person", "roles": ["CSC.ServiceManager"],
      "teams": []}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from app_environment(tmp_path_factory.mktemp("app-pages"))


def run(script: str = MAIN) -> AppTest:
    at = AppTest.from_file(script, default_timeout=300)
    at.secrets["auth"] = AUTH
    at.user = {**SM, "exp": time.time() + 3600}
    return at.run()


def page_entries(path: Path, page: str):
    from dashboard.audit import AuditTrail

    f = AuditTrail(path).frame()
    return f.filter(f["path"] == f"page:{page}")


def test_overview_asks_for_each_measure_once_in_one_commit(env):
    before = page_entries(env / "audit.duckdb", "overview").height if (env / "audit.duckdb").exists() else 0
    at = run()
    assert not at.exception
    log = page_entries(env / "audit.duckdb", "overview")[before:]
    asked = [(q, json.loads(p)["census_year"]) for q, p in zip(log["query"], log["params"], strict=True)]
    # the fixture has census years 2024 and 2025 (helpers_app). The page declares: five cards and the rates with
    # last year's figure (2025 and 2024), trends of three measures over every year (2024, 2025); the filters'
    # values and the two bars are slices of those same answers, so nothing else is asked.
    expected = {(q, y) for q in ("cin_at_31_march", "cp_plans_at_31_march", "cla_at_31_march", "referrals_in_year",
                                 "re_referrals", "rates_per_10000") for y in (2024, 2025)}
    assert len(asked) == len(set(asked)) == 12 and set(asked) == expected
    assert set(log["outcome"].to_list()) == {"allowed"}
    # one batch: consecutive entries with nothing of anyone else's in between
    seqs = log["seq"].to_list()
    assert seqs == list(range(seqs[0], seqs[0] + 12))


def test_a_page_whose_records_cannot_be_written_shows_nothing(env, monkeypatch, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("CSC_AUDIT", str(blocker / "audit.duckdb"))     # cannot be created: a file is in the way
    at = run(str(nav.BY_KEY["overview"].path))
    assert not at.exception
    assert any("Nothing is shown" in e.value and "audit trail could not record" in e.value for e in at.error)
    assert not at.metric and not at.get("plotly_chart")
