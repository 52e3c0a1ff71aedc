"""The case list asked of the warehouse for the principal's children only (the relationship scope pushed into
SQL as a bound list), and the derived relations behind children_list and assessment_timeliness.

What a user would see: the rows of the children in scope and no others, in the list's order; the audit entry
naming exactly the children shown; nobody able to set the scope themselves; objectors left out under planning;
the same answers from views (fixtures) and stored tables (a build).
"""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from dashboard.config import Settings
from dashboard.policy import Gate, Principal, Refusal
from dashboard.warehouse import derived
from dashboard.warehouse.queries import CHILD_SCOPE, QueryError, get_query, parse_query_file, run_query
from tests.helpers_measures import Warehouse, cell
from tests.helpers_policy import KEY_ENV, NOW, build_warehouse

# ------------------------------------------------------------------ the runner: `children` as a bound list

def case_list_world() -> Warehouse:
    """Four children active in census year 2025 (1 April 2024 - 31 March 2025) and one who is not.

    child  family   active because                          allocation overlapping the year
    A      Able     CIN referral 2024-05-01, open           T1 / W7 from 2024-01-01
    B      Baker    903 episode 2023-01-01 to 2024-06-01     none (Unallocated)
    C      Cole     CIN 2022-01-01 closed 2023-01-01: NOT active in 2025
    D      Dunn     CP plan from 2024-07-01, open           T2 / W9 from 2024-03-01, then T3 / W1 from 2024-09-01
    O      Other    CP plan from 2024-07-01 (objector)      none
    """
    w = Warehouse()
    for cid, given, family in (("A", "Amy", "Able"), ("B", "Ben", "Baker"), ("C", "Cal", "Cole"),
                               ("D", "Dee", "Dunn"), ("O", "Olu", "Other")):
        w.child(cid)
        w.identifiers(cid, given, family)
    w.allocate("A", "T1", "2024-01-01", worker="W7")
    w.referral("A", "2024-05-01")
    w.episode("B", "2023-01-01", "2024-06-01", rne="S", rec="E13")
    w.referral("C", "2022-01-01", closure="2023-01-01")
    w.allocate("D", "T2", "2024-03-01", worker="W9")
    w.allocate("D", "T3", "2024-09-01", worker="W1")
    w.cp_plan(w.referral("D", "2024-06-01"), "D", "2024-07-01")
    w.cp_plan(w.referral("O", "2024-06-01"), "O", "2024-07-01")
    w.object("O")
    return w


@pytest.mark.spec
@pytest.mark.parametrize("stored", [False, True], ids=["view", "table"])
def test_children_limits_the_list_to_those_children_in_the_list_order(stored):
    w = case_list_world()
    if stored:
        derived.materialise(w.con)
    spec = get_query("children_list")
    # whole list, by family name: Able, Baker, Dunn, Other (Cole not active in 2025)
    assert run_query(w.con, spec, {"census_year": 2025})["child_id"].to_list() == ["A", "B", "D", "O"]
    # asked for D and A (out of order), C (not active) and Z (no such child): A then D, nothing else
    df = run_query(w.con, spec, {"census_year": 2025}, children=["D", "Z", "C", "A"])
    assert df["child_id"].to_list() == ["A", "D"]
    # D's allocation overlapping the year that started last: T3 from 1 September 2024, worker W1
    assert df.row(1, named=True)["team"] == "T3" and df.row(1, named=True)["worker"] == "W1"
    # an empty scope is nobody, not everybody
    assert run_query(w.con, spec, {"census_year": 2025}, children=[]).height == 0
    # the objector is in direct care's list when in scope, never in the planning population's
    assert run_query(w.con, spec, {"census_year": 2025}, children=["O"])["child_id"].to_list() == ["O"]
    assert run_query(w.con, spec, {"census_year": 2025}, "no_objectors", children=["O", "A"])[
        "child_id"].to_list() == ["A"]


@pytest.mark.spec
def test_a_query_without_the_scope_hook_is_filtered_after(tmp_path):
    w = case_list_world()
    path = tmp_path / "everyone.sql"
    path.write_text(textwrap.dedent("""\
        -- title: Everyone
        -- definition: every child
        -- source: test
        -- unit: children
        -- shape: rows
        -- columns:
        --   - {name: child_id, kind: value, source: child.child_id}
        SELECT child_id FROM child ORDER BY child_id DESC
        """))
    spec = parse_query_file(path)
    assert run_query(w.con, spec, children=["A", "C"])["child_id"].to_list() == ["C", "A"]


@pytest.mark.spec
def test_the_scope_parameter_cannot_be_declared_or_passed(tmp_path):
    w = case_list_world()
    with pytest.raises(QueryError, match="no parameter 'child_scope'"):
        run_query(w.con, get_query("children_list"), {"census_year": 2025, CHILD_SCOPE: ["A", "B", "D", "O"]})
    path = tmp_path / "declares.sql"
    path.write_text(textwrap.dedent("""\
        -- title: Declares the scope
        -- definition: a header trying to let the asker set the scope
        -- source: test
        -- unit: children
        -- shape: rows
        -- parameters:
        --   child_scope: {type: string, default: null}
        -- columns:
        --   - {name: child_id, kind: value, source: child.child_id}
        SELECT child_id FROM child WHERE $child_scope IS NULL
        """))
    with pytest.raises(QueryError, match="set by the runner"):
        run_query(w.con, parse_query_file(path))


# ------------------------------------------------------------------ the derived relations

@pytest.mark.spec
@pytest.mark.parametrize("stored", [False, True], ids=["view", "table"])
def test_case_list_for_years_before_inside_and_after_the_data(stored):
    w = Warehouse()
    w.child("A")
    w.identifiers("A", "Amy", "Able")
    w.referral("A", "2023-05-01")                              # never closed: active in 2024 and every year after
    w.allocate("A", "T2", "2023-05-01", "2024-02-01")          # ends in census year 2024
    w.allocate("A", "T1", "2023-06-01")                        # open-ended
    w.child("B")
    w.identifiers("B", "Ben", "Baker")
    w.referral("B", "2023-05-01", closure="2024-01-01")        # census year 2024 only
    if stored:
        derived.materialise(w.con)

    def listed(year):
        return [(r["child_id"], r["team"], r["cin_open"]) for r in w.run("children_list", census_year=year).iter_rows(
            named=True)]

    assert listed(2023) == []                                  # 31 March 2023 is before every date
    # 2024: both, by family name (Able, Baker); A's latest-started allocation overlapping the year is T1
    # (1 June 2023, after T2's 1 May 2023); B closed 1 January 2024, so not in need at 31 March 2024
    assert listed(2024) == [("A", "T1", True), ("B", "Unallocated", False)]
    # years after the data: only what is still open, in the open allocation's team
    assert listed(2025) == listed(2030) == [("A", "T1", True)]


@pytest.mark.spec
def test_objectors_are_left_out_of_the_new_relations_under_planning():
    w = case_list_world()
    w.assessment(w.referral("A", "2024-06-01"), "A", "2024-06-03", "2024-06-07")
    w.assessment(w.referral("O", "2024-06-02"), "O", "2024-06-03", "2024-06-05")
    for stored in (False, True):
        if stored:
            derived.materialise(w.con)
        for name in ("case_list", "assessment_span"):
            main = {r[0] for r in w.con.execute(f"SELECT child_id FROM main.{name}").fetchall()}
            planning = {r[0] for r in w.con.execute(f"SELECT child_id FROM planning.{name}").fetchall()}
            assert "O" in main and "O" not in planning and planning == main - {"O"}, name
        # Monday 3 to Friday 7 June 2024, start day counted as day 1: 5 working days; O's 3 days left out
        df = w.run("assessment_timeliness", population="no_objectors", census_year=2025)
        assert cell(df, "assessments", "assessment_timeliness") == 1
        assert cell(df, "median_working_days", "assessment_timeliness") == 5


# ------------------------------------------------------------------ through the gate

@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(tmp_path_factory.mktemp("scope") / "w.duckdb")


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def gate(tmp_path, warehouse):
    g = Gate.open(Settings(warehouse, tmp_path / "audit.duckdb"), env=KEY_ENV, clock=Clock())
    yield g
    g.close()


def shown(res):
    j = [c.name for c in res.columns].index("child_id")
    return [r[j] for r in res.rows]


def last_entry(g):
    e = g.trail.frame()
    return e.row(e.height - 1, named=True)


@pytest.mark.functional
def test_team_manager_gets_own_team_only_and_the_audit_names_exactly_them(gate):
    # helpers_policy: every child has an open CIN episode from 1 June 2024 (active in 2025); allocated to T01 on
    # 1 June 2025 (the clock): C01-C04 (C11's allocation ended 1 May 2025). Family1..Family4: the list's order.
    tara = Principal("tara", "team_manager", ("T01",), "direct_care")
    res = gate.query(tara, "children_list", {"census_year": 2025}, path="test")
    assert shown(res) == ["C01", "C02", "C03", "C04"]
    entry = last_entry(gate)
    assert entry["outcome"] == "allowed" and entry["rows"] == 4
    assert entry["child_ids"] == ["C01", "C02", "C03", "C04"]
    # T02 on that day: C05-C10, by family name as text: "Family10" sorts before "Family5"
    tom = Principal("tom", "team_manager", ("T02",), "direct_care")
    assert shown(gate.query(tom, "children_list", {"census_year": 2025}, path="test")) == [
        "C10", "C05", "C06", "C07", "C08", "C09"]


@pytest.mark.functional
def test_caseload_widens_only_by_an_emergency_grant_and_never_by_a_parameter(gate):
    will = Principal("will", "social_worker", ("T01",), "direct_care", "SW001")
    assert shown(gate.query(will, "children_list", {}, path="test")) == ["C01", "C02", "C03"]
    gate.grant_emergency(will, "C09", "Child presented at A&E out of hours", minutes=30)
    assert shown(gate.query(will, "children_list", {}, path="test")) == ["C01", "C02", "C03", "C09"]
    assert last_entry(gate)["child_ids"] == ["C01", "C02", "C03", "C09"]
    gate.clock.now = NOW + timedelta(minutes=31)
    # the asker cannot hand the warehouse a scope of their own: refused, and recorded as refused
    with pytest.raises(Refusal, match="no parameter 'child_scope'"):
        gate.query(will, "children_list", {CHILD_SCOPE: ["C09", "C10"]}, path="test")
    assert last_entry(gate)["outcome"] == "refused" and last_entry(gate)["child_ids"] == []
    assert shown(gate.query(will, "children_list", {}, path="test")) == ["C01", "C02", "C03"]


@pytest.mark.functional
def test_a_query_that_ignores_the_scope_list_still_cannot_widen_the_answer(tmp_path, warehouse):
    qdir = tmp_path / "q"
    qdir.mkdir()
    # mentions $child_scope (so it is handed the list) but returns every child regardless
    (qdir / "careless.sql").write_text(textwrap.dedent("""\
        -- title: Careless list
        -- definition: uses the scope list wrongly
        -- source: test
        -- unit: children
        -- shape: rows
        -- columns:
        --   - {name: child_id, kind: value, source: child.child_id}
        SELECT child_id FROM child WHERE $child_scope IS NULL OR TRUE ORDER BY child_id
        """))
    g = Gate.open(Settings(warehouse, tmp_path / "audit.duckdb"), queries_dir=qdir, env=KEY_ENV, clock=Clock())
    try:
        tara = Principal("tara", "team_manager", ("T01",), "direct_care")
        assert shown(g.query(tara, "careless", {}, path="test")) == ["C01", "C02", "C03", "C04"]
        assert last_entry(g)["child_ids"] == ["C01", "C02", "C03", "C04"]
    finally:
        g.close()


@pytest.mark.functional
def test_planning_rows_are_not_scoped_but_leave_objectors_out(gate):
    bea = Principal("bea", "bi_analyst", (), "planning")
    res = gate.query(bea, "children_list", {"census_year": 2025}, path="test")
    # all 12 children are active in 2025 and no relationship scope applies to planning; C03 and C08 objected
    assert set(last_entry(gate)["child_ids"]) == {f"C{i:02d}" for i in range(1, 13)} - {"C03", "C08"}
    assert 0 < len(res.rows) <= 10
    assert not set(shown(res)) & {f"C{i:02d}" for i in range(1, 13)}      # pseudonyms, never council ids
