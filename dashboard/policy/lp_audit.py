"""The LP audit of a suppression pattern (what tau-Argus, GaussSuppression and G-Confid do).

Write every relation of the published table as a linear equation (a Total minus its parts equals what it is in
the true table: 0 when additive, less for counts of distinct children), fix the published cells (or, for a
rounded rule-set, let each lie within its rounding interval), let every hidden cell vary with x >= its known lower
bound, and for each hidden cell solve two linear programmes (HiGHS via scipy) for its minimum and maximum.
A pattern is safe when every hidden cell's feasible interval is at least the rule-set's protection width wide;
an interval of zero width is exact disclosure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from dashboard.policy.model import RuleSet
from dashboard.policy.suppression import (
    PUBLISHED,
    UNPUBLISHED,
    Relation,
    hidden_lower_bound,
    round_published,
)


@dataclass(frozen=True)
class Finding:
    cell: int           # flat index into the table
    true_value: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def relation_matrix(shape: tuple[int, ...], relations: Sequence[Sequence[Relation]]) -> sparse.csr_matrix:
    """One row per relation line: +1 for the parent cell, -1 for each child (row . x = 0)."""
    grid = np.arange(int(np.prod(shape))).reshape(shape)
    rows, cols, vals = [], [], []
    r0 = 0
    for axis, rels in enumerate(relations):
        for parent, children in rels:
            idx = [parent, *children]
            G = np.moveaxis(np.take(grid, idx, axis=axis), axis, -1).reshape(-1, len(idx))
            n = G.shape[0]
            rid = np.repeat(np.arange(r0, r0 + n), len(idx))
            rows.append(rid)
            cols.append(G.ravel())
            vals.append(np.tile(np.array([1.0] + [-1.0] * len(children)), n))
            r0 += n
    if not rows:
        return sparse.csr_matrix((0, grid.size))
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(r0, grid.size))


def published_relations(A: sparse.csr_matrix, view: np.ndarray | None) -> sparse.csr_matrix:
    """Only the relations whose every cell is published: the equations of the linked published tables.

    A cell outside the view is never shown, so no equation through it is known to the attacker (each kept row
    is a row, column or margin of one published table).
    """
    if view is None:
        return A
    out = np.asarray(~np.asarray(view, dtype=bool).ravel(), dtype=float)
    touches_unpublished = np.asarray(abs(A) @ out).ravel() > 0
    return A[~touches_unpublished]


def feasible_intervals(A: sparse.csr_matrix, known: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                       free: np.ndarray, targets: np.ndarray,
                       residual: np.ndarray | None = None) -> dict[int, tuple[float, float]]:
    """Min and max of each target cell subject to A x = residual (default 0: every relation adds up), x fixed
    to `known` where not free, bounds on free.

    Why audits pass the true table's residual (A v): a count of distinct children is not additive (a child in
    two categories makes a Total smaller than the sum of its parts), so "A x = 0" would have no solution. An
    attacker knows only inequalities there, whose feasible set contains this one, so a width proven here holds
    for them too; on an additive table the residual is 0 and nothing changes."""
    free_idx = np.flatnonzero(free)
    if free_idx.size == 0:
        return {}
    Af = A[:, free_idx]
    fixed = np.where(free, 0.0, known)
    b = -(A @ fixed) if residual is None else np.asarray(residual, dtype=float) - A @ fixed
    used = np.asarray((Af != 0).sum(axis=1)).ravel() > 0
    Af, b = Af[used], b[used]
    # split into independent components: each LP only sees the cells linked to its target
    n_free = free_idx.size
    bip = sparse.bmat([[None, Af.T], [Af, None]]).tocsr() if Af.shape[0] else sparse.csr_matrix((n_free, n_free))
    _, labels = connected_components(bip, directed=False)
    var_label = labels[:n_free]
    row_label = labels[n_free:]
    pos = {int(c): i for i, c in enumerate(free_idx)}
    out: dict[int, tuple[float, float]] = {}
    for t in targets:
        i = pos[int(t)]
        comp_vars = np.flatnonzero(var_label == var_label[i])
        comp_rows = np.flatnonzero(row_label == var_label[i]) if Af.shape[0] else np.array([], dtype=int)
        if comp_rows.size == 0:
            out[int(t)] = (float(lower[t]), float(upper[t]))
            continue
        A_c = Af[comp_rows][:, comp_vars]
        b_c = b[comp_rows]
        bounds = [(float(lower[free_idx[j]]), None if np.isinf(upper[free_idx[j]]) else float(upper[free_idx[j]]))
                  for j in comp_vars]
        k = int(np.flatnonzero(comp_vars == i)[0])
        c = np.zeros(comp_vars.size)
        ends = []
        for sign in (1.0, -1.0):
            c[k] = sign
            res = linprog(c, A_eq=A_c, b_eq=b_c, bounds=bounds, method="highs")
            if res.status == 3:          # unbounded
                ends.append(-np.inf * sign)
            elif res.status != 0:
                raise RuntimeError(f"LP audit failed for cell {int(t)}: {res.message}")
            else:
                ends.append(sign * res.fun)
        out[int(t)] = (ends[0], ends[1])
    return out


def guaranteed_widths(A: sparse.csr_matrix, v: np.ndarray, hidden: np.ndarray, lower: np.ndarray) -> dict[int, float]:
    """A lower bound on each hidden cell's feasible width, without solving an LP.

    Published cells are held at their values (which only narrows the region, so the bound stays sound). For each
    hidden cell t the projection d of e_t onto the null space of the hidden part of A is a direction that keeps
    every relation true; the true table moved by s*d stays feasible while every hidden cell stays >= its lower
    bound, so the interval of t is at least (s_max - s_min) * d_t wide. A zero d_t is exact disclosure.
    """
    hidx = np.flatnonzero(hidden)
    if hidx.size == 0:
        return {}
    Ah = A[:, hidx]
    used = np.asarray((Ah != 0).sum(axis=1)).ravel() > 0
    Ah = Ah[used]
    out: dict[int, float] = {}
    if Ah.shape[0] == 0:
        return {int(c): np.inf for c in hidx}
    bip = sparse.bmat([[None, Ah.T], [Ah, None]]).tocsr()
    _, labels = connected_components(bip, directed=False)
    var_label, row_label = labels[: hidx.size], labels[hidx.size:]
    for comp in np.unique(var_label):
        cv = np.flatnonzero(var_label == comp)
        cr = np.flatnonzero(row_label == comp)
        if cr.size == 0:
            for j in cv:
                out[int(hidx[j])] = np.inf
            continue
        M = Ah[cr][:, cv].toarray()
        # null space basis N (columns); P = N N^T projects onto it
        _, sv, vt = np.linalg.svd(M, full_matrices=True)
        rank = int((sv > 1e-9 * max(1.0, sv.max() if sv.size else 1.0)).sum())
        N = vt[rank:].T
        P = N @ N.T
        slack = v[hidx[cv]] - lower[hidx[cv]]            # how far each hidden cell may fall
        # every column of P is a feasible direction; each gives a segment through the true table, and each
        # cell's interval is at least as wide as its extent along the best of them
        with np.errstate(divide="ignore", invalid="ignore"):
            neg = np.where(P < -1e-12, slack[:, None] / -P, np.inf).min(axis=0)    # s_max per direction
            pos = np.where(P > 1e-12, slack[:, None] / P, np.inf).min(axis=0)      # -s_min per direction
        span = neg + pos                                                           # (s_max - s_min)
        W = np.abs(P) * span[None, :]
        W = np.where(np.abs(P) > 1e-9, W, 0.0)
        best = W.max(axis=1)
        for k, j in enumerate(cv):
            out[int(hidx[j])] = float(best[k]) if P[k, k] > 1e-9 else 0.0
    return out


def cell_interval(cell: int, values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]],
                  rs: RuleSet) -> tuple[float, float]:
    """The attacker's feasible interval for one hidden cell (published cells held exact: the narrowest case);
    `values` is the true table, whose residuals the relations keep (so counts of distinct children work)."""
    v = np.asarray(values, dtype=float).ravel()
    view = (np.asarray(status) != UNPUBLISHED).ravel()
    hidden = (np.asarray(status) != PUBLISHED).ravel() & view
    lower = np.where(hidden, hidden_lower_bound(rs), 0.0)
    upper = np.full(v.size, np.inf)
    A = published_relations(relation_matrix(np.shape(values), relations), view)
    return feasible_intervals(A, v, lower, upper, hidden, np.array([cell]), residual=A @ v)[int(cell)]


def proven_safe(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]],
                rs: RuleSet) -> np.ndarray:
    """Mask of hidden cells whose protection `guaranteed_widths` proves (published cells held exact)."""
    v = np.asarray(values, dtype=float).ravel()
    view = (np.asarray(status) != UNPUBLISHED).ravel()
    hidden = (np.asarray(status) != PUBLISHED).ravel() & view
    lower = np.where(hidden, hidden_lower_bound(rs), 0.0)
    A = published_relations(relation_matrix(np.shape(values), relations), view)
    widths = guaranteed_widths(A, v, hidden, lower)
    out = np.zeros(v.size, dtype=bool)
    for c, w in widths.items():
        out[c] = w >= rs.protection_width - 1e-7
    return out.reshape(np.shape(values))


def audit_table(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]], rs: RuleSet,
                width: float | None = None, full: bool = False, solve: bool = True,
                unpublished: np.ndarray | None = None, additive: bool = True) -> list[Finding]:
    """Every hidden cell an attacker can narrow to an interval narrower than the protection width.

    `additive`: every relation adds up (Total = sum of its parts), so hidden cells' values never enter the LP
    and may be placeholders (an attacker's reconstruction). False: `values` is the true table, whose residuals
    (counts of distinct children: a Total below the sum of its parts) the relations keep (feasible_intervals).

    By default cells that `guaranteed_widths` already proves wide enough skip their two LPs (the proof is a
    feasible segment, so this is sound); `full=True` solves every LP, for independent checking; `solve=False`
    solves none and reports every cell the fast proof cannot clear (low/high are then the proven segment only).
    `unpublished` marks cells the attacker never sees at all (x >= 0, not themselves audited): how linked tables
    that are slices of one cube are audited together.
    Cells whose status is UNPUBLISHED (outside the gate's max_dimensions view) are left out of the system
    altogether, with every relation through them: the attacker has the published tables' equations only.
    """
    values = np.asarray(values, dtype=float)
    width = rs.protection_width if width is None else width
    view = (np.asarray(status) != UNPUBLISHED).ravel()
    hidden = (np.asarray(status) != PUBLISHED).ravel() & view
    if not hidden.any():
        return []
    v = values.ravel()
    lower = np.zeros(v.size)
    upper = np.full(v.size, np.inf)
    lower[hidden] = hidden_lower_bound(rs)
    free = hidden.copy()
    if unpublished is not None:
        un = np.asarray(unpublished, dtype=bool).ravel()
        hidden = hidden & ~un
        lower[un] = 0
        free |= un
    if rs.round_to > 1:
        # a rounded published count is only known to within its rounding interval (and, being published,
        # to lie above the suppression range)
        r = round_published(v, rs)
        half = (rs.round_to - 1) // 2
        rounded = (~free) & (r != 0) & view
        lower[rounded] = np.maximum(r[rounded] - half, rs.suppress_max + 1)
        upper[rounded] = r[rounded] + half
        free |= rounded
    A = published_relations(relation_matrix(values.shape, relations), view)
    targets = np.flatnonzero(hidden)
    if not full:
        quick = guaranteed_widths(A, v, hidden, lower)
        targets = np.array([t for t in targets if quick[int(t)] < width - 1e-7], dtype=np.int64)
        if targets.size == 0:
            return []
        if not solve:
            return [Finding(int(t), float(v[t]), float(v[t]), float(v[t]) + quick[int(t)]) for t in targets]
    intervals = feasible_intervals(A, v, lower, upper, free, targets, residual=None if additive else A @ v)
    findings = []
    for t in targets:
        lo, hi = intervals[int(t)]
        if hi - lo < width - 1e-7:
            findings.append(Finding(int(t), float(v[t]), lo, hi))
    return findings
