"""Fixtures for the policy gate's tests: a small hand-made warehouse and a few named queries of our own.

The warehouse (12 children, two teams) is small enough to work every expected answer out by hand:

child  sex  team/worker (open at 2025-06-01)   objection   in T01-cube at 31 March 2025
C01    F    T01 / SW001                          -           yes
C02    F    T01 / SW001                          -           yes
C03    M    T01 / SW001                          objected    yes
C04    M    T01 / SW002                          -           yes
C05    F    T02 / SW003                          -           yes
C06    F    T02 / SW003                          -           yes
C07    F    T02 / SW003                          -           yes
C08    M    T02 / SW003                          objected    yes
C09    F    T02 / SW004                          -           yes
C10    M    T02 / SW004                          -           yes
C11    F    T01 (ended 2025-05-01) / SW001       -           yes
C12    M    (never allocated)                    -           yes (team Unallocated)
"""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dashboard.warehouse.db import create_planning_views, create_schema

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
KEY_ENV = {"CSC_PSEUDONYM_KEY_PLANNING": "test-planning-key-0123456789abcdef"}

CHILDREN = [
    # child_id, sex, dob, ethnicity, ethnicity_group, team, worker, alloc_end
    ("C01", "F", date(2015, 1, 10), "WBRI", "White", "T01", "SW001", None),
    ("C02", "F", date(2016, 2, 11), "WBRI", "White", "T01", "SW001", None),
    ("C03", "M", date(2012, 3, 12), "ABAN", "Asian", "T01", "SW001", None),
    ("C04", "M", date(2010, 4, 13), "BAFR", "Black", "T01", "SW002", None),
    ("C05", "F", date(2011, 5, 14), "WBRI", "White", "T02", "SW003", None),
    ("C06", "F", date(2013, 6, 15), "WBRI", "White", "T02", "SW003", None),
    ("C07", "F", date(2014, 7, 16), "MWBC", "Mixed", "T02", "SW003", None),
    ("C08", "M", date(2009, 8, 17), "WBRI", "White", "T02", "SW003", None),
    ("C09", "F", date(2017, 9, 18), "WBRI", "White", "T02", "SW004", None),
    ("C10", "M", date(2018, 10, 19), "WBRI", "White", "T02", "SW004", None),
    ("C11", "F", date(2019, 11, 20), "WBRI", "White", "T01", "SW001", date(2025, 5, 1)),
    ("C12", "M", date(2020, 12, 21), "WBRI", "White", None, None, None),
]
OBJECTORS = {"C03", "C08"}


def build_warehouse(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        create_schema(con)
        con.execute("INSERT INTO team VALUES ('T01', 'Assessment Team North', 'North'), "
                    "('T02', 'Assessment Team South', 'South')")
        for i, (cid, sex, dob, eth, grp, team, worker, end) in enumerate(CHILDREN, start=1):
            con.execute("INSERT INTO child (child_id, sex, dob, ethnicity, ethnicity_group, upn, is_disabled, "
                        "source) VALUES (?, ?, ?, ?, ?, ?, FALSE, 'cin')", [cid, sex, dob, eth, grp, f"UPN{i:09d}"])
            con.execute("INSERT INTO person_identifier VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [cid, f"Given{i}", f"Family{i}", f"{i} High Street", f"LS{i} {i}AB", f"LS{i}",
                         f"{9000000000 + i}", f"UPN{i:09d}"])
            con.execute("INSERT INTO cin_episode VALUES (?, ?, DATE '2024-06-01', '1A', 'N1', NULL, NULL, FALSE, "
                        "2025)", [i, cid])
            if team:
                con.execute("INSERT INTO allocation VALUES (?, ?, ?, DATE '2024-05-01', ?)", [cid, team, worker, end])
        for cid in sorted(OBJECTORS):
            con.execute("INSERT INTO objection VALUES (?, DATE '2024-01-01', 'non_care')", [cid])
        con.execute("INSERT INTO sw_episode VALUES ('C01', 'SW001', DATE '2024-05-01', NULL, NULL)")
        create_planning_views(con)
    finally:
        con.close()
    return path


QUERIES = {
    "children_by_team_sex": """
        -- title: Children by team and sex
        -- definition: Distinct children with a CIN episode, by team allocated at 31 March and sex.
        -- source: test fixture
        -- unit: count of children
        -- shape: aggregate
        -- parameters:
        --   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
        -- dimensions: [team, sex]
        -- columns:
        --   - {name: team, kind: dimension, label: Team}
        --   - {name: sex, kind: dimension, label: Sex}
        --   - {name: children, kind: count, label: Children}
        --   - {name: girls, kind: count, label: Girls}
        --   - {name: pct_girls, kind: percentage, numerator: girls, denominator: children}
        WITH base AS (
            SELECT c.child_id, c.sex AS sex_v,
                   coalesce((SELECT a.team_id FROM allocation a WHERE a.child_id = c.child_id
                             AND a.start_date <= census_end($census_year)
                             AND (a.end_date IS NULL OR a.end_date > census_end($census_year))), 'Unallocated')
                       AS team_v
            FROM child c JOIN cin_episode e USING (child_id) WHERE e.census_year = $census_year
        )
        SELECT CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
               CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
               count(DISTINCT child_id) AS children,
               count(DISTINCT child_id) FILTER (WHERE sex_v = 'F') AS girls,
               100.0 * count(DISTINCT child_id) FILTER (WHERE sex_v = 'F') / count(DISTINCT child_id) AS pct_girls
        FROM base GROUP BY CUBE (team_v, sex_v) ORDER BY ALL
    """,
    "caseload": """
        -- title: Children on the caseload
        -- definition: Every child with their identifiers.
        -- source: test fixture
        -- unit: children
        -- shape: rows
        -- columns:
        --   - {name: child_id, kind: dimension, source: child.child_id}
        --   - {name: given_name, kind: dimension, source: person_identifier.given_name}
        --   - {name: nhs_number, kind: dimension, source: person_identifier.nhs_number}
        --   - {name: address, kind: dimension, source: person_identifier.address}
        --   - {name: postcode, kind: dimension, source: person_identifier.postcode}
        --   - {name: dob, kind: dimension, source: child.dob}
        --   - {name: sex, kind: dimension, source: child.sex}
        --   - {name: ethnicity, kind: dimension, source: child.ethnicity}
        --   - {name: worker, kind: dimension, source: allocation.worker_id}
        --   - {name: note, kind: dimension}
        SELECT c.child_id, p.given_name, p.nhs_number, p.address, p.postcode, c.dob, c.sex, c.ethnicity,
               (SELECT max(a.worker_id) FROM allocation a WHERE a.child_id = c.child_id) AS worker,
               'secret note' AS note
        FROM child c LEFT JOIN person_identifier p USING (child_id) ORDER BY c.child_id
    """,
}


def write_queries(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in QUERIES.items():
        body = textwrap.dedent(text).strip() + "\n"
        (directory / f"{name}.sql").write_text(body, encoding="utf-8")
    return directory
