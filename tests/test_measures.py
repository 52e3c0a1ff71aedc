"""The measures' shared macros, the named-query format, the cube contract, rates and the case list.

Measure-by-measure fixtures are in test_measures_cin.py and test_measures_cla.py; the plausibility check
against England's published rates is test_measures_plausibility.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from helpers_measures import Warehouse, cell

from dashboard.config import QUERIES_DIR
from dashboard.warehouse.queries import COLUMN_KINDS, get_query, load_queries, parse_query_file

pytestmark = pytest.mark.spec

QUERY_FILES = sorted(Path(QUERIES_DIR).glob("*.sql"))


@pytest.fixture(scope="module")
def wh() -> Warehouse:
    return Warehouse()


# ---------------------------------------------------------------------------------------------- macros
def test_census_year_bounds(wh):
    assert wh.scalar("SELECT census_start(2025)") == date(2024, 4, 1)
    assert wh.scalar("SELECT census_end(2025)") == date(2025, 3, 31)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-06-03", "2024-06-03", 1),  # same working day (Monday): the start day is day 1
        ("2024-06-08", "2024-06-08", 0),  # same day, a Saturday: no working day at all
        ("2024-06-03", "2024-06-10", 6),  # Monday to next Monday: 5 + 1
        ("2024-06-07", "2024-06-10", 2),  # Friday to Monday: the weekend is not counted
        # Easter 2025: Thu 17 Apr (1), Good Friday 18 and Easter Monday 21 not counted, Tue 22 (2)
        ("2025-04-17", "2025-04-22", 2),
        # Christmas 2024: Mon 23, Tue 24 (2), 25 and 26 not counted, Fri 27 (3), Mon 30, Tue 31 (5),
        # New Year's Day not counted, Thu 2 Jan (6)
        ("2024-12-23", "2025-01-02", 6),
        # Boxing Day 2020 fell on a Saturday: the substitute holiday Monday 28 Dec is not counted.
        # Thu 24 (1), Fri 25 Christmas, Mon 28 substitute, Tue 29 (2)
        ("2020-12-24", "2020-12-29", 2),
        # the early May bank holiday 2020 moved to Friday 8 May (VE day): Thu 7 (1), Fri 8 not, Mon 11 (2)
        ("2020-05-07", "2020-05-11", 2),
    ],
)
def test_working_days(wh, start, end, expected):
    assert wh.scalar("SELECT working_days(?::DATE, ?::DATE)", start, end) == expected


def test_working_days_invalid_spans_are_null(wh):
    assert wh.scalar("SELECT working_days(DATE '2024-06-10', DATE '2024-06-03')") is None
    assert wh.scalar("SELECT working_days(NULL, DATE '2024-06-03')") is None


@pytest.mark.parametrize(
    ("dob", "band"),
    [
        ("2024-03-31", "1-4"),      # first birthday ON 31 March 2025
        ("2024-04-01", "Under 1"),  # first birthday the day after
        ("2020-03-31", "5-9"),
        ("2015-04-01", "5-9"),      # 9 until 1 April
        ("2009-03-31", "16+"),      # 16th birthday on 31 March
        ("2009-04-01", "10-15"),
        ("2025-06-01", "Unborn"),   # date of birth after the reference date
        (None, "Not known"),
    ],
)
def test_age_band_at_31_march(wh, dob, band):
    assert wh.scalar("SELECT age_band(?::DATE, census_end(2025))", dob) == band


def test_age_of_a_leap_day_baby(wh):
    # born 29 Feb 2008: still 16 on 28 Feb 2025, 17 on 1 March 2025 (no 29 Feb in 2025)
    assert wh.scalar("SELECT age_at(DATE '2008-02-29', DATE '2025-02-28')") == 16
    assert wh.scalar("SELECT age_at(DATE '2008-02-29', DATE '2025-03-01')") == 17


@pytest.mark.parametrize(("code", "group"), [("WBRI", "White"), ("MWBC", "Mixed"), ("APKN", "Asian"),
                                             ("BAFR", "Black"), ("OOTH", "Other"), ("REFU", "Not known"),
                                             ("NOBT", "Not known"), (None, "Not known")])
def test_ethnicity_group_of_a_code(wh, code, group):
    assert wh.scalar("SELECT ethnicity_group_of(?::VARCHAR)", code) == group


def test_team_at_a_date_and_planning_population():
    w = Warehouse()
    w.child("A")
    w.allocate("A", "T1", "2024-01-01", "2024-10-01")
    w.allocate("A", "T2", "2024-10-01")
    w.child("B")
    w.child("O")
    w.allocate("O", "T3", "2024-01-01")
    w.object("O")
    # T1's allocation ends ON 1 Oct: open up to 30 Sept, T2 from 1 Oct
    assert w.scalar("SELECT team_at('A', DATE '2024-09-30')") == "T1"
    assert w.scalar("SELECT team_at('A', DATE '2024-10-01')") == "T2"
    assert w.scalar("SELECT team_at('B', DATE '2024-10-01')") == "Unallocated"
    assert w.scalar("SELECT team_at('O', DATE '2024-10-01')") == "T3"
    # under the planning search path the macro reads the planning view: the objector's allocation is gone
    cur = w.con.cursor()
    cur.execute("SET search_path = 'planning,main'")
    assert cur.execute("SELECT team_at('O', DATE '2024-10-01')").fetchall()[0][0] == "Unallocated"


# ---------------------------------------------------------------------------------------------- format
def test_every_query_file_parses_and_declares_the_format():
    assert len(QUERY_FILES) >= 20
    for path in QUERY_FILES:
        spec = parse_query_file(path)
        where = path.name
        assert spec.title and spec.definition and spec.source and spec.unit, where
        assert "DfE" in spec.source or "Children's Commissioner" in spec.source or "Local" in spec.source, where
        cy = {p.name: p for p in spec.parameters}.get("census_year")
        assert cy is not None and cy.default == 2025 and cy.choices == "census_years" and cy.type == "integer", where
        names = [c.name for c in spec.columns]
        assert len(names) == len(set(names)), f"{where}: duplicate column"
        for c in spec.columns:
            assert c.kind in COLUMN_KINDS, where
            assert c.label, f"{where}: {c.name} has no label"
            if c.kind in ("rate", "percentage"):
                assert c.numerator in names and c.denominator in names, f"{where}: {c.name}"
                assert spec.column(c.numerator).kind == "count", where
                assert spec.column(c.denominator).kind == "count", where
        if spec.shape == "aggregate":
            dims = [c.name for c in spec.columns if c.kind == "dimension"]
            assert list(spec.dimensions) == dims, f"{where}: dimensions list != dimension columns"
            assert 1 <= len(dims) <= 5, where
            assert "GROUP BY CUBE" in spec.sql, f"{where}: aggregate output must be the whole cube"
            assert any(c.kind == "count" for c in spec.columns), where
        else:
            assert "child_id" in names, where
        assert "$census_year" in spec.sql, where
        assert not spec.extra.keys() - {"england"}, f"{where}: unknown header keys {spec.extra.keys()}"
        england = spec.extra.get("england", {})
        assert not england or isinstance(england.get("year"), int), where
        assert set(england) - {"year"} <= set(names), f"{where}: England figure for an unknown column"


def test_rows_query_names_a_real_warehouse_column_for_every_column(wh):
    spec = get_query("children_list")
    assert spec.shape == "rows"
    for c in spec.columns:
        assert c.source, f"{c.name} has no source"
        table, column = c.source.split(".")
        cols = {r[0] for r in wh.con.execute(f"DESCRIBE main.{table}").fetchall()}
        assert column in cols, c.source


# ---------------------------------------------------------------------------------------------- the cube
@pytest.fixture(scope="module")
def mixed() -> Warehouse:
    """A bit of everything, so that every aggregate query has rows to cube."""
    w = Warehouse()
    kids = [("A", "M", "2015-06-01", "T1"), ("B", "F", "2012-01-01", "T2"), ("C", "F", None, "T1"),
            ("D", "M", "2023-05-01", None), ("E", "U", "2008-01-01", "T2")]
    for child, sex, dob, team in kids:
        w.child(child, sex=sex, dob=dob, ethnicity_group=None if child == "E" else "Asian", disabled=child == "B")
        if team:
            w.allocate(child, team, "2023-01-01")
        e = w.referral(child, "2024-05-01", source="2A" if child in "AB" else "10")
        w.assessment(e, child, "2024-05-01", "2024-06-20")
        w.s47(e, child, "2024-05-02", "2024-05-20")
        w.cp_plan(e, child, "2024-05-20", "2025-01-10" if child == "B" else None, "EMO" if child == "A" else "NEG")
        w.episode(child, "2021-07-01" if child == "A" else "2024-07-01", "2024-10-01", rne="S", rec="X1")
        w.episode(child, "2024-10-01", "2025-02-01" if child == "D" else None, rne="P",
                  place="K2" if child == "C" else "U4", rec="E13" if child == "D" else None)
        w.missing(child, "M", "2024-11-01")
        w.social_worker(child, "S1", "2024-01-01")
        w.school_move(child, "2024-11-01")
    return w


AGGREGATES = sorted(n for n, s in load_queries().items() if s.shape == "aggregate")
#: (query, column) whose margin is NOT the sum of its parts, and why
NOT_ADDITIVE = {
    ("missing_episodes", "children"),  # a child with both missing and away episodes is one child in the margin
    ("intervention_flows", "children"),  # a child passes through several links
}


@pytest.mark.parametrize("name", AGGREGATES)
def test_margins_are_the_sum_of_their_parts_and_never_null(mixed, name):
    spec = get_query(name)
    df = mixed.run(name)
    dims = list(spec.dimensions)
    assert df.height > 1, f"{name} produced no cube"
    for d in dims:
        assert df[d].null_count() == 0, f"{name}.{d} has NULL labels"
    counts = [c.name for c in spec.columns if c.kind == "count" and c.name != "population"]
    for d in dims:
        others_total = pl.lit(True)
        for o in dims:
            if o != d:
                others_total = others_total & (pl.col(o) == "Total")
        parts = df.filter(others_total & (pl.col(d) != "Total"))
        for col in counts:
            total = cell(df, col, name)
            if (name, col) in NOT_ADDITIVE:
                assert parts[col].sum() >= total
            else:
                assert parts[col].sum() == total, f"{name}: {col} over {d}"
    # percentages are their numerator over their denominator, 1 decimal place
    for c in spec.columns:
        if c.kind == "percentage":
            for row in df.iter_rows(named=True):
                if row[c.denominator]:
                    assert row[c.name] == round(100 * row[c.numerator] / row[c.denominator], 1)


def test_not_known_rows_stay_apart_from_total(mixed):
    df = mixed.run("cin_at_31_march")
    # C has no DOB, E is sex U and has no ethnicity group: each is 'Not known', and the margins still hold 5
    assert cell(df, "children", "cin_at_31_march", age_band="Not known") == 1
    assert cell(df, "children", "cin_at_31_march", sex="Not known") == 1
    assert cell(df, "children", "cin_at_31_march", ethnicity_group="Not known") == 1
    assert cell(df, "children", "cin_at_31_march", team="Unallocated") == 1   # D
    assert cell(df, "children", "cin_at_31_march") == 5


def test_unknown_parameter_is_refused(mixed):
    from dashboard.warehouse.queries import QueryError

    with pytest.raises(QueryError, match="no parameter"):
        mixed.run("cin_at_31_march", team="T1")


# ---------------------------------------------------------------------------------------------- rates
def test_rates_per_10000():
    w = Warehouse()
    w.child("R1")
    w.child("R2", sex="F")
    w.child("R3", dob=None)
    w.child("R4")
    w.child("R5", sex="F", dob="2008-06-01")
    for c in ("R1", "R2", "R3"):
        e = w.referral(c, "2024-05-01")                 # R1, R2, R3 in need at 31 March
    w.cp_plan(w.referral("R1", "2024-05-01"), "R1", "2024-06-01")   # R1 on a plan
    w.episode("R4", "2024-06-01")                         # R4, R5 looked after
    w.episode("R5", "2024-06-01")
    # ONS mid-2024 (used for census year 2025): age 9 boys 4,000, age 9 girls 4,000, age 16 girls 2,000 = 10,000
    w.population(2024, 9, "M", 4000)
    w.population(2024, 9, "F", 4000)
    w.population(2024, 16, "F", 2000)
    w.population(2023, 9, "M", 99999)                    # another year's estimate: ignored
    df = w.run("rates_per_10000")
    q = "rates_per_10000"
    assert e  # (the last referral id; referrals exist)
    assert cell(df, "population", q) == 10000
    # all children: CIN 3 -> 3.0 per 10,000; CPP 1 -> 1.0; CLA 2 -> 2.0
    assert (cell(df, "cin_rate", q), cell(df, "cpp_rate", q), cell(df, "cla_rate", q)) == (3.0, 1.0, 2.0)
    # 5-9: population 8,000; CIN R1, R2 = 2 -> 2.5
    assert cell(df, "cin_rate", q, age_band="5-9") == 2.5
    # 16+: population 2,000; CLA R5 -> 5.0; no CIN -> a true 0.0, not a missing row
    assert cell(df, "cla_rate", q, age_band="16+") == 5.0
    assert cell(df, "cin_rate", q, age_band="16+") == 0.0
    # 'Not known' (R3 has no DOB): counted, but no population of its own -> no rate
    assert cell(df, "cin_children", q, age_band="Not known") == 1
    assert cell(df, "cin_rate", q, age_band="Not known") is None
    assert get_query(q).extra["england"] == {"year": 2025, "cin_rate": 330.3, "cpp_rate": 40.6, "cla_rate": 67.0}


# ---------------------------------------------------------------------------------------------- case list
def test_children_list_rows_flags_and_objectors():
    w = Warehouse()
    w.child("A", upn="A123")
    w.identifiers("A", "Amy", "Able")
    w.allocate("A", "T1", "2024-01-01", worker="W7")
    w.referral("A", "2024-05-01")
    w.child("B")
    w.identifiers("B", "Ben", "Baker")
    w.episode("B", "2023-01-01", "2024-06-01", rne="S", rec="E13")   # looked after early in the year only
    w.child("C")
    w.referral("C", "2022-01-01", closure="2023-01-01")               # closed before the year: not active
    w.child("O")
    w.identifiers("O", "Olu", "Other")
    w.cp_plan(w.referral("O", "2024-06-01"), "O", "2024-07-01")
    w.object("O")
    df = w.run("children_list")
    assert df["child_id"].to_list() == ["A", "B", "O"]   # ordered by family name; C not active
    a = df.row(0, named=True)
    assert (a["given_name"], a["upn"], a["team"], a["worker"]) == ("Amy", "A123", "T1", "W7")
    assert (a["cin_open"], a["cp_open"], a["looked_after"]) == (True, False, False)
    b = df.row(1, named=True)
    assert (b["team"], b["looked_after"], b["cin_open"]) == ("Unallocated", False, False)
    o = df.row(2, named=True)
    assert (o["cin_open"], o["cp_open"]) == (True, True)
    planning = w.run("children_list", population="no_objectors")
    assert planning["child_id"].to_list() == ["A", "B"]
