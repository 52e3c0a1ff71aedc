"""The dashboard (Streamlit AppTest) for each role, on a small hand-countable authority (tests/helpers_app.py).

Expected numbers are worked out by hand from the fixture described in helpers_app's docstring.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from helpers_app import APP, AUTH, MAIN, T01, app_environment
from streamlit.testing.v1 import AppTest

from dashboard.app import nav

pytestmark = pytest.mark.app

REPORTS = ["overview", "front_door", "child_protection", "looked_after", "interventions", "equalities"]
IG = ["ig_access_log", "ig_subject_access", "ig_emergency", "ig_unusual", "ig_policy", "ig_data_quality"]
TIMEOUT = 300


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from app_environment(tmp_path_factory.mktemp("app"))


def user(*roles: str, teams=(), worker=None, exp_in: float = 3600, email="person@council.example") -> dict:
    u = {"is_logged_in": True, "email": email, "name": "Test Person", "roles": list(roles),
         "teams": [f"CSC.Team.{t}" for t in teams], "exp": time.time() + exp_in}
    if worker:
        u["worker_id"] = worker
    return u


def app(u: dict | None = None, *, auth: bool = True, script: str = MAIN, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(script, default_timeout=TIMEOUT)
    # A secrets dict is always given, so a developer's own .streamlit/secrets.toml never changes a test.
    at.secrets["auth"] = AUTH if auth else None
    if not auth:
        del at.secrets["auth"]
        at.secrets["unrelated"] = "x"
    if u is not None:
        at.user = u
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def page(key: str) -> str:
    return str(nav.BY_KEY[key].path.relative_to(APP))


def reachable(at: AppTest, key: str) -> bool:
    try:
        at.switch_page(page(key))
    except ValueError:
        return False
    return True


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# ------------------------------------------------------------------------------------------ navigation per role
@pytest.mark.parametrize(("roles", "teams", "worker", "allowed", "forbidden"), [
    (["CSC.ServiceManager"], (), None, REPORTS, ["children"] + IG),
    (["CSC.Partner"], (), None, REPORTS, ["children"] + IG),
    (["CSC.IGOfficer"], (), None, REPORTS + IG, ["children"]),
    (["CSC.BIAnalyst"], (), None, REPORTS + ["children"], IG),
    (["CSC.SocialWorker"], ("T01",), "SW001", ["children"], REPORTS + IG),
])
def test_each_role_gets_its_pages_and_cannot_reach_others(env, roles, teams, worker, allowed, forbidden):
    at = app(user(*roles, teams=teams, worker=worker))
    assert not at.exception
    for key in allowed:
        assert reachable(at, key), f"{roles} should reach {key}"
    for key in forbidden:
        with pytest.raises(ValueError):
            at.switch_page(page(key))


def test_team_manager_chooses_purpose_and_pages_follow_it(env):
    at = app(user("CSC.TeamManager", teams=("T01",)))
    acting = at.sidebar.selectbox(key="acting_as")
    assert acting.options == ["Team manager (T01) - service management", "Team manager (T01) - direct care"]
    assert reachable(at, "overview")
    with pytest.raises(ValueError):
        at.switch_page(page("children"))
    acting.set_value("team_manager/direct_care")
    at.run()
    assert "direct care" in " ".join(c.value for c in at.sidebar.caption)
    assert reachable(at, "children")
    with pytest.raises(ValueError):
        at.switch_page(page("overview"))


def test_unknown_role_claim_gets_nothing(env):
    at = app(user("CSC.Administrator"))
    assert "no role in this dashboard" in at.error[0].value
    assert not at.metric


# ------------------------------------------------------------------------------------------ sign-in
def test_expired_token_is_signed_out(env):
    at = app(user("CSC.ServiceManager", exp_in=-5))
    assert not at.metric
    assert not at.user.get("is_logged_in")


def test_token_without_exp_is_signed_out(env):
    u = user("CSC.ServiceManager")
    del u["exp"]
    at = app(u)
    assert not at.metric
    assert not at.user.get("is_logged_in")


def test_signed_out_user_sees_sign_in_only(env):
    at = app({"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in with entra"]
    assert not at.metric


def test_demo_mode_is_off_when_auth_is_configured(env, monkeypatch):
    monkeypatch.setenv("CSC_DEMO", "1")
    at = app({"is_logged_in": False})
    labels = [b.label for b in at.button]
    assert "Continue as this persona" not in labels
    assert labels == ["Sign in with entra"]
    assert not any("Demo mode" in w.value for w in at.warning)


def test_demo_mode_needs_the_flag(env, monkeypatch):
    monkeypatch.delenv("CSC_DEMO", raising=False)
    at = app(None, auth=False)
    assert "Sign-in is not configured" in at.error[0].value
    assert not at.button


def test_demo_personas_when_asked_and_no_auth(env, monkeypatch):
    monkeypatch.setenv("CSC_DEMO", "1")
    at = app(None, auth=False)
    assert any("Demo mode" in w.value for w in at.warning)
    personas = [b for b in at.button if b.label == "Continue as this persona"]
    assert len(personas) == 6  # access_policies/personas.yml: sam, tara, will, bea, iggy, pat
    at.button(key="persona_sam").click().run()
    assert any("Demo mode" in w.value for w in at.warning)
    assert metrics(at)["Children in need"] == "17"


# ------------------------------------------------------------------------------------------ numbers and hiding
def test_overview_numbers_for_service_manager(env):
    at = app(user("CSC.ServiceManager"))
    m = metrics(at)
    assert m["Children in need"] == "17"           # C001..C017 open at 31 March 2025
    assert m["On a child protection plan"] == "7"   # C001..C007
    assert m["Looked after"] == "6"                 # C008..C013
    assert m["Children in need per 10,000"] == "47.2"  # 17 / (18 ages x 2 sexes x 100) x 10,000 = 47.22
    cin = next(x for x in at.metric if x.label == "Children in need")
    assert cin.delta == "+7 on last year"           # 10 at 31 March 2024 (C001..C010)
    assert "England (2024-25): **330.3**" in [c.value for c in at.caption]


def test_team_filter_from_url_shows_suppression_symbol(env):
    at = app(user("CSC.ServiceManager"), query={"team": "T02"})
    # T02 has 3 children in need: 1 to 5 is shown as 'c' under the DfE rules, never as 3 or 0
    assert metrics(at)["Children in need"] == "c"
    assert at.sidebar.selectbox(key="filter_team").value == "T02"


def test_bad_url_filter_value_is_ignored(env):
    at = app(user("CSC.ServiceManager"), query={"team": "T99' OR 1=1"})
    assert at.sidebar.selectbox(key="filter_team").value == "All"
    assert metrics(at)["Children in need"] == "17"


def test_hidden_cells_are_marked_on_charts_not_drawn_as_zero(env):
    at = app(user("CSC.ServiceManager"))
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    by_team = next(c for c in charts if c["layout"]["title"]["text"] == "Referrals by team")
    values, marks = by_team["data"][0], by_team["data"][1]
    # referrals in 2024-25: T01 4 (C011..C014), T02 3 (C015..C017): both hidden
    assert "T01" not in (values.get("y") or []) and "T02" not in (values.get("y") or [])
    assert marks["name"] == "Hidden (suppressed)"
    assert sorted(marks["y"]) == ["T01", "T02"] and marks["text"] == ["c", "c"]
    assert marks["xaxis"] == "x2"  # drawn on its own 0..1 axis, not the count axis


# ------------------------------------------------------------------------------------------ the gate's K-way limit
NOT_PUBLISHED = "Not published at this level of detail: choose at most 2 filters/breakdowns at once"


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_chart_over_the_limit_says_so_and_draws_nothing(env):
    # team + sex filters and a breakdown by age: 3 dimensions, the dfe rule-set publishes at most 2 at once
    at = app(user("CSC.ServiceManager"), script=str(nav.BY_KEY["overview"].path),
             query={"team": "T01", "sex": "Female"})
    assert not at.exception
    assert "Children in need by age" not in chart_titles(at)      # no empty chart, no bars of zero
    notes = [i.value for i in at.info if NOT_PUBLISHED in i.value]
    assert any("breaks down by age" in n and "filtered by sex and team" in n for n in notes)
    # two filters and no breakdown is within the limit: the card still has a figure, and never a dash
    assert metrics(at)["Children in need"] not in ("\u2013", "0", "")


def test_card_over_the_limit_shows_a_dash_and_the_reason_never_zero(env):
    # every child was born 1 June 2015: aged 9 at 31 March 2025, so age band 5-9 holds children in T01
    at = app(user("CSC.ServiceManager"), script=str(nav.BY_KEY["overview"].path),
             query={"team": "T01", "sex": "Female", "age_band": "5-9"})
    m = metrics(at)
    assert m["Children in need"] == "\u2013" and m["On a child protection plan"] == "\u2013"
    assert any("Not published with 3 filters at once: choose at most 2" in c.value for c in at.caption)
    assert not at.get("plotly_chart") or "Children in need at 31 March" not in chart_titles(at)


def test_sankey_filtered_by_team_is_not_drawn(env):
    at = app(user("CSC.ServiceManager"), script=str(nav.BY_KEY["interventions"].path), query={"team": "T01"})
    assert not at.exception
    assert not any(json.loads(c.proto.spec)["data"][0].get("type") == "sankey" for c in at.get("plotly_chart"))
    assert any(NOT_PUBLISHED in i.value and "cannot also be filtered by team" in i.value for i in at.info)
    at = app(user("CSC.ServiceManager"), script=str(nav.BY_KEY["interventions"].path))
    assert any(json.loads(c.proto.spec)["data"][0].get("type") == "sankey" for c in at.get("plotly_chart"))


def test_filter_bar_explains_the_limit_and_holds_further_filters(env):
    at = app(user("CSC.ServiceManager"), query={"team": "T01", "sex": "Female"})
    text = " ".join(c.value for c in at.sidebar.caption)
    assert "each chart shows one breakdown plus at most one filter" in text
    sb = {k: at.sidebar.selectbox(key=f"filter_{k}") for k in ("team", "sex", "age_band", "ethnicity_group")}
    assert not sb["team"].disabled and not sb["sex"].disabled          # set ones can go back to All
    assert sb["age_band"].disabled and sb["ethnicity_group"].disabled  # a third would be over the limit
    sb["sex"].set_value("All")
    at.run()
    assert not at.sidebar.selectbox(key="filter_age_band").disabled


def test_data_quality_page_reads_counts_through_the_gate_and_is_recorded(env):
    from dashboard.audit import AuditTrail, reports

    at = app(user("CSC.IGOfficer", email="dq@council.example"))
    at.switch_page(page("ig_data_quality")).run()
    assert not at.exception and not at.error
    assert metrics(at)["Children"] == "17"                    # C001..C017
    trail = AuditTrail(Path(os.environ["CSC_AUDIT"]))
    mine = reports.search(trail, user="dq@council.example", path="page:ig_data_quality")
    assert mine.height == 1 and mine["event"][0] == "data_quality" and mine["purpose"][0] == "audit"


def test_gate_data_quality_and_record_access_refuse_what_they_should(env):
    from dashboard.config import Settings
    from dashboard.policy import Gate, Principal, Refusal

    g = Gate.open(Settings.from_env())
    try:
        analyst = Principal(user="bea", role="bi_analyst", teams=(), purpose="planning")
        with pytest.raises(Refusal, match="data-quality summary"):
            g.data_quality(analyst)
        manager = Principal(user="sam", role="service_manager", teams=(), purpose="service_management")
        assert g.data_quality(manager)["tables"]["child"] == 17
        with pytest.raises(ValueError, match="'user' is set by the gate"):
            g.record_access(manager, "page:x", user="someone-else")
    finally:
        g.close()


# ------------------------------------------------------------------------------------------ page guards
@pytest.mark.parametrize(("key", "u"), [
    ("children", user("CSC.ServiceManager")),
    ("children", user("CSC.Partner")),
    ("ig_access_log", user("CSC.ServiceManager")),
    ("ig_subject_access", user("CSC.BIAnalyst")),
    ("overview", user("CSC.SocialWorker", teams=("T01",), worker="SW001")),
])
def test_page_run_directly_with_wrong_principal_refuses(env, key, u):
    at = app(u, script=str(nav.BY_KEY[key].path))
    assert at.error and "Refused" in at.error[0].value
    assert not at.dataframe and not at.metric and not at.get("plotly_chart")


def test_page_run_directly_when_signed_out_refuses(env):
    at = app({"is_logged_in": False}, script=str(nav.BY_KEY["children"].path))
    assert "not signed in" in at.error[0].value
    assert not at.dataframe


# ------------------------------------------------------------------------------------------ records
def _direct_care(at: AppTest) -> AppTest:
    at.sidebar.selectbox(key="acting_as").set_value("team_manager/direct_care")
    at.run()
    at.switch_page(page("children"))
    return at.run()


def test_team_manager_sees_named_children_of_own_team_only(env):
    at = _direct_care(app(user("CSC.TeamManager", teams=("T01",), email="tm1@council.example")))
    df = at.dataframe[0].value
    assert sorted(df["Child ID"]) == T01                 # 14 children of T01; T02's C015..C017 absent
    assert "Given001" in list(df["Given name"])


def test_emergency_access_adds_one_child_and_is_recorded(env):
    from dashboard.audit import AuditTrail, reports

    at = _direct_care(app(user("CSC.TeamManager", teams=("T01",), email="tm2@council.example")))
    assert "C015" not in list(at.dataframe[0].value["Child ID"])
    form_inputs = [t for t in at.text_input if t.label == "Child ID"]
    form_inputs[0].input("C015")
    at.text_area[0].input("Police called out of hours: sibling of a child we hold, safety check.")
    next(b for b in at.button if b.label == "Request emergency access").click()
    at.run()
    assert "C015" in list(at.dataframe[0].value["Child ID"])
    assert any("recorded for review" in s.value for s in at.success)
    trail = AuditTrail(Path(os.environ["CSC_AUDIT"]))
    q = reports.emergency_queue(trail)
    mine = q.filter(q["user"] == "tm2@council.example")
    assert mine.height == 1 and list(mine["child_ids"][0]) == ["C015"]


def test_emergency_access_needs_a_reason(env):
    at = _direct_care(app(user("CSC.TeamManager", teams=("T01",), email="tm3@council.example")))
    next(t for t in at.text_input if t.label == "Child ID").input("C016")
    next(b for b in at.button if b.label == "Request emergency access").click()
    at.run()
    assert any("reason are both required" in e.value for e in at.error)
    assert "C016" not in list(at.dataframe[0].value["Child ID"])


def test_analyst_gets_pseudonymised_rows(env):
    at = app(user("CSC.BIAnalyst"))
    at.switch_page(page("children")).run()
    df = at.dataframe[0].value
    assert "Given name" not in df.columns and "NHS number" not in df.columns
    assert len(df) == 17 and not set(df["Child ID"]) & {f"C{i:03d}" for i in range(1, 18)}
    # the page says what k-anonymity did: the 17 children share postcode LS6, June 2015 and WBRI, and are 9 boys
    # and 8 girls, so both groups are at least 5 and nothing is withheld
    notes = [c.value for c in at.caption if c.value.startswith("k-anonymity (k = 5)")]
    assert len(notes) == 1 and "0 value(s) withheld for 0 child(ren)" in notes[0]
    assert int(df["Date of birth"].notna().sum()) == 17 and set(df["Date of birth"]) == {"2015-06"}


# ------------------------------------------------------------------------------------------ IG pages
def test_ig_reading_the_trail_is_itself_recorded(env):
    from dashboard.audit import AuditTrail, reports

    at = app(user("CSC.IGOfficer", email="ig@council.example"))
    at.switch_page(page("ig_access_log")).run()
    assert not at.exception and at.dataframe
    trail = AuditTrail(Path(os.environ["CSC_AUDIT"]))
    mine = reports.search(trail, user="ig@council.example", path="page:ig_access_log")
    assert mine.height >= 1 and mine["purpose"][0] == "audit"


def test_ig_policy_explorer_in_plain_english(env):
    at = app(user("CSC.IGOfficer"))
    at.switch_page(page("ig_policy")).run()
    text = " ".join(m.value for m in at.markdown)
    assert "children allocated to their team" in text          # team_manager / direct_care
    assert "left out" in text                                   # planning excludes objectors


# ------------------------------------------------------------------------------------------ serve command
def test_serve_has_help():
    from typer.testing import CliRunner

    from dashboard.cli import app as cli

    r = CliRunner().invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--demo" in r.output and "--port" in r.output


def test_demo_key_created_once_outside_repo_and_never_over_a_configured_one(tmp_path):
    from dashboard.cli.app_cmds import ensure_demo_pseudonym_key

    env: dict[str, str] = {}
    made = ensure_demo_pseudonym_key(env, tmp_path)
    assert made == tmp_path / "demo-pseudonym-keys.toml"
    assert env["CSC_PSEUDONYM_KEY_FILE"] == str(made)
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert "planning = " in made.read_text()
    again: dict[str, str] = {}
    assert ensure_demo_pseudonym_key(again, tmp_path) is None and again["CSC_PSEUDONYM_KEY_FILE"] == str(made)
    configured = {"CSC_PSEUDONYM_KEY_PLANNING": "a-real-key-from-the-vault-0001"}
    assert ensure_demo_pseudonym_key(configured, tmp_path / "other") is None
    assert "CSC_PSEUDONYM_KEY_FILE" not in configured and not (tmp_path / "other").exists()


def test_streamlit_command_is_hardened():
    from dashboard.cli.app_cmds import streamlit_command

    cmd = " ".join(streamlit_command(8600, "127.0.0.1"))
    for flag in ("--client.showErrorDetails none", "--client.toolbarMode viewer", "--browser.gatherUsageStats false",
                 "--server.enableAgentApi false", "--server.headless true", "--client.disableDataExport true"):
        assert flag in cmd
