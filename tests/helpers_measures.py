"""Hand-built fixtures for the measure tests: an in-memory warehouse (schema, bank holidays, macros, planning
views) and one-line inserts with dull defaults, so each test states only the fields its working depends on.

Every query runs through dashboard.warehouse.queries.run_query, exactly as the gate runs it.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import duckdb
import polars as pl

from dashboard.warehouse.db import create_planning_views, create_schema
from dashboard.warehouse.queries import get_query, run_query


def d(s: str | None) -> date | None:
    return None if s is None else date.fromisoformat(s)


class Warehouse:
    """A tiny warehouse. Defaults: a White, not disabled boy born 2015-06-01, census year 2025."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        create_schema(self.con)
        create_planning_views(self.con)
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ people
    def child(self, child_id: str, sex: str = "M", dob: str | None = "2015-06-01", ethnicity: str = "WBRI",
              ethnicity_group: str | None = "White", disabled: bool = False, expected_dob: str | None = None,
              upn: str | None = None) -> str:
        self.con.execute(
            "INSERT INTO child (child_id, sex, dob, ethnicity, ethnicity_group, upn, expected_dob, is_disabled, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'cin+903')",
            [child_id, sex, d(dob), ethnicity, ethnicity_group, upn, d(expected_dob), disabled],
        )
        return child_id

    def identifiers(self, child_id: str, given: str, family: str, postcode: str = "LS6 1AA",
                    nhs: str = "9434765919", upn: str | None = None) -> None:
        self.con.execute(
            "INSERT INTO person_identifier VALUES (?, ?, ?, '1 High Street', ?, ?, ?, ?)",
            [child_id, given, family, postcode, postcode.split()[0], nhs, upn],
        )

    def allocate(self, child_id: str, team: str, start: str, end: str | None = None, worker: str = "W1") -> None:
        self.con.execute("INSERT INTO allocation VALUES (?, ?, ?, ?, ?)", [child_id, team, worker, d(start), d(end)])

    def object(self, child_id: str, recorded: str = "2024-01-01") -> None:
        self.con.execute("INSERT INTO objection VALUES (?, ?, 'non_care')", [child_id, d(recorded)])

    def population(self, mid_year: int, age: int, sex: str, n: int) -> None:
        self.con.execute("INSERT INTO population VALUES (?, ?, ?, ?)", [mid_year, age, sex, n])

    # ------------------------------------------------------------------ CIN census
    def referral(self, child_id: str, referral: str, closure: str | None = None, nfa: bool = False,
                 source: str = "1A", need: str = "N1", census_year: int = 2025) -> int:
        i = next(self._ids)
        self.con.execute(
            "INSERT INTO cin_episode VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            [i, child_id, d(referral), source, need, d(closure), nfa, census_year],
        )
        return i

    def assessment(self, episode: int, child_id: str, start: str | None, authorised: str | None) -> int:
        i = next(self._ids)
        self.con.execute("INSERT INTO assessment VALUES (?, ?, ?, ?, NULL, ?)",
                         [i, episode, child_id, d(start), d(authorised)])
        return i

    def s47(self, episode: int, child_id: str, start: str, icpc: str | None = None,
            not_required: bool = False) -> int:
        i = next(self._ids)
        self.con.execute("INSERT INTO section47 VALUES (?, ?, ?, ?, NULL, ?, ?)",
                         [i, episode, child_id, d(start), d(icpc), not_required])
        return i

    def cin_plan(self, episode: int, child_id: str, start: str, end: str | None = None) -> int:
        i = next(self._ids)
        self.con.execute("INSERT INTO cin_plan VALUES (?, ?, ?, ?, ?)", [i, episode, child_id, d(start), d(end)])
        return i

    def cp_plan(self, episode: int, child_id: str, start: str, end: str | None = None, initial: str = "NEG",
                latest: str | None = None, previous: int | None = 0) -> int:
        i = next(self._ids)
        self.con.execute("INSERT INTO cp_plan VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [i, episode, child_id, d(start), d(end), initial, latest or initial, previous])
        return i

    # ------------------------------------------------------------------ SSDA903
    def episode(self, child_id: str, decom: str, dec: str | None = None, rne: str = "S", ls: str = "C2",
                place: str = "U1", rec: str | None = None, provider: str = "PR1", urn: str | None = None,
                pl_post: str | None = None, period_id: int = 0) -> int:
        """period_id is deliberately a dummy: the measures stitch periods of care themselves."""
        i = next(self._ids)
        self.con.execute(
            "INSERT INTO episode (episode_id, child_id, decom, rne, ls, place, place_provider, dec, rec, urn, pl_post,"
            " period_id, return_year) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 2025)",
            [i, child_id, d(decom), rne, ls, place, provider, d(dec), rec, urn, pl_post, period_id],
        )
        return i

    def missing(self, child_id: str, kind: str, start: str, end: str | None = None) -> None:
        self.con.execute("INSERT INTO missing_episode VALUES (?, ?, ?, ?)", [child_id, kind, d(start), d(end)])

    def social_worker(self, child_id: str, sw_id: str, start: str, end: str | None = None) -> None:
        self.con.execute("INSERT INTO sw_episode VALUES (?, ?, ?, ?, NULL)", [child_id, sw_id, d(start), d(end)])

    def school_move(self, child_id: str, moved: str, from_urn: str = "100001", to_urn: str = "100002",
                    from_phase: str = "primary", to_phase: str = "primary") -> None:
        self.con.execute("INSERT INTO school_move VALUES (?, ?, ?, ?, ?, ?)",
                         [child_id, d(moved), from_urn, to_urn, from_phase, to_phase])

    # ------------------------------------------------------------------ running
    def run(self, name: str, population: str = "all", **params: Any) -> pl.DataFrame:
        return run_query(self.con, get_query(name), params, population=population)

    def scalar(self, sql: str, *args: Any) -> Any:
        return self.con.execute(sql, list(args)).fetchall()[0][0]


def cell(df: pl.DataFrame, column: str, name: str | None = None, missing: Any = "raise", **dims: str) -> Any:
    """The value of `column` in the one row whose dimensions are `dims` and 'Total' for every other dimension.

    The query's dimensions come from its header (pass `name`), else every string column but `column`.
    A row that is absent means the cube holds no such cell: return `missing` (e.g. 0) or raise.
    """
    if name is not None:
        dimensions = list(get_query(name).dimensions)
    else:
        dimensions = [c for c, t in df.schema.items() if t == pl.Utf8 and c != column]
    unknown = set(dims) - set(dimensions)
    assert not unknown, f"not dimensions: {unknown}"
    expr = pl.lit(True)
    for dim in dimensions:
        expr = expr & (pl.col(dim) == dims.get(dim, "Total"))
    rows = df.filter(expr)
    if rows.height == 0:
        if missing == "raise":
            raise AssertionError(f"no row for {dims} in\n{df}")
        return missing
    assert rows.height == 1, f"{rows.height} rows for {dims}"
    return rows[column][0]
