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

POLICY = load_policy()
RULESETS = sorted(POLICY.rulesets)


def with_margins(inner: np.ndarray) -> np.ndarray:
    """The whole cube of an inner table: index 0 of every axis is its Total (as GROUP BY CUBE gives)."""
    a = np.asarray(inner)
    for ax in range(a.ndim):
        a = np.concatenate([a.sum(axis=ax, keepdims=True), a], axis=ax)
    return a


def flat_rels(v: np.ndarray):
    return [flat_relations(n) for n in v.shape]


# ---------------------------------------------------------------------------------------------- hand-worked


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
