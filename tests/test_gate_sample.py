"""The gate over the real named queries (queries/*.sql) and the bundled sample authority.

For every role, purpose and named query: no direct identifier reaches a role without the identifiable tier, no
child outside the relationship scope reaches an identifiable role, and objectors never reach a planning purpose.
Expectations come from the warehouse itself (allocations, objections, identifiers), not from the gate.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pytest
from conftest import SAMPLE_DATA
from scipy import sparse

from dashboard.config import QUERIES_DIR, Settings
from dashboard.policy import Gate, Principal, Refusal
from dashboard.policy.lp_audit import feasible_intervals
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


# ---------------------------------------------------------------------------------------------- aggregate tier
SAM = Principal("sam", "service_manager", (), "service_management")
PAT = Principal("pat", "partner", (), "planning")
MARCH_31 = date(2025, 3, 31)


@pytest.fixture(scope="module")
def sample_gate(sample_warehouse, tmp_path_factory):
    gate = Gate.open(Settings(sample_warehouse, tmp_path_factory.mktemp("audit") / "audit.duckdb"),
                     queries_dir=QUERIES_DIR, env={"CSC_PSEUDONYM_KEY_PLANNING": KEY},
                     clock=lambda: datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC))
    yield gate
    gate.close()


def dims_of(res):
    return [c.name for c in res.columns if c.kind == "dimension"]


def away(row, names, dims):
    return sum(row[names.index(d)] != "Total" for d in dims)


@pytest.fixture(scope="module")
def headline_totals(sample_gate):
    """The three headline counts at 31 March 2025 worked out straight from the warehouse tables (the measures'
    definitions: open at 31 March = started on or before it, not ended on or before it). Read on the gate's raw
    read-only connection (DuckDB allows one configuration per file in a process), not through the gate."""
    con = sample_gate.con.cursor()
    d = MARCH_31
    try:
        cin = con.execute("SELECT count(DISTINCT child_id) FROM cin_episode WHERE NOT referral_nfa "
                          "AND referral_date <= ? AND (closure_date IS NULL OR closure_date > ?)", [d, d]).fetchall()
        cp = con.execute("SELECT count(DISTINCT child_id) FROM cp_plan WHERE start_date <= ? "
                         "AND (end_date IS NULL OR end_date > ?)", [d, d]).fetchall()
        cla = con.execute("SELECT count(DISTINCT child_id) FROM episode WHERE decom <= ? "
                          "AND (dec IS NULL OR dec > ?) AND coalesce(ls, '') NOT IN ('V3', 'V4')", [d, d]).fetchall()
    finally:
        con.close()
    return {"cin_at_31_march": cin[0][0], "cp_plans_at_31_march": cp[0][0], "cla_at_31_march": cla[0][0]}


# Known shortfall (issue 3 is open for it): on a small authority the linked-table protection hides more than it
# must. The sample's 83 children on CP plans at 31 March 2025, cross-tabulated by five dimensions two at a time,
# come out with most one-way margins hidden (White, Neglect and every team), although each is far from small.
# Strict, so the test says so the day optimal (LP-based) secondary suppression lands.
@pytest.mark.parametrize("name", ["cin_at_31_march", "cp_plans_at_31_march", "cla_at_31_march"])
def test_service_manager_sees_the_grand_total_and_most_margins(sample_gate, headline_totals, name):
    total = headline_totals[name]
    assert total > 5            # the sample authority is big enough for its headline figures to be published
    res = sample_gate.query(SAM, name, {"census_year": 2025}, path="test")
    names, dims = [c.name for c in res.columns], dims_of(res)
    j = names.index("children")
    grand = [i for i, r in enumerate(res.rows) if away(r, names, dims) == 0]
    assert len(grand) == 1 and res.rows[grand[0]][j] == total
    # one-way margins: those not small themselves (primary) are mostly shown
    one_way = [i for i, r in enumerate(res.rows) if away(r, names, dims) == 1]
    shown = [i for i in one_way if (i, "children") not in res.hidden]
    secondary = [i for i in one_way if (i, "children") in res.hidden and res.hidden[(i, "children")].kind
                 != "primary"]
    assert len(shown) > len(secondary), (len(shown), len(secondary))
    assert len(shown) >= len(one_way) // 3
    assert f"not published at more than {sample_gate.policy.rulesets['dfe'].max_dimensions} dimensions at once" \
        in res.notes


def test_no_row_has_more_than_max_dimensions(sample_gate):
    for name, spec in load_queries(QUERIES_DIR).items():
        if spec.shape != "aggregate":
            continue
        for p in (SAM, PAT):
            res = sample_gate.query(p, name, {}, path="test")
            k = sample_gate.policy.rulesets[res.ruleset].max_dimensions
            names, dims = [c.name for c in res.columns], dims_of(res)
            assert all(away(r, names, dims) <= k for r in res.rows), (name, p.role)
            if len(dims) > k:
                # every cell of at most k dimensions is there (or is a true zero): complete the matrix
                assert any(away(r, names, dims) == k for r in res.rows), name


PAGE_DIMS = ["team", "age_band", "sex", "ethnicity_group", "disability"]


def page_views(res):
    """Every view a page offers: one filter (a value or All) + one breakdown, or two filters and no breakdown.
    Each view is what the attacker reads off the screen: {cell: shown value or None if hidden}."""
    names = [c.name for c in res.columns]
    j = names.index("children")
    table = {tuple(r[names.index(d)] for d in PAGE_DIMS): (None if (i, "children") in res.hidden else r[j])
             for i, r in enumerate(res.rows)}
    values = {d: sorted({k[n] for k in table} - {"Total"}) for n, d in enumerate(PAGE_DIMS)}
    views = []
    for f, b in itertools.permutations(range(len(PAGE_DIMS)), 2):
        for fv in ["Total", *values[PAGE_DIMS[f]]]:
            view = {}
            for bv in ["Total", *values[PAGE_DIMS[b]]]:
                key = ["Total"] * len(PAGE_DIMS)
                key[f], key[b] = fv, bv
                view[tuple(key)] = table.get(tuple(key), 0)     # an absent row is a true zero
            views.append(view)
    for f, g in itertools.combinations(range(len(PAGE_DIMS)), 2):
        for fv in ["Total", *values[PAGE_DIMS[f]]]:
            for gv in ["Total", *values[PAGE_DIMS[g]]]:
                key = ["Total"] * len(PAGE_DIMS)
                key[f], key[g] = fv, gv
                views.append({tuple(key): table.get(tuple(key), 0)})
    return views, values


def test_differencing_across_every_page_filter_recovers_nothing(sample_gate):
    """The attacker clicks through every filter and breakdown of the children-in-need page and solves the union
    of everything shown (each breakdown adds up to its filter's total; hidden cells >= 1) for every hidden cell."""
    res = sample_gate.query(SAM, "cin_at_31_march", {"census_year": 2025}, path="test")
    assert dims_of(res) == ["age_band", "sex", "ethnicity_group", "disability", "team"]
    rs = sample_gate.policy.rulesets[res.ruleset]
    views, values = page_views(res)
    seen: dict[tuple, object] = {}
    for view in views:
        for cell_, val in view.items():
            assert seen.get(cell_, val) == val            # the same cell reads the same in every view
            seen[cell_] = val
    cells = sorted(seen)
    index = {c: i for i, c in enumerate(cells)}
    # equations: in every view with a breakdown, the "All" row equals the sum of the breakdown's rows
    eqs = set()
    for f, b in itertools.permutations(range(len(PAGE_DIMS)), 2):
        for fv in ["Total", *values[PAGE_DIMS[f]]]:
            key = ["Total"] * len(PAGE_DIMS)
            key[f] = fv
            parent = index[tuple(key)]
            kids = []
            for bv in values[PAGE_DIMS[b]]:
                k2 = list(key)
                k2[b] = bv
                kids.append(index[tuple(k2)])
            eqs.add((parent, tuple(kids)))
    rows, cols, data = [], [], []
    for r, (p_, kids) in enumerate(sorted(eqs)):
        rows += [r] * (1 + len(kids))
        cols += [p_, *kids]
        data += [1.0] + [-1.0] * len(kids)
    A = sparse.csr_matrix((data, (rows, cols)), shape=(len(eqs), len(cells)))
    hidden = np.array([seen[c] is None for c in cells])
    known = np.array([0.0 if seen[c] is None else float(seen[c]) for c in cells])
    assert hidden.sum() > 0 and (~hidden).sum() > hidden.sum()
    # the published numbers are consistent: the true table satisfies every equation the attacker writes
    lower = np.where(hidden, 1.0, 0.0)
    iv = feasible_intervals(A, known, lower, np.full(len(cells), np.inf), hidden, np.flatnonzero(hidden))
    narrow = {cells[t]: v for t, v in iv.items() if v[1] - v[0] < rs.protection_width - 1e-7}
    assert narrow == {}
