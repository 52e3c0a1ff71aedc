"""Derived relations (dashboard/warehouse/derived.sql): right as views over freshly inserted rows, the same rows
once derived.materialise() has stored them, objectors left out under planning, and the "at 31 March" relation
answering for census years outside the data."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest
from polars.testing import assert_frame_equal

from dashboard.warehouse import db, derived
from dashboard.warehouse.queries import load_queries, run_query
from tests.helpers_measures import Warehouse, cell


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(rows(con, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'main'"))


# ------------------------------------------------------------------ team time line

def overlapping_allocations() -> Warehouse:
    w = Warehouse()
    w.child("A")
    w.allocate("A", "T1", "2024-01-01")                       # open-ended
    w.allocate("A", "T2", "2024-06-01", "2024-09-01")         # overlaps T1 and started later: T2 while it lasts
    w.child("B")
    w.allocate("B", "T3", "2024-04-01", "2024-05-01")         # then unallocated
    return w


@pytest.mark.parametrize("stored", [False, True], ids=["view", "table"])
def test_team_spell_follows_the_latest_started_open_allocation(stored):
    w = overlapping_allocations()
    if stored:
        derived.materialise(w.con)
        assert kinds(w.con)["team_spell"] == "BASE TABLE"
    # A: T1 until T2 starts; T2 until it ends on 1 September (open_at: the end date itself is no longer open);
    # T1 again from 1 September. B: T3 for April, then no row at all (unallocated).
    assert rows(w.con, "SELECT child_id, valid_from, valid_to, team FROM team_spell ORDER BY ALL") == [
        ("A", date(2024, 1, 1), date(2024, 6, 1), "T1"),
        ("A", date(2024, 6, 1), date(2024, 9, 1), "T2"),
        ("A", date(2024, 9, 1), None, "T1"),
        ("B", date(2024, 4, 1), date(2024, 5, 1), "T3"),
    ]


def test_team_on_an_event_date_uses_the_time_line():
    w = overlapping_allocations()
    for when in ("2024-05-31", "2024-06-01", "2024-09-01"):
        w.referral("A", when)
    w.referral("B", "2024-05-01")                              # allocation ended that day: unallocated
    derived.materialise(w.con)
    df = w.run("referrals_in_year", census_year=2025)
    # 31 May: T1 only; 1 June: T2 started that day and started last; 1 September: T2 ended that day, T1 again.
    assert cell(df, "referrals", "referrals_in_year", team="T1") == 2
    assert cell(df, "referrals", "referrals_in_year", team="T2") == 1
    assert cell(df, "referrals", "referrals_in_year", team="Unallocated") == 1
    # child A is one child in the grand total although referred three times, twice to T1
    assert cell(df, "children", "referrals_in_year") == 2
    assert cell(df, "children", "referrals_in_year", team="T1") == 1


# ------------------------------------------------------------------ objectors and planning

def test_planning_leaves_objectors_out_of_every_derived_relation():
    w = Warehouse()
    for c in ("KEPT", "OBJ"):
        w.child(c)
        w.allocate(c, "T1", "2024-01-01")
        w.referral(c, "2024-05-01")
        w.episode(c, "2024-05-02")
    w.object("OBJ")
    for stored in (False, True):
        if stored:
            derived.materialise(w.con)
        for name in ("stitched_episode", "placement_episode", "team_spell", "referral", "child_census"):
            assert {r[0] for r in rows(w.con, f"SELECT child_id FROM main.{name}")} == {"KEPT", "OBJ"}, name
            assert {r[0] for r in rows(w.con, f"SELECT child_id FROM planning.{name}")} == {"KEPT"}, name
        # and so every measure under the planning population: one looked-after child, one referral
        assert cell(w.run("cla_at_31_march", population="no_objectors", census_year=2025), "children",
                    "cla_at_31_march") == 1
        assert cell(w.run("referrals_in_year", population="no_objectors", census_year=2025), "referrals",
                    "referrals_in_year") == 1


# ------------------------------------------------------------------ years outside the data

@pytest.mark.parametrize("stored", [False, True], ids=["view", "table"])
def test_at_31_march_answers_for_years_before_and_after_the_data(stored):
    w = Warehouse()
    w.child("A", dob="2015-06-01")
    w.referral("A", "2023-05-01")                              # never closed: open on every later 31 March
    w.allocate("A", "T1", "2023-05-01")
    if stored:
        derived.materialise(w.con)
    # 31 March 2025: aged 9 (birthday 1 June not reached) -> 5-9. 31 March 2030, years after the last date in
    # the data: aged 14 -> 10-15, still open, still T1. 31 March 2020: before the referral, nobody.
    df = w.run("cin_at_31_march", census_year=2025)
    assert cell(df, "children", "cin_at_31_march", age_band="5-9", team="T1") == 1
    df = w.run("cin_at_31_march", census_year=2030)
    assert cell(df, "children", "cin_at_31_march", age_band="10-15", team="T1") == 1
    assert cell(df, "children", "cin_at_31_march", age_band="5-9", missing=0) == 0
    df = w.run("cin_at_31_march", census_year=2020)
    assert cell(df, "children", "cin_at_31_march") == 0


# ------------------------------------------------------------------ stored = derived, deterministic

def test_materialise_is_deterministic_and_idempotent():
    def world(order: list[str]) -> Warehouse:
        w = Warehouse()
        for c in order:
            w.child(c)
            w.allocate(c, "T9", "2023-01-01", "2024-02-01")
            w.allocate(c, "T1", "2024-01-01")
            w.referral(c, "2024-05-01")
            w.referral(c, "2024-05-01", nfa=True)
            w.episode(c, "2024-05-02", "2024-07-01", rec="X1")
            w.episode(c, "2024-07-01", rne="P", place="U4")
        derived.materialise(w.con)
        derived.materialise(w.con)                             # a second call finds tables and leaves them
        return w

    a, again, b = world(["A", "B", "C"]), world(["A", "B", "C"]), world(["C", "A", "B"])
    for name in derived.DERIVED:
        assert kinds(a.con)[name] == "BASE TABLE"
        # same inputs, same stored rows in the same order (SELECT without ORDER BY reads them as stored)
        assert rows(a.con, f"SELECT * FROM main.{name}") == rows(again.con, f"SELECT * FROM main.{name}"), name
    # rows loaded in another order: the relations keyed by content, not by surrogate ids (which follow the load
    # order), are stored in the same order
    for name, cols in (("team_spell", "*"), ("referral", "*"), ("census_span", "*"), ("child_day", "*"),
                       ("child_census", "* EXCLUDE (cla_episode_id)")):
        assert rows(a.con, f"SELECT {cols} FROM main.{name}") == rows(b.con, f"SELECT {cols} FROM main.{name}"), name


def test_every_query_answers_the_same_from_views_and_stored_tables(sample_warehouse, tmp_path):
    """The sample authority, every named query, both populations, the latest census year and one after it."""
    views = tmp_path / "views.duckdb"
    shutil.copy(sample_warehouse, views)
    stored = tmp_path / "stored.duckdb"
    con = duckdb.connect(str(views))
    try:
        if kinds(con).get("child_census") != "VIEW":   # built with stored tables: put the views back
            for name in reversed(list(derived.DERIVED)):
                con.execute(f"DROP TABLE main.{name}")
            con.execute(db.DERIVED_SQL.read_text())
        assert all(kinds(con)[name] == "VIEW" for name in derived.DERIVED)
        last = rows(con, "SELECT max(census_year) FROM cin_episode")[0][0]
    finally:
        con.close()
    shutil.copy(views, stored)
    con = duckdb.connect(str(stored))
    derived.materialise(con)
    con.close()
    a, b = duckdb.connect(str(views), read_only=True), duckdb.connect(str(stored), read_only=True)
    try:
        for spec in load_queries().values():
            for year in (last, last + 1):
                for population in ("all", "no_objectors"):
                    assert_frame_equal(run_query(a, spec, {"census_year": year}, population),
                                       run_query(b, spec, {"census_year": year}, population), check_exact=True)
    finally:
        a.close()
        b.close()
