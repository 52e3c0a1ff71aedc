"""Optimal secondary suppression: the cheapest set of cells to hide, found as a mixed-integer programme.

The hypercube method (suppression.hypercube_secondary) protects each small cell with a move of its own, chosen
greedily. On a small authority whose measure is published as ten linked 2-way tables that greedy choice pays
for each move with shared margins, so large 1-way figures (White, Neglect, a whole team) end up hidden. This
module finds a pattern of least cost over all the linked tables at once, the way tau-Argus' "optimal" method
and sdcTable's "OPT" do (Fischetti and Salazar-Gonzalez, Management Science 1999; Math. Programming 2001):

  master problem   minimise  sum_c cost_c x_c      over x_c in {0, 1} (1 = hidden), every published cell c
                   x_p = 1 for each primary cell; x_z = 0 for a true zero when zeros are shown (a hidden zero
                   can only move one way); no line of a table with exactly one hidden cell; and the cuts below.
  attacker         for a hidden cell t, the largest and smallest value of t an attacker can reach by solving
                   every published relation as a linear programme, published cells fixed, hidden cells
                   anywhere in [lower bound, largest cell]. Its width must be at least the protection width.
  cuts             the attacker's answer is a concave function of the bounds, and the bounds are affine in x,
                   so at a pattern x* where t is too narrow the LP's reduced costs give a supergradient:
                   width(x) <= width(x*) + sum_c g_c (x_c - x*_c). Requiring that to reach the protection width
                   whenever t is hidden cuts x* off and no protected pattern; solve again until every hidden cell
                   is wide enough.

Why it is safe: the loop stops only when every hidden cell of the pattern has passed the attacker's LP (held to
published cells exact, which is at least as strict as lp_audit.audit_table), so the result carries the same
guarantee as the hypercube's. Why it is deterministic: HiGHS is run with a fixed seed and stopped by counts
(cut rounds, branch-and-bound nodes), never by the clock, so the same table gets the same pattern on every
machine and after every restart; two different patterns for one table could be subtracted from each other.
When the budget runs out the caller keeps the hypercube pattern, which is always safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

from dashboard.policy.lp_audit import published_relations, relation_matrix
from dashboard.policy.model import RuleSet
from dashboard.policy.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    UNPUBLISHED,
    Relation,
    _away_count,
    _rel_key,
    hidden_lower_bound,
)

# Budgets (counts, never seconds: see the module docstring on determinism).
MAX_CELLS = 6000          # published cells in one system; larger tables keep the hypercube pattern
MAX_ROUNDS = 40           # master problems solved, each followed by the attacker's check
MAX_NODES = 5000          # branch-and-bound nodes per master problem
MIP_GAP = 0.01            # stop a master problem once within 1% of its least cost (a count, not a clock)
_TOL = 1e-7


@dataclass
class _System:
    """What depends on a table's structure only: the published cells, their relations and the line rows."""
    idx: np.ndarray               # flat indices of the published cells (the view)
    A: sparse.csr_matrix          # published relations over the view's cells (row . y = 0)
    lines: sparse.csr_matrix      # "no lone hidden cell" rows: sum of the line's others - x_c >= 0
    margin: np.ndarray            # per view cell: how many axes are at their Total (0 = innermost)


_SYSTEMS: OrderedDict[tuple, _System] = OrderedDict()
_SYSTEMS_LOCK = threading.Lock()


def _system(shape: tuple[int, ...], relations: Sequence[Sequence[Relation]], view: np.ndarray) -> _System:
    key = (shape, _rel_key(relations), np.packbits(view.ravel()).tobytes())
    with _SYSTEMS_LOCK:
        got = _SYSTEMS.get(key)
        if got is not None:
            _SYSTEMS.move_to_end(key)
            return got
    idx = np.flatnonzero(view.ravel())
    A = published_relations(relation_matrix(shape, relations), view)[:, idx].tocsr()
    A = A[np.diff(A.indptr) > 0]
    # one "no lone hidden cell" row per (line, member): the other members' sum minus the member
    rows, cols, vals = [], [], []
    r = 0
    for i in range(A.shape[0]):
        members = A.indices[A.indptr[i]:A.indptr[i + 1]]
        for m in members:
            rows.extend([r] * len(members))
            cols.extend(members.tolist())
            vals.extend([-1.0 if x == m else 1.0 for x in members])
            r += 1
    lines = sparse.csr_matrix((vals, (rows, cols)), shape=(r, idx.size))
    away = _away_count(shape, relations).ravel()[idx]
    sysm = _System(idx, A, lines, int(away.max(initial=0)) - away)
    with _SYSTEMS_LOCK:
        _SYSTEMS[key] = sysm
        while len(_SYSTEMS) > 64:
            _SYSTEMS.popitem(last=False)
    return sysm


def cell_costs(v: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """What hiding each cell costs a reader: its count (the information lost, as tau-Argus weighs it) plus one,
    times more for a margin, which sums a whole line and is what readers look for first."""
    return (1.0 + v) * (1.0 + 3.0 * margin)


def pattern_cost(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]]) -> float:
    """The total cost (cell_costs) of the cells a pattern hides beyond the primary ones."""
    sec = np.asarray(status).ravel() == SECONDARY
    away = _away_count(values.shape, relations).ravel()
    margin = int(away[np.asarray(status).ravel() != UNPUBLISHED].max(initial=0)) - away
    return float(cell_costs(np.asarray(values, dtype=float).ravel()[sec], margin[sec]).sum())


class _Attacker:
    """The attacker's linear programme over the published cells, kept between solves (HiGHS warm-starts)."""

    def __init__(self, A: sparse.csr_matrix, v: np.ndarray, lower: float, upper: np.ndarray) -> None:
        self.v, self.lo, self.up = v, lower, upper
        n = v.size
        h = self.h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        # small LPs solved hundreds of times from the last basis: presolve would discard that basis each time
        h.setOptionValue("presolve", "off")
        h.addVars(n, v.astype(float), v.astype(float))
        if A.shape[0]:
            # Each relation keeps the true table's residual. For a count of distinct children a child in two
            # categories makes a Total smaller than the sum of its parts; the attacker then knows only
            # inequalities, whose feasible set contains this one, so a width proven here holds there too.
            resid = A @ v.astype(float)
            h.addRows(A.shape[0], resid, resid, A.nnz,
                      A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data.astype(float))
        self._all = np.arange(n, dtype=np.int32)
        self._cost_at: int | None = None

    def set_pattern(self, hidden: np.ndarray) -> None:
        lo = np.where(hidden, self.lo, self.v).astype(float)
        up = np.where(hidden, self.up, self.v).astype(float)
        self.h.changeColsBounds(self._all.size, self._all, lo, up)

    def extreme(self, t: int, sign: float) -> tuple[float, np.ndarray]:
        """max of sign * y_t, and d(max)/d(upper bound) - d(max)/d(lower bound)'s parts per cell."""
        h = self.h
        if self._cost_at is not None and self._cost_at != t:
            h.changeColCost(self._cost_at, 0.0)
        h.changeColCost(t, -sign)            # HiGHS minimises: minimise -sign * y_t
        self._cost_at = t
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"attacker LP not solved: {h.modelStatusToString(h.getModelStatus())}")
        rc = np.asarray(h.getSolution().col_dual)
        # reduced cost < 0: the cell sits at its upper bound and raising it raises the max; > 0: at its lower
        return -h.getInfo().objective_function_value, rc

    def point(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value)


def optimal_secondary(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]],
                      rs: RuleSet, incumbent: np.ndarray | None = None) -> np.ndarray | None:
    """The least-cost protected pattern (status with SECONDARY cells added), or None if the budget ran out or the
    pattern found costs no less than `incumbent`.

    `status` holds PRIMARY / PUBLISHED / UNPUBLISHED per cell; `incumbent` an already protected pattern (the
    hypercube's) that the search starts from and must beat (by cell_costs, the costs the search minimises).
    """
    shape = values.shape
    view = np.asarray(status) != UNPUBLISHED
    sysm = _system(shape, relations, view)
    n = sysm.idx.size
    if n == 0 or n > MAX_CELLS:
        return None
    st = np.asarray(status).ravel()[sysm.idx]
    v = np.asarray(values, dtype=float).ravel()[sysm.idx]
    prim = st == PRIMARY
    if not prim.any():
        return np.asarray(status).copy()
    lower = float(hidden_lower_bound(rs))
    width = float(rs.protection_width)
    # How far a hidden cell may rise in the attacker's LP: 4 protection widths above its true value. Any bound
    # only narrows what the attacker can reach, so a pattern proven wide enough under it is wide enough without
    # it; a small one keeps the cuts' coefficients small (national counts run to hundreds of thousands).
    upper = v + 4.0 * width
    barred = (v == 0) & (rs.zeros == "show")
    if (prim & barred).any():
        return None
    cost = cell_costs(v, sysm.margin)

    master = highspy.Highs()
    master.setOptionValue("output_flag", False)
    master.setOptionValue("random_seed", 0)
    master.setOptionValue("mip_max_nodes", MAX_NODES)
    master.setOptionValue("mip_rel_gap", MIP_GAP)
    master.addVars(n, prim.astype(float), (~barred).astype(float))
    allc = np.arange(n, dtype=np.int32)
    master.changeColsCost(n, allc, cost)
    master.changeColsIntegrality(n, allc, np.array([highspy.HighsVarType.kInteger] * n))
    L = sysm.lines
    if L.shape[0]:
        master.addRows(L.shape[0], np.zeros(L.shape[0]), np.full(L.shape[0], highspy.kHighsInf), L.nnz,
                       L.indptr[:-1].astype(np.int32), L.indices.astype(np.int32), L.data.astype(float))
    for cols, coefs in _room_rows(sysm.A, v, lower, width, barred):
        master.addRow(0.0, highspy.kHighsInf, cols.size, cols, coefs)
    start = None
    if incumbent is not None:
        start = (np.asarray(incumbent).ravel()[sysm.idx] != PUBLISHED).astype(float)
    attacker = _Attacker(sysm.A, v, lower, upper)
    points: list[np.ndarray] = []
    for _ in range(MAX_ROUNDS):
        if start is not None:
            master.setSolution(_solution(start))
        master.run()
        if master.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None                     # node budget spent (or no pattern at all): keep the hypercube
        x = np.asarray(master.getSolution().col_value) > 0.5
        attacker.set_pattern(x)
        # Every LP solution is a table the attacker cannot rule out, and it stays one under any later pattern
        # that keeps its changed cells hidden: the range each cell takes across such tables is a sound lower
        # bound on its width, which spares most cells their own two LPs.
        seen_lo, seen_hi = v.copy(), v.copy()
        if points:
            P = np.array(points)
            ok = (np.abs(P - v)[:, ~x] < 1e-6).all(axis=1)
            if ok.any():
                seen_lo, seen_hi = np.minimum(v, P[ok].min(axis=0)), np.maximum(v, P[ok].max(axis=0))
        cuts = []
        for t in np.flatnonzero(x).tolist():
            if seen_hi[t] - seen_lo[t] >= width - _TOL:
                continue
            hi, g_hi = attacker.extreme(t, 1.0)
            y = attacker.point()
            points.append(y)
            np.minimum(seen_lo, y, out=seen_lo)
            np.maximum(seen_hi, y, out=seen_hi)
            lo_neg, g_lo = attacker.extreme(t, -1.0)
            y = attacker.point()
            points.append(y)
            np.minimum(seen_lo, y, out=seen_lo)
            np.maximum(seen_hi, y, out=seen_hi)
            got = hi + lo_neg                       # max y_t - min y_t
            if got >= width - _TOL:
                continue
            g = _gradient(g_hi, v, lower, upper) + _gradient(g_lo, v, lower, upper)
            # width(x) <= got + g.(x - x*) must reach `width` whenever t is hidden:
            #   g.x - width * x_t >= g.x* - got
            row = g.copy()
            row[t] -= width
            rhs = float(g @ x) - got
            keep = np.abs(row) > 1e-9
            cuts.append((np.flatnonzero(keep).astype(np.int32), row[keep], rhs))
        if not cuts:
            if start is not None and float(cost @ x) >= float(cost @ start):
                return None                 # no cheaper than the pattern the caller already has
            out = np.asarray(status).copy().ravel()
            out[sysm.idx[x & ~prim]] = SECONDARY
            return out.reshape(shape)
        for cols, coefs, rhs in cuts:
            master.addRow(rhs - 1e-7, highspy.kHighsInf, cols.size, cols, coefs)
    return None


def _room_rows(A: sparse.csr_matrix, v: np.ndarray, lower: float, width: float,
               barred: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each line on its own, as a necessary condition (the attacker of all tables knows at least one line):
    a hidden part c can fall by at most v_c - lower, so it must be able to rise by the rest of the width,
    need_c = width - (v_c - lower); that rise comes from hidden siblings falling (each by at most its own room)
    or from the hidden total rising. Row: sum_d min(room_d, need_c) x_d + need_c x_total - need_c x_c >= 0.
    These rows spare the cut loop most of its rounds on singletons and small sums."""
    out = []
    for i in range(A.shape[0]):
        cells = A.indices[A.indptr[i]:A.indptr[i + 1]]
        signs = A.data[A.indptr[i]:A.indptr[i + 1]]
        parents = cells[signs > 0]
        if parents.size != 1:
            continue
        par, kids = int(parents[0]), cells[signs < 0]
        room = v[kids] - lower
        for j, c in enumerate(kids.tolist()):
            need = width - room[j]
            if need <= _TOL or barred[c]:
                continue
            others = np.delete(np.arange(kids.size), j)
            ok = ~barred[kids[others]]
            cols = np.concatenate([kids[others][ok], [par, c]]).astype(np.int32)
            coefs = np.concatenate([np.minimum(room[others][ok], need), [need, -need]])
            keep = (coefs != 0)
            out.append((cols[keep], coefs[keep]))
    return out


def _gradient(rc: np.ndarray, v: np.ndarray, lower: float, upper: np.ndarray) -> np.ndarray:
    # how far hiding each cell moves its bounds, times how much the attacker's extreme gains per unit of bound:
    # raising the upper bound from v to `upper` (reduced cost < 0), lowering the lower one from v to `lower` (> 0)
    return np.where(rc < 0, -rc * (upper - v), rc * (v - lower))


def _solution(x: np.ndarray) -> highspy.HighsSolution:
    sol = highspy.HighsSolution()
    sol.col_value = x.tolist()
    sol.value_valid = True
    return sol
