"""Optimal secondary suppression (dashboard/policy/optimal.py): hides less than the hypercube search, stays safe
under the LP audit, gives the same pattern every time, and falls back to the hypercube when its budget runs out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dashboard.policy.optimal as optimal
from dashboard.policy.lp_audit import audit_table
from dashboard.policy.model import load_policy
from dashboard.policy.optimal import pattern_cost
from dashboard.policy.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    UNPUBLISHED,
    clear_memo,
    protect,
)
from tests.helpers_suppression import flat_rels, with_margins
from tests.test_suppression import assert_linked_safe, linked_cubes

POLICY = load_policy()
DFE = POLICY.rulesets["dfe"]
HYPERCUBE = dataclasses.replace(DFE, search="hypercube")


def fresh() -> None:
    # a fresh process: no remembered answers, no per-structure tables
    clear_memo(structures=True)
    optimal._SYSTEMS.clear()


# team (T01, T02, Unallocated) x sex (F, M), the cube of tests/test_gate.py's fixture at 31 March 2025
TEAM_SEX = with_margins(np.array([[3, 2], [4, 2], [0, 1]]))


@pytest.mark.property
def test_optimal_hides_a_one_way_figure_where_the_hypercube_hid_the_headline():
    # Totals: T01 5, T02 6, Unallocated 1; F 7, M 5; all 12. Primary (1..5): T01 F/M/Total, T02 F/M,
    # Unallocated M/Total, Total M. The Total row reads 12 = 7 + M, so a second cell of that row must go:
    # Total/F (7, a 1-way margin: cost (1 + 7) x 4 = 32) or the grand total (12, cost (1 + 12) x 7 = 91).
    # Unallocated M (1) is then safe: Unallocated M = Unallocated Total = 6 - T01 Total, and T01 Total = T01 F +
    # T01 M >= 2, so it lies anywhere in 1..4 (worked in tests/test_gate.py).
    v = TEAM_SEX
    assert v[0, 0] == 12 and v[0, 1] == 7 and v[0, 2] == 5
    opt = protect(v, flat_rels(v), DFE)
    hyp = protect(v, flat_rels(v), HYPERCUBE)
    assert opt.status[0, 1] == SECONDARY and opt.status[0, 0] == PUBLISHED and opt.published[0, 0] == 12
    assert hyp.status[0, 0] == SECONDARY                       # the greedy move went through the headline
    assert (opt.status == SECONDARY).sum() == 1
    assert opt.status[2, 0] == PUBLISHED and opt.status[3, 1] == PUBLISHED    # T02 Total 6; Unallocated F 0
    for p in (opt, hyp):
        assert audit_table(v, p.status, flat_rels(v), DFE, full=True) == []


@pytest.mark.property
def test_a_single_small_cell_gets_the_cheapest_rectangle():
    # Inner 3 x 3 table; (r1, c1) = 1 is the only small cell. Its cheapest protection is a rectangle with one other
    # row j and column k: the cells (r1, ck), (rj, c1), (rj, ck) cost 1 + their count each (inner cells):
    #   r2, c2: 11 + 13 + 31 = 55;  r2, c3: 21 + 13 + 41 = 75;  r3, c2: 11 + 12 + 51 = 74;  r3, c3: 21 + 12 + 61 = 94.
    # The rectangle (r2, c2) moves (r1, c1) up by as much as min(10, 12) - 1 = 9: wide enough. No margin changes.
    inner = np.array([[1, 10, 20], [12, 30, 40], [11, 50, 60]])
    v = with_margins(inner)
    p = protect(v, flat_rels(v), DFE)
    hidden = {tuple(int(i) - 1 for i in c) for c in np.argwhere(p.status != PUBLISHED)}
    assert hidden == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert p.status[1, 1] == PRIMARY
    # no margin hidden: the optimal search is not run, and the pattern is the hypercube's
    assert (p.status == protect(v, flat_rels(v), HYPERCUBE).status).all()


@pytest.mark.property
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner=linked_cubes(), name=st.sampled_from(sorted(POLICY.rulesets)))
def test_optimal_is_safe_and_never_hides_more_than_the_hypercube(inner, name):
    rs = POLICY.rulesets[name]
    v = with_margins(inner)
    opt = protect(v, flat_rels(v), rs, max_dims=2)
    hyp = protect(v, flat_rels(v), dataclasses.replace(rs, search="hypercube"), max_dims=2)
    assert_linked_safe(v, opt, rs)
    # primaries are the same cells; the optimal pattern's cost is never above the greedy one's
    assert ((opt.status == PRIMARY) == (hyp.status == PRIMARY)).all()
    assert pattern_cost(v, opt.status, flat_rels(v)) <= pattern_cost(v, hyp.status, flat_rels(v)) + 1e-9


@pytest.mark.property
def test_the_same_table_gets_the_same_pattern_in_a_fresh_process():
    # Two different safe patterns of one table can be subtracted from each other, so the search is stopped by
    # counts, never by the clock: a restart must reproduce the pattern exactly.
    rng = np.random.default_rng(7)
    v = with_margins(rng.choice([0, 1, 2, 3, 4, 8, 15, 30], size=(4, 5, 3), p=[.2, .2, .15, .1, .1, .1, .1, .05]))
    fresh()
    first = protect(v, flat_rels(v), DFE, max_dims=2)
    fresh()
    again = protect(v, flat_rels(v), DFE, max_dims=2)
    assert (first.status == again.status).all()
    assert (first.status == SECONDARY).any()          # a table that needed the search at all
    assert_linked_safe(v, first, DFE)


@pytest.mark.property
def test_when_the_budget_runs_out_the_hypercube_pattern_is_kept(monkeypatch):
    rng = np.random.default_rng(11)
    v = with_margins(rng.choice([0, 1, 2, 6, 20], size=(4, 4, 3)))
    hyp = protect(v, flat_rels(v), HYPERCUBE, max_dims=2)
    fresh()
    monkeypatch.setattr(optimal, "MAX_ROUNDS", 0)
    out = protect(v, flat_rels(v), DFE, max_dims=2)
    assert (out.status == hyp.status).all()
    assert (out.status[out.status != UNPUBLISHED] == SECONDARY).any()
    fresh()


# ------------------------------------------------------------------------ the attacker, split into components

# Inner 4 x 4 table (rows r1..r4, columns c1..c4) with two hidden rectangles that share no line:
#   rectangle 1: r1, r2 x c1, c2 = [[3, 5], [4, 2]];   rectangle 2: r3, r4 x c3, c4 = [[1, 2], [6, 9]].
TWO_RECTANGLES = with_margins(np.array([[3, 5, 10, 10],
                                        [4, 2, 10, 10],
                                        [10, 10, 1, 2],
                                        [10, 10, 6, 9]]))
RECT_1 = [(1, 1), (1, 2), (2, 1), (2, 2)]          # cube coordinates (index 0 of each axis is the Total)
RECT_2 = [(3, 3), (3, 4), (4, 3), (4, 4)]


def _attacker_for(v: np.ndarray, hidden_cells: list[tuple[int, int]], rs=DFE):
    """The optimal search's attacker over a fully published 2-way table with `hidden_cells` hidden."""
    view = np.ones(v.shape, dtype=bool)
    sysm = optimal._system(v.shape, flat_rels(v), view)
    vv = v.ravel()[sysm.idx].astype(float)
    w = float(rs.protection_width)
    floor = np.maximum(1.0, vv - 4 * w)                # dfe shows true zeros: a hidden cell is >= 1
    upper = vv + 4 * w
    att = optimal._Attacker(sysm, vv, floor, upper)
    x = np.zeros(vv.size, dtype=bool)
    pos = {int(c): i for i, c in enumerate(sysm.idx)}
    for cell in hidden_cells:
        x[pos[int(np.ravel_multi_index(cell, v.shape))]] = True
    att.set_pattern(x)
    return att, x, pos, vv, floor, upper


def _full_lp_extreme(v: np.ndarray, x: np.ndarray, vv, floor, upper, t: int, sign: float) -> float:
    """max of sign * y_t over the WHOLE table (scipy, every relation, published cells fixed): the reference."""
    from scipy.optimize import linprog

    from dashboard.policy.lp_audit import relation_matrix

    A = relation_matrix(v.shape, flat_rels(v)).toarray()
    bounds = [(floor[i], upper[i]) if x[i] else (vv[i], vv[i]) for i in range(vv.size)]
    c = np.zeros(vv.size)
    c[t] = -sign
    res = linprog(c, A_eq=A, b_eq=A @ vv, bounds=bounds, method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.property
def test_the_attacker_splits_two_separate_rectangles_and_finds_each_ones_width():
    # Each rectangle moves as (+s, -s / -s, +s): rows and columns keep their totals. Hidden cells are >= 1.
    #   rectangle 1: 3 + s >= 1, 2 + s >= 1 -> s >= -1;  5 - s >= 1, 4 - s >= 1 -> s <= 3.  s in [-1, 3]:
    #                r1c1 in [2, 6], r1c2 in [2, 6], r2c1 in [1, 5], r2c2 in [1, 5]: width 4 each.
    #   rectangle 2: 1 + s >= 1 -> s >= 0;  2 - s >= 1 -> s <= 1.  s in [0, 1]:
    #                r3c3 in [1, 2], r3c4 in [1, 2], r4c3 in [5, 6], r4c4 in [9, 10]: width 1 each (dfe needs 2).
    # (The search's own bounds, true value +- 4 protection widths, never bind here.)
    v = TWO_RECTANGLES
    att, x, pos, vv, floor, upper = _attacker_for(v, RECT_1 + RECT_2)
    assert len(att.comps) == 2
    comp_cells = sorted(sorted(int(c) for c in comp.cols) for comp in att.comps)
    assert comp_cells == sorted([sorted(pos[int(np.ravel_multi_index(c, v.shape))] for c in RECT_1),
                                 sorted(pos[int(np.ravel_multi_index(c, v.shape))] for c in RECT_2)])
    expected = {(1, 1): (2, 6), (1, 2): (2, 6), (2, 1): (1, 5), (2, 2): (1, 5),
                (3, 3): (1, 2), (3, 4): (1, 2), (4, 3): (5, 6), (4, 4): (9, 10)}
    for cell, (lo, hi) in expected.items():
        t = pos[int(np.ravel_multi_index(cell, v.shape))]
        got_hi, _, point_hi = att.extreme(t, 1.0)
        got_lo, _, point_lo = att.extreme(t, -1.0)
        assert (round(-got_lo, 6), round(got_hi, 6)) == (lo, hi), cell
        # the same as the LP over the whole table
        assert abs(got_hi - _full_lp_extreme(v, x, vv, floor, upper, t, 1.0)) < 1e-7
        assert abs(-got_lo - (-_full_lp_extreme(v, x, vv, floor, upper, t, -1.0))) < 1e-7
        # each returned table is a whole table: published cells at their true values, every relation holding
        for p in (point_hi, point_lo):
            assert np.allclose(p[~x], vv[~x])
            assert np.allclose(att.A @ p, att.A @ vv)


@pytest.mark.property
def test_the_cut_from_a_component_bounds_the_attacker_under_any_other_pattern():
    # Rectangle 2's r3c3 reaches at most 2 (width 1 < 2). The cut rests on: for every pattern x',
    #   max y_t(x') <= max y_t(x*) + sum_c grad_c (x'_c - x*_c),
    # with grad from the component's duals (published cells' reduced costs -(A^T y)_c). Checked here against the
    # LP over the whole table for every single extra cell hidden, and every pair of extra cells.
    v = TWO_RECTANGLES
    att, x, pos, vv, floor, upper = _attacker_for(v, RECT_1 + RECT_2)
    t = pos[int(np.ravel_multi_index((3, 3), v.shape))]
    hi, rc, _ = att.extreme(t, 1.0)
    assert round(hi, 6) == 2
    # HiGHS' reduced costs are c - A^T y: on the component's own cells they are the LP's column duals
    comp = att.comps[att.comp_of[t]]
    col_dual = np.asarray(att.h.getSolution().col_dual)
    assert np.allclose(rc[comp.cols], col_dual)
    g = optimal._gradient(rc, vv, floor, upper)
    published = np.flatnonzero(~x)
    extra = [[int(c)] for c in published] + [[int(a), int(b)] for a in published[::3] for b in published[1::4]
                                               if a != b]
    for cells in extra:
        x2 = x.copy()
        x2[cells] = True
        truth = _full_lp_extreme(v, x2, vv, floor, upper, t, 1.0)
        assert truth <= hi + g @ (x2.astype(float) - x.astype(float)) + 1e-6, cells
    # and the bound is not empty: some single cell's hiding is credited with raising the maximum
    assert g[published].max() > 0
