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
                   anywhere within 4 protection widths of their true value (and never below the lower bound).
                   Its width must be at least the protection width.
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

How it is kept cheap (the same programmes, solved smaller): the attacker's LP is solved per connected component
of hidden cells, over those cells and the relations through them only (_Attacker); every table an LP returns is
kept, and a cell whose range over the tables still possible already spans the protection width needs no LP of
its own (_Points); a cell that already reaches its floor needs no minimum LP, and a narrow cell's maximum alone
gives a second cut for free (width <= max - floor); the master problem is given only
the cells it may choose, rows its fixed cells already satisfy left out (_Master); HiGHS' feasibility-jump
heuristic, which the hypercube start makes redundant, is off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

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
    adj: sparse.csr_matrix        # cells that share a relation (the attacker's components are built on it)


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
    k = np.diff(A.indptr)
    line = np.repeat(np.arange(A.shape[0]), k)          # new row r is for member A.indices[r] of line[r]
    size = k[line]
    r = int(line.size)
    rows = np.repeat(np.arange(r), size)
    first = np.repeat(np.cumsum(size) - size, size)
    cols = A.indices[np.repeat(A.indptr[:-1][line], size) + np.arange(rows.size) - first]
    vals = np.where(cols == A.indices[rows], -1.0, 1.0)
    lines = sparse.csr_matrix((vals, (rows, cols)), shape=(r, idx.size))
    away = _away_count(shape, relations).ravel()[idx]
    inc = abs(A).astype(bool).astype(np.int32)
    sysm = _System(idx, A, lines, int(away.max(initial=0)) - away, (inc.T @ inc).tocsr())
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
    """The attacker's linear programme, solved only where it can move: over the hidden cells.

    With the published cells held at their values, a relation without a hidden cell is a fixed number and says
    nothing, and one with hidden cells says sum of its hidden cells = (its residual minus its published cells).
    Hidden cells that share no relation, directly or through other hidden cells, cannot constrain one another,
    so the programme splits into one small LP per connected component of hidden cells; each has exactly the
    feasible set the full programme has on those cells, so the widths are the same (tests check this against
    the full LP). The cut needs the reduced cost of every cell, published ones included: a published cell is a
    fixed column of the full programme, so its reduced cost there is -(A^T y)_c for the component's row duals y
    (the rows of other components take dual 0, which with the component's duals is an optimal dual of the full
    programme, hence a valid supergradient).
    """

    def __init__(self, sysm: _System, v: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.A, self.adj, self.v, self.lo, self.up = sysm.A, sysm.adj, v, lower, upper
        self.comp_of = np.full(v.size, -1, dtype=np.int64)
        self.comps: list[_Component] = []
        self._known: dict[bytes, _Component] = {}
        h = self.h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        # small LPs, each solved for several targets from the last basis: presolve would discard that basis
        h.setOptionValue("presolve", "off")
        self._loaded: _Component | None = None
        self._cost_at: int | None = None

    def set_pattern(self, hidden: np.ndarray) -> None:
        """Split the programme of this pattern into its components (their LPs are loaded on a first target)."""
        hid = np.flatnonzero(hidden)
        self.comp_of[:] = -1
        self.comps = []
        if hid.size == 0:
            return
        # hidden cells linked by sharing a relation; scipy labels components in order of their first cell, so
        # the split (and every LP built from it) is the same in every process
        ncomp, labels = connected_components(self.adj[hid][:, hid], directed=False)
        self.comp_of[hid] = labels
        # a relation belongs to the component of its hidden cells (all in one component by construction)
        A = self.A
        row_comp = np.maximum.reduceat(self.comp_of[A.indices], A.indptr[:-1]) if A.shape[0] else np.array([])
        col_order = np.argsort(labels, kind="stable")
        col_bounds = np.searchsorted(labels[col_order], np.arange(ncomp + 1))
        rows = np.flatnonzero(row_comp >= 0)
        row_order = rows[np.argsort(row_comp[rows], kind="stable")]
        row_bounds = np.searchsorted(row_comp[row_order], np.arange(ncomp + 1))
        for c in range(ncomp):
            cols = hid[col_order[col_bounds[c]:col_bounds[c + 1]]]
            # the same hidden cells make the same LP (their relations are every relation through them), so a
            # component met in an earlier round keeps what was built for it
            key = cols.tobytes()
            comp = self._known.get(key)
            if comp is None:
                comp = self._known[key] = _Component(self, cols, row_order[row_bounds[c]:row_bounds[c + 1]])
            self.comps.append(comp)

    def targets(self) -> list[int]:
        """The hidden cells, a component at a time (each LP is loaded once a round), each in index order."""
        return [int(t) for comp in self.comps for t in comp.cols.tolist()]

    def extreme(self, t: int, sign: float) -> tuple[float, np.ndarray, np.ndarray]:
        """max of sign * y_t; the full programme's reduced costs (every published cell); the LP's table."""
        comp = self.comps[self.comp_of[t]]
        h = self.h
        if self._loaded is not comp:
            comp.load(h)
            self._loaded, self._cost_at = comp, None
        j = int(comp.pos[t])
        if self._cost_at is not None and self._cost_at != j:
            h.changeColCost(self._cost_at, 0.0)
        h.changeColCost(j, -sign)            # HiGHS minimises: minimise -sign * y_t
        self._cost_at = j
        return comp.solve(h, t, sign)


class _Component:
    """One connected component of hidden cells and the relations through them: the data of its LP."""

    def __init__(self, att: _Attacker, cols: np.ndarray, rows: np.ndarray) -> None:
        self.att, self.cols, self.rows = att, cols, rows
        A = att.A
        lens = np.diff(A.indptr)[rows]
        ent = np.repeat(A.indptr[rows] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        # every cell's coefficient in this component's relations, for the reduced costs of the full programme
        self.rel_row = np.repeat(np.arange(rows.size), lens)
        self.rel_col, self.rel_val = A.indices[ent], A.data[ent].astype(float)
        self.pos = np.full(att.v.size, -1, dtype=np.int64)
        self.pos[cols] = np.arange(cols.size)
        # the LP's rows: the same relations over the component's own cells (A is sorted, so they stay in order)
        on = self.pos[self.rel_col] >= 0
        self.sub_index = self.pos[self.rel_col[on]].astype(np.int32)
        self.sub_value = self.rel_val[on]
        self.sub_start = (np.cumsum(np.bincount(self.rel_row[on], minlength=rows.size)) -
                          np.bincount(self.rel_row[on], minlength=rows.size)).astype(np.int32)
        # Each relation keeps the true table's residual (A v, not 0). For a count of distinct children a
        # child in two categories makes a Total smaller than the sum of its parts; the attacker then knows
        # only inequalities, whose feasible set contains this one, so a width proven here holds there too.
        # With the published cells fixed, what is left for the hidden ones is their own true share.
        self.rhs = np.bincount(self.rel_row[on], weights=self.sub_value * att.v[self.rel_col[on]],
                               minlength=rows.size)

    def load(self, h: highspy.Highs) -> None:
        att, cols = self.att, self.cols
        h.clearModel()
        h.addVars(cols.size, att.lo[cols].astype(float), att.up[cols].astype(float))
        if self.rows.size:
            h.addRows(self.rows.size, self.rhs, self.rhs, self.sub_value.size, self.sub_start, self.sub_index,
                      self.sub_value)

    def solve(self, h: highspy.Highs, t: int, sign: float) -> tuple[float, np.ndarray, np.ndarray]:
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"attacker LP not solved: {h.modelStatusToString(h.getModelStatus())}")
        sol = h.getSolution()
        att = self.att
        # HiGHS' reduced costs are c - A^T y (checked in the tests); over the full programme c is -sign at t
        rc = np.zeros(att.v.size)
        if self.rows.size:
            y = np.asarray(sol.row_dual)
            rc -= np.bincount(self.rel_col, weights=self.rel_val * y[self.rel_row], minlength=att.v.size)
        rc[t] -= sign
        point = att.v.astype(float)
        point[self.cols] = sol.col_value
        # reduced cost < 0: the cell sits at its upper bound and raising it raises the max; > 0: at its lower
        return sign * float(point[t]), rc, point


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
    # How far a hidden cell may move in the attacker's LP: 4 protection widths either way of its true value (and
    # never below what the attacker knows, `lower`). Any bound only narrows what the attacker can reach, so a
    # pattern proven wide enough under it is wide enough without it; small ones keep the cuts' coefficients
    # small (national counts run to hundreds of thousands), which keeps the master problem's relaxation tight.
    upper = v + 4.0 * width
    floor = np.maximum(lower, v - 4.0 * width)
    barred = (v == 0) & (rs.zeros == "show")
    if (prim & barred).any():
        return None
    cost = cell_costs(v, sysm.margin)

    master = _Master(cost, prim, barred)
    master.add(sysm.lines, np.zeros(sysm.lines.shape[0]))
    R = _room_rows(sysm.A, v, lower, width, barred)
    master.add(R, np.zeros(R.shape[0]))
    start = None
    if incumbent is not None:
        start = np.asarray(incumbent).ravel()[sysm.idx] != PUBLISHED
    attacker = _Attacker(sysm, v, floor, upper)
    points = _Points(v)
    for _ in range(MAX_ROUNDS):
        x = master.solve(start)
        if x is None:
            return None                     # node budget spent (or no pattern at all): keep the hypercube
        attacker.set_pattern(x)
        # Every LP solution is a table the attacker cannot rule out, and it stays one under any later pattern
        # that keeps its changed cells hidden: the range each cell takes across such tables is a sound lower
        # bound on its width, which spares most cells their own two LPs.
        seen_lo, seen_hi = points.range_under(x)
        cuts = []
        for t in attacker.targets():
            if seen_hi[t] - seen_lo[t] >= width - _TOL:
                continue
            hi, g_hi, y = attacker.extreme(t, 1.0)
            points.add(y)
            np.minimum(seen_lo, y, out=seen_lo)
            np.maximum(seen_hi, y, out=seen_hi)
            if hi - seen_lo[t] >= width - _TOL:
                continue                            # both ends are tables the attacker cannot rule out
            if seen_lo[t] <= floor[t] + _TOL:
                # t already reaches its floor: min y_t = floor_t under this pattern and never less under any
                # other, so it needs no LP, and the bound width(x) <= max y_t(x) - floor_t needs only the
                # maximum's supergradient (a tighter cut than one through a degenerate minimum's duals)
                got = hi - floor[t]
                g = _gradient(g_hi, v, floor, upper)
            else:
                lo_neg, g_lo, y = attacker.extreme(t, -1.0)
                points.add(y)
                np.minimum(seen_lo, y, out=seen_lo)
                np.maximum(seen_hi, y, out=seen_hi)
                got = hi + lo_neg                   # max y_t - min y_t
                if got >= width - _TOL:
                    continue
                gh = _gradient(g_hi, v, floor, upper)
                g = gh + _gradient(g_lo, v, floor, upper)
                if hi - floor[t] < width - _TOL:
                    row = gh.copy()
                    row[t] -= width
                    row[np.abs(row) <= 1e-9] = 0.0
                    cuts.append((row, float(gh @ x) - (hi - floor[t])))
            # width(x) <= got + g.(x - x*) must reach `width` whenever t is hidden:
            #   g.x - width * x_t >= g.x* - got
            row = g.copy()
            row[t] -= width
            row[np.abs(row) <= 1e-9] = 0.0
            cuts.append((row, float(g @ x) - got))
        if not cuts:
            if start is not None and float(cost @ x) >= float(cost @ start):
                return None                 # no cheaper than the pattern the caller already has
            out = np.asarray(status).copy().ravel()
            out[sysm.idx[x & ~prim]] = SECONDARY
            return out.reshape(shape)
        master.add(np.array([r for r, _ in cuts]), np.array([b for _, b in cuts]) - 1e-7)
    return None


class _Master:
    """The master problem over the cells it may choose: primary cells (always hidden) and true zeros that must be
    shown are constants, moved to the right-hand side, and rows they already satisfy are left out (what HiGHS'
    presolve would do again on every round). The feasible patterns are exactly those of the full problem."""

    def __init__(self, cost: np.ndarray, prim: np.ndarray, barred: np.ndarray) -> None:
        self.free = ~prim & ~barred
        self.fixed = prim.astype(float)            # the value of each cell the master may not choose
        self.infeasible = False
        nf = int(self.free.sum())
        h = self.h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("mip_max_nodes", MAX_NODES)
        h.setOptionValue("mip_rel_gap", MIP_GAP)
        # the hypercube pattern is given as a start, so the feasibility-jump heuristic rarely finds anything
        # better, and it costs about a third of each solve
        h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
        h.addVars(nf, np.zeros(nf), np.ones(nf))
        cols = np.arange(nf, dtype=np.int32)
        h.changeColsCost(nf, cols, cost[self.free].astype(float))
        h.changeColsIntegrality(nf, cols, np.array([highspy.HighsVarType.kInteger] * nf))

    def add(self, M: np.ndarray | sparse.csr_matrix, lo: np.ndarray) -> None:
        """Rows M x >= lo over every cell."""
        if M.shape[0] == 0:
            return
        # kept sparse: the line rows of a 6,000-cell cube number tens of thousands (dense, gigabytes)
        M = sparse.csr_matrix(M, dtype=float)
        lo = lo - M @ self.fixed
        Mf = M[:, np.flatnonzero(self.free)].tocsr()
        least = np.asarray(Mf.minimum(0.0).sum(axis=1)).ravel()
        most = np.asarray(Mf.maximum(0.0).sum(axis=1)).ravel()
        if (most < lo - 1e-9).any():
            self.infeasible = True                 # no choice of the free cells meets this row
        keep = least < lo - 1e-9                   # the others hold for every choice
        if keep.any():
            Mf, lo = Mf[np.flatnonzero(keep)].tocsr(), lo[keep]
            Mf.eliminate_zeros()
            Mf.sort_indices()
            self.h.addRows(Mf.shape[0], lo, np.full(Mf.shape[0], highspy.kHighsInf), Mf.nnz,
                           Mf.indptr[:-1].astype(np.int32), Mf.indices.astype(np.int32), Mf.data.astype(float))

    def solve(self, start: np.ndarray | None) -> np.ndarray | None:
        """The least-cost pattern (hidden = True) meeting every row so far, or None."""
        if self.infeasible:
            return None
        x = self.fixed > 0.5
        if not self.free.any():
            return x                               # nothing to choose (every row was checked in `add`)
        h = self.h
        if start is not None:
            h.setSolution(_solution(start[self.free].astype(float)))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x[self.free] = np.asarray(h.getSolution().col_value) > 0.5
        return x


class _Points:
    """The tables the attacker's LPs returned, each with the cells where it differs from the true table."""

    def __init__(self, v: np.ndarray) -> None:
        self.v = v
        self.P = np.empty((64, v.size))
        self.moved = np.empty((64, v.size), dtype=bool)
        self.n = 0

    def add(self, y: np.ndarray) -> None:
        if self.n == self.P.shape[0]:
            self.P = np.concatenate([self.P, np.empty_like(self.P)])
            self.moved = np.concatenate([self.moved, np.empty_like(self.moved)])
        self.P[self.n] = y
        self.moved[self.n] = np.abs(y - self.v) >= 1e-6
        self.n += 1

    def range_under(self, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's least and greatest value over the tables still possible when `hidden` is hidden: those
        that moved hidden cells only (published cells at their true values)."""
        lo, hi = self.v.copy(), self.v.copy()
        if self.n:
            ok = ~(self.moved[:self.n] & ~hidden).any(axis=1)
            if ok.any():
                np.minimum(lo, self.P[:self.n][ok].min(axis=0), out=lo)
                np.maximum(hi, self.P[:self.n][ok].max(axis=0), out=hi)
        return lo, hi


def _room_rows(A: sparse.csr_matrix, v: np.ndarray, lower: float, width: float,
               barred: np.ndarray) -> sparse.csr_matrix:
    """Each line on its own, as a necessary condition (the attacker of all tables knows at least one line):
    a hidden part c can fall by at most v_c - lower, so it must be able to rise by the rest of the width,
    need_c = width - (v_c - lower); that rise comes from hidden siblings falling (each by at most its own room)
    or from the hidden total rising. Row: sum_d min(room_d, need_c) x_d + need_c x_total - need_c x_c >= 0.
    These rows spare the cut loop most of its rounds on singletons and small sums."""
    if A.shape[0] == 0:
        return sparse.csr_matrix((0, v.size))
    line = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))          # the line of each entry of A
    kid = A.data < 0
    one_total = np.bincount(line[~kid], minlength=A.shape[0]) == 1
    room = v[A.indices] - lower
    need = width - room
    # the entries that get a row: a part (not a barred zero) of a line with one total, with too little room
    needy = np.flatnonzero(kid & one_total[line] & (need > _TOL) & ~barred[A.indices])
    if needy.size == 0:
        return sparse.csr_matrix((0, v.size))
    # each row spans every entry of its line: the total at need, the needy part at -need, each other part (never
    # a barred one) at min(its room, need)
    size = np.diff(A.indptr)[line[needy]]
    row = np.repeat(np.arange(needy.size), size)
    first = np.repeat(np.cumsum(size) - size, size)
    ent = np.repeat(A.indptr[line[needy]], size) + np.arange(row.size) - first
    nd = need[needy][row]
    coef = np.where(~kid[ent], nd, np.minimum(room[ent], nd) * ~barred[A.indices[ent]])
    coef = np.where(ent == needy[row], -nd, coef)
    keep = coef != 0
    return sparse.csr_matrix((coef[keep], (row[keep], A.indices[ent[keep]])), shape=(needy.size, v.size))


def _gradient(rc: np.ndarray, v: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    # how far hiding each cell moves its bounds, times how much the attacker's extreme gains per unit of bound:
    # raising the upper bound from v to `upper` (reduced cost < 0), lowering the lower one from v to `lower` (> 0)
    return np.where(rc < 0, -rc * (upper - v), rc * (v - lower))


def _solution(x: np.ndarray) -> highspy.HighsSolution:
    sol = highspy.HighsSolution()
    sol.col_value = x.tolist()
    sol.value_valid = True
    return sol
