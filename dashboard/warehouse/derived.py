"""Derived relations (derived.sql): stored as tables once a warehouse's tables are loaded.

`db.create_schema` creates them as views, which are right over whatever rows the tables hold; `materialise`
replaces each view by a table of the same name holding the same rows, in a fixed order (same inputs, identical
warehouse), so the measures read stored rows instead of re-deriving them per query (docs/measures.md, "Speed").
Call it once, after the last row is loaded and before the file is published; the planning schema's views
(db.create_planning_views) refer to these relations by name, so they may be created before or after.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import duckdb

#: derived relation -> its row order when stored; in dependency order (a relation after those it reads)
DERIVED = {
    "stitched_episode": "child_id, seq",
    "placement_episode": "child_id, seq",
    "team_spell": "child_id, valid_from",
    "referral": "census_year, child_id, referral_date",   # by year first: a year's measures read its rows only
    "census_span": "first_year",
    "child_census": "census_year, child_id",
    "case_list": "census_year, list_pos",       # a year's rows together, in the list's order
    "cin_episode_flow": "census_year, cin_episode_id",
    "child_day": "census_year, child_id, d",
    "assessment_span": "census_year, child_id, authorisation_date, start_date",
}


def materialise_one(con: duckdb.DuckDBPyConnection, name: str,
                    swap_lock: AbstractContextManager | None = None) -> None:
    """Store one derived view as a table of the same name and rows, in DERIVED's order. `swap_lock` is held only
    while the view is swapped for the table (the build stores several at once from threads sharing a catalog)."""
    # Why main-qualified: the view bodies name base tables unqualified; on the build connection they resolve
    # to main (every child, objectors included), which is what the stored relation must hold: the planning
    # schema filters it afterwards.
    con.execute(f"CREATE TABLE main.__new_{name} AS SELECT * FROM main.{name} ORDER BY {DERIVED[name]}")
    with swap_lock or nullcontext():
        con.execute(f"DROP VIEW main.{name}")
        con.execute(f"ALTER TABLE main.__new_{name} RENAME TO {name}")


def materialise(con: duckdb.DuckDBPyConnection) -> None:
    """Replace each derived view in `main` by a table with the same rows (a no-op for one already stored)."""
    kinds = dict(con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_catalog = current_database()").fetchall())
    for name in DERIVED:
        if kinds.get(name) != "VIEW":
            continue
        materialise_one(con, name)
    # Why constants: `census_year = census_clamp($census_year)` then folds to one value when the query is planned,
    # and the scan of child_census (stored by census_year) skips every other year's row groups.
    first, last = con.execute("SELECT first_year, last_year FROM main.census_span").fetchall()[0]
    bounds = [str(int(b)) if b is not None else "NULL" for b in (first, last)]
    con.execute(f"CREATE OR REPLACE MACRO census_clamp(y) AS "
                f"greatest(least(CAST(y AS INTEGER), {bounds[1]}), {bounds[0]})")
    con.execute(f"CREATE OR REPLACE MACRO case_list_year(y) AS "
                f"CASE WHEN y IS NOT NULL THEN least(CAST(y AS INTEGER), {bounds[1]} + 1) END")
