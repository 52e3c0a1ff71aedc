"""The workbench page (Streamlit AppTest) on the app tests' hand-countable authority (tests/helpers_app.py).

17 children C001..C017, none objected; sexes alternate from C001 = M: odd n -> M (9), even n -> F (8).
"""

from __future__ import annotations

import time

import pytest
from helpers_app import APP, AUTH, MAIN, app_environment
from streamlit.testing.v1 import AppTest

from dashboard.app import nav

pytestmark = pytest.mark.app



@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from app_environment(tmp_path_factory.mktemp("wb-app"))


def user(*roles: str) -> dict:
    return {"is_logged_in": True, "email": "ana@council.example", "name": "Ana", "roles": list(roles),
            "exp": time.time() + 3600}


def workbench(u: dict, script: str = MAIN) -> AppTest:
    at = AppTest.from_file(script, default_timeout=300)
    at.secrets["auth"] = AUTH
    at.user = u
    at.run()
    if script == MAIN:
        at.switch_page(str(nav.BY_KEY["workbench"].path.relative_to(APP))).run()
    return at


def run_sql(at: AppTest, sql: str) -> AppTest:
    at.text_area(key="wb_sql").set_value(sql)
    next(b for b in at.button if b.label == "Run").click()
    return at.run()


def result(at: AppTest):
    # the schema browser has one table per mart table; the result is the one with the query's columns
    return next(d.value for d in at.dataframe if list(d.value.columns) == ["sex", "n"])


def test_analyst_runs_a_query_sees_true_count_and_chart(env):
    at = workbench(user("CSC.BIAnalyst"))
    assert not at.error
    at = run_sql(at, "SELECT sex, count(*) AS n FROM child GROUP BY sex ORDER BY sex")
    assert not at.error
    df = result(at)
    assert list(df["sex"]) == ["F", "M"] and list(df["n"]) == [8, 9]
    assert any(c.value == "2 row(s)." for c in at.caption)
    # k-anonymity kept every value: 8 girls and 9 boys otherwise alike (LS6, June 2015, WBRI), both groups >= 5
    assert any(c.value.startswith("k-anonymity (k = 5)") and "0 value(s) withheld" in c.value for c in at.caption)
    assert at.get("plotly_chart")


def test_refused_statement_shows_reason_then_good_query_works(env):
    at = workbench(user("CSC.BIAnalyst"))
    at = run_sql(at, "SELECT * FROM read_csv('/etc/passwd')")
    assert at.error and "Refused: read_csv() reads files" in at.error[0].value
    at = run_sql(at, "SELECT sex, count(*) AS n FROM child GROUP BY sex ORDER BY sex")
    assert not at.error and list(result(at)["n"]) == [8, 9]


def test_page_statement_is_recorded_with_the_children_it_displayed(env):
    from dashboard.audit import AuditTrail

    at = workbench(user("CSC.BIAnalyst"))
    at = run_sql(at, "SELECT child_id, sex FROM child WHERE sex = 'F'")
    assert not at.error
    shown = next(d.value for d in at.dataframe if list(d.value.columns) == ["child_id", "sex"])
    assert len(shown) == 8 and not any(v.startswith("C0") for v in shown["child_id"])   # pseudonyms only
    # girls are the even numbers: C002, C004, ..., C016
    e = AuditTrail(env / "audit.duckdb").frame().filter(event="sql", path="workbench", outcome="allowed")
    assert sorted(e.row(-1, named=True)["child_ids"]) == [f"C{n:03d}" for n in range(2, 17, 2)]


def test_export_is_output_checked(env):
    at = workbench(user("CSC.BIAnalyst"))
    # allocations: T01 holds C001..C014 (14), T02 holds C015..C017 (3): 3 is in 1..5, so dfe hides it
    at = run_sql(at, "SELECT team_id, count(*) AS n FROM allocation GROUP BY team_id ORDER BY team_id")
    next(b for b in at.button if b.label == "Check for export").click()
    at.run()
    assert any("Output checked against the dfe rule-set" in i.value and "(1 cell(s) in n)" in i.value
               for i in at.info)
    # a row-level result is not offered for download at all
    at = run_sql(at, "SELECT child_id, sex FROM child")
    next(b for b in at.button if b.label == "Check for export").click()
    at.run()
    assert any("Not exported: only aggregate tables leave the workbench" in e.value for e in at.error)


def test_schema_browser_and_saved_queries(env):
    at = workbench(user("CSC.BIAnalyst"))
    assert any(e.label.startswith("child (17 rows)") for e in at.expander)
    at.text_area(key="wb_sql").set_value("SELECT count(*) AS n FROM child")
    at.text_input(key="wb_title").set_value("All children")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert any(b.label == "All children" for b in at.button)
    assert (env / "workbench" / "ana@council%2Eexample.json").exists()


@pytest.mark.parametrize("roles", [["CSC.ServiceManager"], ["CSC.Partner"], ["CSC.IGOfficer"]])
def test_page_not_offered_and_refuses_when_run_directly(env, roles):
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.secrets["auth"] = AUTH
    at.user = user(*roles)
    at.run()
    with pytest.raises(ValueError):
        at.switch_page(str(nav.BY_KEY["workbench"].path.relative_to(APP)))
    direct = workbench(user(*roles), script=str(nav.BY_KEY["workbench"].path))
    assert direct.error and "Refused" in direct.error[0].value
    assert not direct.text_area
