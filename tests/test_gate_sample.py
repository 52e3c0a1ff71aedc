"""The gate over the real named queries (queries/*.sql) and the bundled sample authority.

For every role, purpose and named query: no direct identifier reaches a role without the identifiable tier, no
child outside the relationship scope reaches an identifiable role, and objectors never reach a planning purpose.
Expectations come from the warehouse itself (allocations, objections, identifiers), not from the gate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pytest
from conftest import SAMPLE_DATA

from dashboard.config import QUERIES_DIR, Settings
from dashboard.policy import Gate, Principal, Refusal
from dashboard.policy.pseudonym import pseudonym
from dashboard.warehouse.queries import load_queries

pytestmark = [pytest.mark.functional, pytest.mark.slow]
KEY = "sample-planning-key-0123456789abcdef"
TODAY = date(2025, 6, 1)


@pytest.fixture(scope="module")
def facts(sample_warehouse):
    if not (SAMPLE_DATA / "local" / "allocations.csv").exists():
        pytest.fail("sample_data/ is missing: run `csc-dashboard generate`")
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    try:
        ids = {r[0] for r in con.execute("SELECT child_id FROM child").fetchall()}
        idents = set()
        # names are not checked value by value: a family name such as "White" is also an ethnicity label
        for row in con.execute("SELECT nhs_number, upn, address, postcode FROM person_identifier").fetchall():
            idents |= {str(v) for v in row if v}
        objectors = {r[0] for r in con.execute("SELECT child_id FROM objection").fetchall()}
        team = con.execute("SELECT team_id FROM allocation GROUP BY team_id ORDER BY count(*) DESC LIMIT 1"
                           ).fetchall()[0][0]
        in_team = {r[0] for r in con.execute(
            "SELECT child_id FROM allocation WHERE team_id = ? AND start_date <= ? "
            "AND (end_date IS NULL OR end_date > ?)", [team, TODAY, TODAY]).fetchall()}
    finally:
        con.close()
    return ids, idents, objectors, team, in_team


def test_every_role_and_real_query(sample_warehouse, tmp_path, facts):
    ids, idents, objectors, team, in_team = facts
    gate = Gate.open(Settings(sample_warehouse, tmp_path / "audit.duckdb"), queries_dir=QUERIES_DIR,
                     env={"CSC_PSEUDONYM_KEY_PLANNING": KEY},
                     clock=lambda: datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC))
    pseudo_objectors = {pseudonym(c, KEY.encode()) for c in objectors}
    principals = [Principal("tm", "team_manager", (team,), "direct_care"),
                  Principal("bi", "bi_analyst", (), "planning"),
                  Principal("pa", "partner", (), "planning")]
    answered = 0
    try:
        for name, spec in load_queries(QUERIES_DIR).items():
            for p in principals:
                grant = gate.policy.roles[p.role].grants[p.purpose]
                try:
                    res = gate.query(p, name, {}, path="test")
                except Refusal:
                    assert spec.shape == "aggregate" and grant.ruleset is None or \
                        spec.shape == "rows" and grant.tier == "aggregate", (name, p.role)
                    continue
                answered += 1
                values = {str(v) for r in res.rows for v in r}
                if grant.tier != "identifiable":
                    assert not (values & idents), (name, p.role)
                    assert not (values & ids), (name, p.role)
                    assert not {"given_name", "family_name"} & {c.name for c in res.columns}, (name, p.role)
                if grant.tier == "identifiable" and spec.shape == "rows":
                    j = [c.name for c in res.columns].index("child_id")
                    assert {r[j] for r in res.rows} <= in_team, name
                if gate.policy.purposes[p.purpose].exclude_objectors:
                    assert res.population == "no_objectors"
                    assert not (values & pseudo_objectors), (name, p.role)
    finally:
        gate.close()
    assert answered > len(load_queries(QUERIES_DIR))
