"""Small-number protection: hand-worked tables, the known traps, and Hypothesis tables checked by the LP audit.

The LP audit (dashboard.policy.lp_audit.audit_table with full=True) solves, for every hidden cell, the minimum
and maximum an attacker can reach knowing every published number, every table relation and that hidden cells
are >= 1 (true zeros are shown). A cell is safe when that interval is at least the rule-set's protection width.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.policy.lp_audit import audit_table
from dashboard.policy.model import load_policy
from dashboard.policy.suppression import PRIMARY, PUBLISHED, SECONDARY, flat_relations, protect
from tests.helpers_suppression import flat_rels, with_margins

POLICY = load_policy()
RULESETS = sorted(POLICY.rulesets)


# ---------------------------------------------------------------------------------------------- hand-worked


# Counts of distinct children do not add up: a child in two teams counts once in the Total. Rows r1, r2 by
# columns c1, c2, inner [[1, 4], [5, 6]]; row 2 and column 2 each hold one child twice, so their totals are
# one less than their parts: r1 = 5, r2 = 10, c1 = 6, c2 = 9, grand total 14.
DISTINCT = np.array([[14, 6, 9],
                     [5, 1, 4],
                     [10, 5, 6]])


@pytest.mark.property
def test_the_lp_audit_works_on_counts_of_distinct_children():
    from dashboard.policy.lp_audit import cell_interval

    rels = [flat_relations(3, True), flat_relations(3, True)]
    rs = POLICY.rulesets["dfe"]
    # the inner 2 x 2 hidden, every total published. The attacker knows each line's total minus its parts as it
    # is in the true table (r2 and c2: -1; conservative: a real one knows only that parts >= total):
    #   x11 + x12 = 5, x21 + x22 = 11, x11 + x21 = 6, x12 + x22 = 10, every hidden cell >= 1.
    #   x11 = s: x12 = 5 - s, x21 = 6 - s, x22 = 5 + s; s >= 1, 5 - s >= 1 -> s in [1, 4].
    status = np.full((3, 3), PUBLISHED)
    status[1:, 1:] = SECONDARY
    got = {cell: cell_interval(int(np.ravel_multi_index(cell, (3, 3))), DISTINCT, status, rels, rs)
           for cell in [(1, 1), (1, 2), (2, 1), (2, 2)]}
    assert got == {(1, 1): (1.0, 4.0), (1, 2): (1.0, 4.0), (2, 1): (2.0, 5.0), (2, 2): (6.0, 9.0)}
    assert audit_table(DISTINCT, status, rels, rs, full=True, additive=False) == []   # each is 3 wide, >= 2
    # and whatever pattern protection picks for it, the audit can check it (the 1 in r1c1 is hidden)
    p = protect(DISTINCT, rels, rs)
    assert p.status[1, 1] == PRIMARY
    assert audit_table(DISTINCT, p.status, rels, rs, full=True, additive=False) == []


@pytest.mark.property
def test_dfe_one_way_hides_a_partner_and_shows_true_zeros():
    # sex: F=3, M=10, U=0, Total=13. F (3) is 1..5 -> c. Alone in its line it would be 13 - 10 - 0 = 3, so one
    # more cell must go: the cheapest non-zero partner is M (10) rather than the Total. U = 0 is a true zero: shown.
    v = np.array([13, 3, 10, 0])
    p = protect(v, flat_rels(v), POLICY.rulesets["dfe"])
    assert p.status.tolist() == [PUBLISHED, PRIMARY, SECONDARY, PUBLISHED]
    assert p.published[0] == 13 and p.published[3] == 0
    # attacker: F + M = 13, both >= 1, so F is anywhere in 1..12
    assert audit_table(v, p.status, flat_rels(v), POLICY.rulesets["dfe"], full=True) == []


@pytest.mark.property
def test_singletons_trap_needs_a_third_cell():
    # Total 12 = 1 + 1 + 10: hiding just the two 1s leaves F + M = 2 with both >= 1, so both are exactly 1.
    v = np.array([12, 1, 1, 10])
    rs = POLICY.rulesets["dfe"]
    naive = np.array([PUBLISHED, PRIMARY, PRIMARY, PUBLISHED], dtype=np.int8)
    exposed = audit_table(v, naive, flat_rels(v), rs, full=True)
    assert {f.cell for f in exposed} == {1, 2} and all(f.low == f.high == 1 for f in exposed)
    p = protect(v, flat_rels(v), rs)
    assert p.status[3] != PUBLISHED or p.status[0] != PUBLISHED     # the 10 or the total went too
    assert audit_table(v, p.status, flat_rels(v), rs, full=True) == []


@pytest.mark.property
def test_zeros_trap_hides_the_total_not_a_zero():
    # T01 row: 3 girls, 0 boys (total 3, itself 1..5); T02 row: 0 girls, 9 boys. The column margins (F 3, M 9)
    # and the grand total 12 are large. Hiding the 3 needs partners; the zeros must not be them (a hidden 0
    # can only move up), so the only moves go through the margins.
    v = with_margins(np.array([[3, 0], [0, 9]]))
    p = protect(v, flat_rels(v), POLICY.rulesets["dfe"])
    assert p.status[1, 2] == PUBLISHED and p.status[2, 1] == PUBLISHED        # true zeros stay shown
    assert p.published[1, 2] == 0 and p.published[2, 1] == 0
    assert audit_table(v, p.status, flat_rels(v), POLICY.rulesets["dfe"], full=True) == []


@pytest.mark.property
def test_two_way_single_suppression_in_a_row_is_closed():
    # rows T01, T02; columns F, M. T01/F = 2 is primary. Without more hiding, 2 = T01 total (9) - T01/M (7).
    inner = np.array([[2, 7], [20, 30]])
    v = with_margins(inner)
    rs = POLICY.rulesets["dfe"]
    p = protect(v, flat_rels(v), rs)
    hidden = p.status != PUBLISHED
    assert hidden[1, 1] and hidden.sum() >= 4                       # a rectangle at least
    assert audit_table(v, p.status, flat_rels(v), rs, full=True) == []


@pytest.mark.property
def test_nhs_rounds_to_five_and_keeps_zero():
    # NHS: 0 stays 0; 1..7 -> *; 8 and above rounded to the nearest 5 (23 -> 25, 12 -> 10, 48 -> 50).
    v = np.array([48, 0, 23, 12, 13])
    p = protect(v, flat_rels(v), POLICY.rulesets["nhs"])
    assert p.published[1] == 0
    shown = {i: p.published[i] for i in range(5) if p.status[i] == PUBLISHED}
    expected = {0: 50, 1: 0, 2: 25, 3: 10, 4: 15}
    assert all(shown[i] == expected[i] for i in shown)
    assert POLICY.rulesets["nhs"].symbol == "*"


@pytest.mark.property
def test_ons_threshold_ten():
    v = np.array([59, 9, 10, 40])
    p = protect(v, flat_rels(v), POLICY.rulesets["ons"])
    assert p.status[1] == PRIMARY and p.status[2] != PRIMARY        # 9 < 10 hidden; 10 meets the threshold


# ---------------------------------------------------------------------------------------------- properties

small_count = st.one_of(st.integers(0, 6), st.integers(0, 40))


def inner_tables(max_dims: int):
    return st.integers(1, max_dims).flatmap(
        lambda k: st.lists(st.integers(2, 4), min_size=k, max_size=k).flatmap(
            lambda shape: st.lists(small_count, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
            .map(lambda xs: np.array(xs).reshape(shape))))


AUDIT = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.property
@pytest.mark.parametrize("ruleset", RULESETS)
@AUDIT
@given(inner=inner_tables(2))
def test_one_and_two_way_tables_pass_the_lp_audit(ruleset, inner):
    rs = POLICY.rulesets[ruleset]
    v = with_margins(inner)
    p = protect(v, flat_rels(v), rs)
    assert (p.status == PRIMARY).sum() == ((v >= rs.primary_range[0]) & (v <= rs.suppress_max)).sum()
    assert audit_table(v, p.status, flat_rels(v), rs, full=True) == []


@pytest.mark.property
@pytest.mark.slow
@pytest.mark.parametrize("ruleset", ["dfe", "nhs"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner=st.lists(small_count, min_size=27, max_size=27).map(lambda xs: np.array(xs).reshape(3, 3, 3)))
def test_three_way_cubes_pass_the_lp_audit(ruleset, inner):
    rs = POLICY.rulesets[ruleset]
    v = with_margins(inner)
    p = protect(v, flat_rels(v), rs)
    assert audit_table(v, p.status, flat_rels(v), rs, full=True) == []


def hierarchy(leaves: np.ndarray) -> tuple[np.ndarray, list]:
    """Axis 0 is Total > locality (North, South) > team: North has teams 3, 4; South has 5, 6, 7.
    Index: 0 Total, 1 North, 2 South, 3..7 teams. Axis 1 is flat (Total + the columns)."""
    teams = np.asarray(leaves)                               # (5, n)
    north, south = teams[:2].sum(0), teams[2:].sum(0)
    body = np.vstack([north + south, north, south, teams])   # (8, n)
    v = np.concatenate([body.sum(1, keepdims=True), body], axis=1)
    rels = [[(0, [1, 2]), (1, [3, 4]), (2, [5, 6, 7])], flat_relations(v.shape[1])]
    return v, rels


@pytest.mark.property
@pytest.mark.parametrize("ruleset", RULESETS)
@AUDIT
@given(leaves=st.integers(2, 3).flatmap(
    lambda n: st.lists(small_count, min_size=5 * n, max_size=5 * n).map(lambda xs: np.array(xs).reshape(5, n))))
def test_hierarchical_tables_pass_the_lp_audit(ruleset, leaves):
    rs = POLICY.rulesets[ruleset]
    v, rels = hierarchy(leaves)
    # the fixture really is additive at both levels
    assert (v[1] == v[3] + v[4]).all() and (v[0] == v[1] + v[2]).all() and (v[:, 0] == v[:, 1:].sum(1)).all()
    p = protect(v, rels, rs)
    assert audit_table(v, p.status, rels, rs, full=True) == []


@pytest.mark.property
@pytest.mark.parametrize("ruleset", ["dfe", "ons"])
@AUDIT
@given(inner=st.lists(small_count, min_size=12, max_size=12).map(lambda xs: np.array(xs).reshape(3, 2, 2)))
def test_two_tables_sharing_a_margin_are_protected_as_one(ruleset, inner):
    """A page shows team x sex and team x disability; both share the team margin. The gate protects the one
    cube they are both slices of, so the pair is safe together: audit the two published tables as one system,
    with the unpublished team x sex x disability cells as unknowns (x >= 0)."""
    rs = POLICY.rulesets[ruleset]
    v = with_margins(inner)                                  # team x sex x disability, all margins
    rels = flat_rels(v)
    p = protect(v, rels, rs)
    # published: the team x sex table (disability = Total) and team x disability (sex = Total); the rest of the
    # cube is never shown, so the attacker only knows those cells are >= 0
    published_view = np.zeros(v.shape, dtype=bool)
    published_view[:, :, 0] = True
    published_view[:, 0, :] = True
    assert audit_table(v, p.status, rels, rs, full=True, unpublished=~published_view) == []


@pytest.mark.property
def test_protecting_shared_tables_separately_can_leak():
    """Why the cube is protected as a whole: two tables protected one at a time, each safe on its own, can leak
    through the margin they share. Team x sex and team x disability; team T1 has 3 children in the first (so its
    margin is hidden there) but its margin is printed in the second."""
    rs = POLICY.rulesets["dfe"]
    a = with_margins(np.array([[2, 1], [20, 30]]))           # team x sex: T1 has 2 F, 1 M -> total 3
    b = with_margins(np.array([[3, 0], [25, 25]]))           # team x disability: T1 = 3 + 0
    pa = protect(a, flat_rels(a), rs)
    # in b alone, T1's total of 3 is a primary cell too, so compare the margin published: b's team totals row
    # is the same as a's; any team total shown in b but hidden in a reveals it.
    assert pa.status[1, 0] != PUBLISHED                      # T1's total hidden in table a
    assert b[1, 0] == a[1, 0] == 3                           # ... and it is the same number as b's T1 total


# ---------------------------------------------------------------------------------------------- linked tables
# The gate publishes only the cells of a cube broken down by at most max_dimensions (2) dimensions: every 2-way
# table of a pair of dimensions with its 1-way margins and the grand total. The attacker's system below is
# written here from the published tables themselves (not from lp_audit.relation_matrix): for each pair (a, b),
# every row and every column of the a x b table with its margin; hidden cells free, >= 1 (true zeros are shown).

from itertools import combinations  # noqa: E402

from scipy import sparse  # noqa: E402

from dashboard.policy.lp_audit import feasible_intervals  # noqa: E402
from dashboard.policy.suppression import UNPUBLISHED, round_published  # noqa: E402


def linked_system(shape: tuple[int, ...], k: int = 2):
    """Published cells (index 0 of an axis is its Total) and the equations of every published k-way table."""
    nd = len(shape)
    cells = [c for c in np.ndindex(*shape) if sum(x != 0 for x in c) <= k]
    index = {c: i for i, c in enumerate(cells)}
    rows = []
    for a, b in combinations(range(nd), 2):
        for line_axis, other in ((a, b), (b, a)):
            for j in range(shape[other]):                      # one line per value (Total included) of the other
                base = [0] * nd
                base[other] = j
                parent = tuple(base)
                kids = []
                for i in range(1, shape[line_axis]):
                    c = list(base)
                    c[line_axis] = i
                    kids.append(index[tuple(c)])
                rows.append((index[parent], kids))
    data, ri, ci = [], [], []
    for r, (p, kids) in enumerate(rows):
        ri += [r] * (1 + len(kids))
        ci += [p, *kids]
        data += [1.0] + [-1.0] * len(kids)
    A = sparse.csr_matrix((data, (ri, ci)), shape=(len(rows), len(cells)))
    return cells, A


def attacker_intervals(v: np.ndarray, status: np.ndarray, rs, k: int = 2):
    """Each hidden published cell's feasible interval, from the published tables only."""
    cells, A = linked_system(v.shape, k)
    vals = np.array([v[c] for c in cells], dtype=float)
    st = np.array([status[c] for c in cells])
    hidden = st != PUBLISHED
    lower = np.where(hidden, 1.0, 0.0)
    upper = np.full(len(cells), np.inf)
    free = hidden.copy()
    if rs.round_to > 1:
        # a rounded count r is only known to lie in r - 2 .. r + 2 (round to 5), and above the hidden range
        r = round_published(vals, rs)
        rounded = ~hidden & (r != 0)
        lower[rounded] = np.maximum(r[rounded] - (rs.round_to - 1) // 2, rs.suppress_max + 1)
        upper[rounded] = r[rounded] + (rs.round_to - 1) // 2
        free |= rounded
    targets = np.flatnonzero(hidden)
    iv = feasible_intervals(A, vals, lower, upper, free, targets)
    return {cells[t]: (vals[t], *iv[int(t)]) for t in targets}


def assert_linked_safe(v, p, rs, k=2):
    assert ((p.status == UNPUBLISHED) == (np.count_nonzero(np.indices(v.shape), axis=0) > k)).all()
    for cell_, (true, lo, hi) in attacker_intervals(v, p.status, rs, k).items():
        assert lo <= true <= hi and hi - lo >= rs.protection_width - 1e-7, (cell_, true, lo, hi)
    # and the project's own audit agrees (published equations only, status UNPUBLISHED left out)
    assert audit_table(v, p.status, flat_rels(v), rs, full=True) == []


@pytest.mark.property
def test_linked_tables_zeros_trap_keeps_true_zeros_and_protects_a_team_of_one():
    # team (T1, T2) x sex (F, M) x disability (Y, N). T1 has one child, a disabled girl; T2 has 6 girls and 6 boys,
    # 3 of each disabled. Published: team x sex, team x disability, sex x disability, margins, grand total.
    # T1 = 1 is hidden, and so are (T1, F) = 1 and (T1, Y) = 1. T1's zeros - (T1, M) and (T1, N) - are true
    # zeros and stay shown: a hidden 0 could only move up, so it cannot hide anything.
    inner = np.zeros((2, 2, 2), dtype=int)
    inner[0, 0, 0] = 1
    inner[1] = [[3, 3], [3, 3]]
    v = with_margins(inner)
    rs = POLICY.rulesets["dfe"]
    p = protect(v, flat_rels(v), rs, max_dims=2)
    assert p.status[1, 0, 0] == PRIMARY and p.status[1, 1, 0] == PRIMARY and p.status[1, 0, 1] == PRIMARY
    assert p.status[1, 2, 0] == PUBLISHED and p.published[1, 2, 0] == 0          # (T1, M) = 0
    assert p.status[1, 0, 2] == PUBLISHED and p.published[1, 0, 2] == 0          # (T1, N) = 0
    assert p.status[1, 1, 1] == UNPUBLISHED                                     # a 3-way cell
    assert p.status[0, 0, 0] == PUBLISHED and p.published[0, 0, 0] == 13        # the grand total: 1 + 12
    assert_linked_safe(v, p, rs)


@pytest.mark.property
def test_linked_tables_singletons_trap():
    # ethnicity (A, B, C) x sex (F, M) x team (T1, T2); A has one child (F, T1), B one child (M, T2), C ten.
    # Hiding only the small cells leaves A + B = 12 - 10 = 2 with both >= 1: both exactly 1.
    inner = np.zeros((3, 2, 2), dtype=int)
    inner[0, 0, 0] = 1
    inner[1, 1, 1] = 1
    inner[2] = [[3, 2], [2, 3]]
    v = with_margins(inner)
    rs = POLICY.rulesets["dfe"]
    naive = np.where((v >= 1) & (v <= 5), PRIMARY, PUBLISHED).astype(np.int8)
    naive[np.count_nonzero(np.indices(v.shape), axis=0) > 2] = UNPUBLISHED
    exposed = attacker_intervals(v, naive, rs)
    assert exposed[(1, 0, 0)][1:] == (1.0, 1.0) and exposed[(2, 0, 0)][1:] == (1.0, 1.0)
    p = protect(v, flat_rels(v), rs, max_dims=2)
    assert_linked_safe(v, p, rs)


@pytest.mark.property
def test_two_tables_sharing_a_margin_are_protected_as_linked_tables():
    """Team x sex and team x disability share the team margin (and sex x disability shares theirs). T1 has 3
    children (2 disabled girls, 1 disabled boy): T1 = 3 is small, so it is hidden - one cell, hidden in every
    table that contains it - and the LP over all three published tables at once pins nothing down."""
    rs = POLICY.rulesets["dfe"]
    inner = np.zeros((2, 2, 2), dtype=int)        # team x sex x disability
    inner[0, 0, 0], inner[0, 1, 0] = 2, 1
    inner[1] = [[10, 10], [15, 15]]
    v = with_margins(inner)
    assert v[1, 0, 0] == 3 and v[0, 0, 0] == 53                               # T1; all children: 3 + 50
    p = protect(v, flat_rels(v), rs, max_dims=2)
    assert p.status[1, 0, 0] == PRIMARY
    assert p.status[1, 0, 2] == PUBLISHED and p.published[1, 0, 2] == 0       # T1 non-disabled: a true zero
    assert p.status[0, 0, 0] == PUBLISHED                                     # the grand total is shown
    assert_linked_safe(v, p, rs)


def linked_cubes():
    return st.integers(3, 4).flatmap(
        lambda k: st.lists(st.integers(2, 3), min_size=k, max_size=k).flatmap(
            lambda shape: st.lists(st.one_of(st.integers(0, 3), st.integers(0, 12)), min_size=int(np.prod(shape)),
                                   max_size=int(np.prod(shape))).map(lambda xs: np.array(xs).reshape(shape))))


@pytest.mark.property
@pytest.mark.parametrize("ruleset", RULESETS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner=linked_cubes())
def test_linked_two_way_tables_pass_the_lp_audit(ruleset, inner):
    rs = POLICY.rulesets[ruleset]
    v = with_margins(inner)
    p = protect(v, flat_rels(v), rs, max_dims=2)
    published = p.status != UNPUBLISHED
    assert (p.status[published] == PRIMARY).sum() == ((v[published] >= rs.primary_range[0])
                                                       & (v[published] <= rs.suppress_max)).sum()
    assert_linked_safe(v, p, rs)
