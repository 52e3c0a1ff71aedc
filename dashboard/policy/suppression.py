"""Small-number protection of count tables: primary suppression, rounding, secondary suppression.

A table is a dense numpy array with one axis per dimension. Each axis carries its additive relations
(parent index, child indices): for a flat dimension with a 'Total' margin at index 0 that is one relation
(0, [1..n]); a hierarchy (locality > team) adds one relation per group. Every line of the array along an axis
satisfies every relation of that axis, which is exactly what `GROUP BY CUBE` produces.

Secondary suppression is the hypercube method (see hypercube_secondary): each primary cell gets its own set of
hidden corners that an attacker cannot resolve, which closes the known traps by construction:
  * a line with exactly one hidden cell (every corner has a partner on each of its lines);
  * singletons and small sums (the move must leave at least `protection_width` of room, knowing that hidden
    cells are >= 1 when zeros are shown);
  * zeros (a true zero is never a corner: a hidden zero can only move one way).
Linked tables (protect(..., max_dims=K), what the gate uses): only cells broken down by at most K dimensions are
published (the rest get status UNPUBLISHED); every move is a move of the whole cube restricted to those cells, so
the 1- to K-way tables sharing margins are protected as one system. Record swaps (_Swaps) add moves the product
form cannot express. See docs/privacy-model.md section 4.
The LP audit (dashboard/policy/lp_audit.py) is the independent check the tests run.
Speed: the search tables of each table structure are built once and shared (_Cube, _CellMoves), and protect()
remembers whole answers in a bounded memo; neither changes a pattern (see hypercube_secondary, protect).
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dashboard.policy.model import RuleSet

PUBLISHED, PRIMARY, SECONDARY, UNPUBLISHED = 0, 1, 2, 3

Relation = tuple[int, Sequence[int]]


@dataclass
class Protected:
    values: np.ndarray      # true counts
    published: np.ndarray   # what may be shown (rounded), NaN where hidden
    status: np.ndarray      # PUBLISHED / PRIMARY / SECONDARY per cell


def flat_relations(n_labels: int, has_total: bool = True) -> list[Relation]:
    """One 'Total = sum of the rest' relation for a dimension whose index 0 is its Total."""
    return [(0, list(range(1, n_labels)))] if has_total and n_labels > 1 else []


def hidden_lower_bound(rs: RuleSet) -> int:
    # what an attacker knows about a hidden cell: when true zeros are shown, a hidden cell is at least 1
    return 1 if rs.zeros == "show" else 0


def primary_mask(values: np.ndarray, rs: RuleSet) -> np.ndarray:
    lo, hi = rs.primary_range
    return (values >= lo) & (values <= hi)


def round_published(values: np.ndarray, rs: RuleSet) -> np.ndarray:
    out = values.astype(float)
    if rs.round_to > 1:
        # round half up, never to zero: only a true zero is published as 0
        out = np.floor(out / rs.round_to + 0.5) * rs.round_to
    return out


def axis_roots(relations: Sequence[Relation]) -> set[int]:
    """Indices of an axis that are margins of everything ('Total'): parents that are nobody's child."""
    parents = {int(p) for p, _ in relations}
    children = {int(c) for _, ch in relations for c in ch}
    return parents - children


def published_view(shape: tuple[int, ...], relations: Sequence[Sequence[Relation]],
                   max_dims: int | None) -> np.ndarray:
    """Cells with at most `max_dims` axes away from their Total: the linked tables that may be published.

    Which cells are in the view depends on the table's structure only, never on its values, so leaving the
    others out discloses nothing.
    """
    size = int(np.prod(shape)) if shape else 1
    if max_dims is None or len(shape) <= max_dims:
        return np.ones(shape, dtype=bool) if shape else np.ones(size, dtype=bool)
    return _away_count(shape, relations) <= max_dims


class _Axis:
    """The relations of one axis as a tree (parent -> children), for building elementary moves."""

    def __init__(self, rels: Sequence[Relation]) -> None:
        self.children = {int(p): [int(c) for c in ch] for p, ch in rels}
        self.parent = {c: p for p, ch in self.children.items() for c in ch}
        self._moves: dict[int, list[dict[int, int]]] = {}

    def leaves_under(self, i: int) -> list[int]:
        if i not in self.children:
            return [i]
        return [leaf for c in self.children[i] for leaf in self.leaves_under(c)]

    def down(self, i: int, leaf: int) -> list[int]:
        path = [leaf]
        while path[-1] != i:
            path.append(self.parent[path[-1]])
        return path

    def up(self, i: int) -> list[int]:
        path = []
        while i in self.parent:
            i = self.parent[i]
            path.append(i)
        return path

    def moves(self, i: int) -> list[dict[int, int]]:
        """Small vectors u along this axis with u[i] = 1 that keep every relation true (parent = sum children).

        A: i with its chain up to the root and one chain down to a leaf, all +1 (parent and child move together).
        B: i's chain down to a leaf +1, a sibling's chain down to a leaf -1 (siblings move against each other).
        """
        if i in self._moves:
            return self._moves[i]
        if i not in self.parent and i not in self.children:
            return []
        out: list[dict[int, int]] = []      # filled, then published: the axis is shared between threads
        up = self.up(i)
        for leaf in self.leaves_under(i):
            out.append({k: 1 for k in [*up, *self.down(i, leaf)]})
        if i in self.parent:
            for j in self.children[self.parent[i]]:
                if j == i:
                    continue
                for li in self.leaves_under(i):
                    for lj in self.leaves_under(j):
                        u = {k: 1 for k in self.down(i, li)}
                        u.update({k: -1 for k in self.down(j, lj)})
                        out.append(u)
        self._moves[i] = out
        return out


def _away_count(shape: tuple[int, ...], relations: Sequence[Sequence[Relation]]) -> np.ndarray:
    count = np.zeros(shape, dtype=np.int64)
    for a, n in enumerate(shape):
        roots = axis_roots(relations[a])
        away = np.array([i not in roots for i in range(n)], dtype=np.int64)
        count += away.reshape([n if b == a else 1 for b in range(len(shape))])
    return count


class _Swaps:
    """Record-swap moves for linked tables: the cube of one record minus the cube of another.

    The cube of a single record (the record's cell and every aggregate of it, as GROUP BY CUBE gives) keeps every
    relation true, so the difference of two records' cubes does too. Restricted to the published view, its +
    cells are the published aggregates of record 1 that record 2 does not share and its - cells the reverse; the
    grand total (shared by every record) never moves. This is the move "one child is in group A instead of B",
    which the product moves of the hypercube method cannot express across linked tables (a team of one child
    whose ethnicity group is small would otherwise need the grand total hidden). Only real records (non-zero
    inner cells) are used, so no moving cell is a true zero.
    """

    def __init__(self, agg: np.ndarray, leaves: np.ndarray, coords: np.ndarray, roots: list[int | None],
                 vflat: np.ndarray) -> None:
        self.agg, self.leaves, self.coords, self.roots, self.vflat = agg, leaves, coords, roots, vflat

    @staticmethod
    def frame(shape: tuple[int, ...], relations: Sequence[Sequence[Relation]], pub: np.ndarray) -> dict | None:
        """The structure part (which cells are records, each record's published aggregates): built once per
        table structure, whatever the counts."""
        nd = len(shape)
        roots: list[int | None] = []
        for rels in relations:
            r = axis_roots(rels)
            if len(rels) > 1 or len(r) > 1:
                return None             # hierarchies: the hypercube moves only
            roots.append(next(iter(r)) if r else None)
        leaf_axis = [np.array([i != r for i in range(n)]) for n, r in zip(shape, roots, strict=True)]
        leaf = np.ones(shape, dtype=bool)
        for a in range(nd):
            leaf &= leaf_axis[a].reshape([-1 if b == a else 1 for b in range(nd)])
        leaves = np.flatnonzero(leaf.ravel())
        coords = np.stack(np.unravel_index(leaves, shape), axis=1)            # (n_leaf, nd)
        totalable = [a for a in range(nd) if roots[a] is not None]
        pats = []
        for m in range(1 << len(totalable)):
            mask = np.zeros(nd, dtype=bool)
            for j, a in enumerate(totalable):
                mask[a] = bool(m >> j & 1)
            pats.append(mask)
        pat = np.array(pats)                                                 # (n_pat, nd)
        root_arr = np.array([r if r is not None else 0 for r in roots])
        agg_coords = np.where(pat[None], root_arr[None, None], coords[:, None, :])
        agg = np.ravel_multi_index(tuple(agg_coords[..., a] for a in range(nd)), shape)   # (n_leaf, n_pat)
        return {"leaves": leaves, "coords": coords, "agg": agg, "roots": roots, "pub": pub}

    @classmethod
    def build(cls, frame: dict | None, values: np.ndarray, zeros_show: bool) -> _Swaps | None:
        if frame is None or not zeros_show:
            return None
        vflat = values.ravel().astype(float)
        real = vflat[frame["leaves"]] > 0
        if int(real.sum()) < 2:
            return None
        agg = frame["agg"][real]
        keep = frame["pub"][agg[0]]               # the same patterns are published for every record
        return cls(agg[:, keep], frame["leaves"][real], frame["coords"][real], frame["roots"], vflat)

    def best(self, t: int, coord: list[int], status: np.ndarray, slack: np.ndarray, marg: np.ndarray,
             width: float) -> tuple[np.ndarray, float] | None:
        under = np.ones(self.leaves.size, dtype=bool)
        for a, c in enumerate(coord):
            if c != self.roots[a]:
                under &= self.coords[:, a] == c
        i1, i2 = np.flatnonzero(under), np.flatnonzero(~under)
        if i1.size == 0 or i2.size == 0:
            return None
        g1 = self.agg[i1][:, None, :]
        g2 = self.agg[i2][None, :, :]
        diff = g1 != g2                                                     # (n1, n2, n_pat)
        st = status.ravel()
        down = np.where(diff, slack[g1], np.inf).min(axis=2)               # the + cells (record 1) fall
        up = np.where(diff, slack[g2], np.inf).min(axis=2)                 # the - cells (record 2) fall
        ok = up + down >= width - 1e-9
        if not ok.any():
            return None
        c1 = np.where(diff & (st[g1] == PUBLISHED), self.vflat[g1] + 1e4 * marg[g1], 0.0).sum(2)
        c2 = np.where(diff & (st[g2] == PUBLISHED), self.vflat[g2] + 1e4 * marg[g2], 0.0).sum(2)
        cost = np.where(ok, c1 + c2, np.inf)
        a, b = np.unravel_index(int(np.argmin(cost)), cost.shape)
        d = diff[a, b]
        cells = np.unique(np.concatenate([self.agg[i1[a]][d], self.agg[i2[b]][d]]))
        assert t in cells
        return cells, float(cost[a, b])


def _rel_key(relations: Sequence[Sequence[Relation]]) -> tuple:
    return tuple(tuple((int(p), tuple(int(c) for c in ch)) for p, ch in rels) for rels in relations)


class _Cube:
    """What the hypercube search needs that depends on the table's structure only (shape, relations, view),
    never on its counts: built once and shared by every count column and every later call of the same shape."""

    def __init__(self, shape: tuple[int, ...], relations: Sequence[Sequence[Relation]],
                 view: np.ndarray | None) -> None:
        nd = len(shape)
        self.shape, self.nd = shape, nd
        self.size = int(np.prod(shape)) if shape else 1
        self.strides = [int(np.prod(shape[a + 1:])) for a in range(nd)]
        self.axes = [_Axis(rels) for rels in relations]
        self.inner = [set(ax.children) for ax in self.axes]          # margin (parent) indices per axis
        self.roots = [axis_roots(rels) for rels in relations]
        self.linked = view is not None
        self.pub = np.ones(self.size, dtype=bool) if view is None else np.asarray(view, dtype=bool).ravel()
        if view is None:
            # hiding a margin (any axis at a parent) costs more than hiding inner cells
            marg = np.zeros(shape, dtype=bool)
            for a in range(nd):
                if self.inner[a]:
                    marg |= np.isin(np.arange(shape[a]), list(self.inner[a])).reshape(
                        [-1 if b == a else 1 for b in range(nd)])
            self.marg = marg.ravel().astype(float)
        else:
            # linked tables: a cell shared by several published tables (fewer than max_dims axes away from
            # Total) costs more than a cell of one table only
            away = _away_count(shape, relations).ravel()
            kmax = int(away[self.pub].max()) if self.pub.any() else 0
            self.marg = np.maximum(kmax - away, 0).astype(float)    # the grand total is shared by every table
        self.swap_frame = _Swaps.frame(shape, relations, self.pub) if view is not None else None
        # the view is "at most K axes away from their Total" (what published_view gives): then a product cell
        # can be told to lie outside it from the move positions alone (see _CellMoves)
        self.view_k: int | None = None
        self.away_axis = [np.array([i not in self.roots[a] for i in range(n)]) for a, n in enumerate(shape)]
        if view is not None and self.pub.any():
            away = _away_count(shape, relations).ravel()
            k = int(away[self.pub].max())
            if ((away <= k) == self.pub).all():
                self.view_k = k
        self._entries: dict[tuple[int, ...], _CellMoves | None] = {}
        self._lock = threading.Lock()
        # what newly hiding a cell of an axis' line costs on top of its count: a margin (parent) of that axis
        self.inner_cost = [np.where(np.isin(np.arange(n), list(self.inner[a])), 1e4, 0.0)
                           for a, n in enumerate(shape)]
        self._axis_moves: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}

    def axis_moves(self, a: int, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """_Axis.moves(i) of axis a as arrays (moves x positions): indices (padding repeats i), 1 where the
        coefficient is -1, and which positions are real; None when no relation touches i."""
        key = (a, i)
        if key in self._axis_moves:
            return self._axis_moves[key]
        moves = self.axes[a].moves(i)
        got = None
        if moves:
            w = max(len(u) for u in moves)
            idx = np.array([list(u) + [i] * (w - len(u)) for u in moves], dtype=np.int64)
            neg = np.array([[int(x < 0) for x in u.values()] + [0] * (w - len(u)) for u in moves], dtype=np.int64)
            real = np.array([[True] * len(u) + [False] * (w - len(u)) for u in moves])
            got = (idx, neg, real)
        self._axis_moves[key] = got
        return got

    def cell_moves(self, coord: tuple[int, ...]) -> _CellMoves | None:
        got = self._entries.get(coord, False)
        if got is False:
            got = _CellMoves.build(self, coord)
            with self._lock:
                self._entries[coord] = got
        return got


class _CellMoves:
    """The elementary moves through one cell, every axis stacked into arrays (see _Axis.moves); structure only.

    `line_*` describe the cells of every relation line through the cell (what a move on one axis can touch):
    flat offset from the cell, whether it is the cell itself, the margin surcharge of that axis, and the 1-way
    margin it spills into when it is outside the view. `rows` index the line cells per move (padding repeats the
    cell itself, which costs nothing). A product of one move per axis touches prod(widths) cells; `off_x` and
    `coef_x` give, per move, its part of each such cell's flat offset and sign (a padded position gets an
    offset of `size`, which pushes the product cell past the table: the sentinel that stands for "no cell").
    """

    @classmethod
    def build(cls, cube: _Cube, coord: tuple[int, ...]) -> _CellMoves | None:
        self = cls()
        nd = cube.nd
        # the cell each leaf spills into: every other axis at its Total (when it has one)
        rootc = [min(cube.roots[b]) if cube.roots[b] else coord[b] for b in range(nd)]
        line_off, line_self, line_inner, line_spill, per_axis, axes, bases = [], [], [], [], [], [], []
        base = 0
        for a in range(nd):
            am = cube.axis_moves(a, coord[a])
            if am is None:
                continue
            n, st = cube.shape[a], cube.strides[a]
            ks = np.arange(n)
            line_off.append((ks - coord[a]) * st)
            line_self.append(ks == coord[a])
            line_inner.append(cube.inner_cost[a])
            r3 = sum(rootc[b] * cube.strides[b] for b in range(nd) if b != a)
            line_spill.append(r3 + ks * st)
            per_axis.append(am)
            axes.append(a)
            bases.append(base)
            base += n
        if not axes:
            return None
        m = len(axes)
        self.axes = axes
        self.m = m
        self.at_root = [coord[a] in cube.roots[a] for a in axes]
        widths = [am[0].shape[1] for am in per_axis]
        wmax = max(widths)
        pos = np.indices(widths).reshape(m, -1)                     # (m, n_cell): ij order, as the search expects
        if cube.view_k is not None:
            # positions whose product cell is outside the view whatever the moves (too many axes away from their
            # Total) are never shown, hidden or limiting: leave them out of the search
            least = np.full(pos.shape[1], float(sum(int(cube.away_axis[b][coord[b]]) for b in range(nd)
                                                    if b not in axes)))
            for d, (a, (idx, _neg, real)) in enumerate(zip(axes, per_axis, strict=True)):
                least += np.where(real, cube.away_axis[a][idx], np.inf).min(axis=0)[pos[d]]
            pos = pos[:, least <= cube.view_k]
        # each move's part of every product cell: flat offset and sign packed as offset * 2**shift + (sign < 0),
        # so one sum gives both the cell (>> shift) and the product's sign (the parity of the negative parts);
        # a padded position gets the offset `size`, which pushes the product cell past the table ("no cell")
        self.shift = shift = max(1, m.bit_length())
        rows, pk_x, group, self.bounds = [], [], [], []
        start = 0
        for d, (a, (idx, neg, real)) in enumerate(zip(axes, per_axis, strict=True)):
            c, st, b = coord[a], cube.strides[a], bases[d]
            off = np.where(real, (idx - c) * st, cube.size)
            pk_x.append(((off << shift) + neg)[:, pos[d]])
            r = b + idx                                         # padding repeats the cell itself (costs nothing)
            if r.shape[1] < wmax:
                r = np.concatenate([r, np.full((r.shape[0], wmax - r.shape[1]), b + c)], axis=1)
            rows.append(r)
            group.append(np.full(idx.shape[0], d))
            self.bounds.append((start, start + idx.shape[0]))
            start += idx.shape[0]
        self.rows = np.concatenate(rows)
        self.pk_x = np.concatenate(pk_x)
        self.group = np.concatenate(group)
        self.line_off = np.concatenate(line_off)
        self.line_self = np.concatenate(line_self)
        self.line_inner = np.concatenate(line_inner)
        self.line_spill = np.concatenate(line_spill)
        t = int(np.ravel_multi_index(coord, cube.shape))
        # a leaf outside the view only matters through the 1-way margin it spills into (not its own count)
        self.spill_mask = ~cube.pub[t + self.line_off] & ~self.line_self
        # the line cells as flat indices, the cell itself as "no cell" (it is never newly hidden by its move)
        self.line_cells = np.where(self.line_self, cube.size, t + self.line_off)
        self.ones_w = np.ones(self.rows.shape[1])              # row sums as products: faster than sum(axis=1)
        self.ones_cell = np.ones(self.pk_x.shape[1])
        self.n_moves = max(e - s for s, e in self.bounds)
        # per axis, position j of the ranked moves (clamped to the axis' own count): ranked[layout] is (m, max)
        self.layout = np.array([[s + min(j, e - s - 1) for j in range(self.n_moves)] for s, e in self.bounds])
        return self


_GRIDS: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}


def _grid(ks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of one position per axis, in ij order (as numpy.meshgrid(indexing='ij')), as an
    (m, n_combo) array, with the axis index beside it for fancy indexing."""
    got = _GRIDS.get(ks)
    if got is None:
        got = _GRIDS[ks] = (np.indices(ks).reshape(len(ks), -1), np.arange(len(ks))[:, None])
    return got


_CUBES: OrderedDict[tuple, _Cube] = OrderedDict()
_CUBES_MAX = 32
_CUBES_LOCK = threading.Lock()


def _cube(shape: tuple[int, ...], relations: Sequence[Sequence[Relation]], view: np.ndarray | None) -> _Cube:
    key = (shape, _rel_key(relations), None if view is None else np.asarray(view, dtype=bool).tobytes())
    with _CUBES_LOCK:
        got = _CUBES.get(key)
        if got is not None:
            _CUBES.move_to_end(key)
            return got
    got = _Cube(shape, relations, view)
    with _CUBES_LOCK:
        _CUBES[key] = got
        while len(_CUBES) > _CUBES_MAX:
            _CUBES.popitem(last=False)
    return got


def hypercube_secondary(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]],
                        rs: RuleSet, per_axis: int = 3, proven: np.ndarray | None = None,
                        view: np.ndarray | None = None) -> np.ndarray:
    """Secondary suppression by the hypercube method (as in tau-Argus' GHMITER), generalised to hierarchies.

    For every primary cell choose, on each axis, one elementary move through it (see _Axis.moves); their product
    is a move of the whole cube (+d on some cells, -d on others) that keeps every relation true. With every cell of
    that move hidden, an attacker cannot tell the true table from the table moved by any d in
    [-(smallest slack of the + cells), +(smallest slack of the - cells)], so the cell's feasible interval is at
    least that wide. We pick the cheapest move (fewest newly hidden children, margins avoided) whose width is at
    least the rule-set's protection width; its cells are never true zeros when zeros are shown (a hidden zero can
    only move one way). The same segment protects every cell of the move, so secondary cells are protected too.

    Linked tables: with `view` (the published cells, see published_view) only cells in the view are shown, hidden
    or limit the move; cells outside it are never published, so the attacker has no equation through them.
    Every relation among published cells is a relation of the whole cube, which the move keeps true, so the
    move's restriction to the view is a feasible segment of the attacker's system of ALL published tables at
    once: a margin shared by two tables moves consistently in both (a 1-way margin that moves in the a x b
    table carries its compensating cells in a x c, a x d, ... with it). That is what closes linked tables and
    differencing between page filters, by construction rather than by iterating table by table.

    Speed (the search is the same; only how it is computed): everything that depends on the table's structure
    alone (the moves through each cell as index arrays, the view, margin weights, the record-swap patterns) is
    built once per structure (_Cube) and shared by count columns and calls; each axis' candidate moves are
    costed and ranked in one vector operation, and each product of candidate moves is formed by broadcasting
    the axes' offsets against each other rather than through index grids.
    """
    status = status.copy()
    shape = values.shape
    cube = _cube(shape, relations, view)
    size = cube.size
    lo = hidden_lower_bound(rs)
    vflat = values.ravel().astype(float)
    slack = vflat - lo
    zeros_show = rs.zeros == "show"
    width = rs.protection_width
    pub, marg = cube.pub, cube.marg
    st = status.reshape(-1)                              # a view: updated in place as cells are hidden
    swaps = _Swaps.build(cube.swap_frame, values, zeros_show) if cube.swap_frame is not None else None
    # a published true zero can never be a corner when zeros are shown (a hidden zero can only move one way)
    zero_block = (vflat == 0) & zeros_show
    line_val = np.append(np.where(zero_block, np.inf, vflat), 0.0)
    # Per cell, kept current as cells are hidden, with one more entry (index `size`) for "no cell":
    #   shown: published now (in the view and not hidden): what a move would newly hide;
    #   hide_cost: what newly hiding it costs (inf for a true zero: no move may hide it; 0 if hidden or unseen);
    #   room: how far it can fall (slack) if it is in the view, inf otherwise (it limits no move).
    shown = np.zeros(size + 1, dtype=bool)
    shown[:size] = pub & (st == PUBLISHED)
    hide_cost = np.zeros(size + 1)
    hide_cost[:size] = np.where(shown[:size], np.where(zero_block, np.inf, vflat + 1e4 * marg), 0.0)
    room = np.full(size + 1, np.inf)
    room[:size] = np.where(pub, slack, np.inf)
    in_view = np.append(pub, False)
    prim = np.flatnonzero((st == PRIMARY) & pub)
    # a cell of a chosen move is protected by that move's segment: it needs no move of its own
    covered = np.zeros(values.size, dtype=bool) if proven is None else proven.ravel().copy()
    # linked tables: cells shared by more tables first (their moves cover many inner cells), then smallest first
    order = np.lexsort((vflat[prim], -marg[prim])) if swaps is not None else np.argsort(vflat[prim],
                                                                                              kind="stable")
    prim = prim[order]
    coords = np.stack(np.unravel_index(prim, shape), axis=1).tolist() if prim.size else []
    for t, coord in zip(prim.tolist(), coords, strict=True):
        if covered[t]:
            continue
        cm = cube.cell_moves(tuple(coord))
        if cm is None:
            continue        # no relation touches this cell: hiding it is enough
        # rank each axis' moves by what they newly hide on that axis' line (margins dear, a true zero barred);
        # ties by the 1-way margins that leaves outside the view spill into (a large one is cheap and roomy)
        f = cm.line_cells
        term = np.where(shown[f], line_val[f] + cm.line_inner, 0.0)
        total = term[cm.rows] @ cm.ones_w
        spill = np.where(cm.spill_mask, -vflat[cm.line_spill], 0.0)
        spilled = np.where(total == np.inf, 0.0, spill[cm.rows] @ cm.ones_w)
        ranked = np.lexsort((spilled, total, cm.group))[cm.layout]  # (m, n): per axis, cheapest first (stable)
        m = cm.m
        best, best_cost = None, np.inf
        swapped = False
        levels = sorted({per_axis, 2 * per_axis, cm.n_moves})
        for k_axis in levels:
            last = k_axis == levels[-1] and len(levels) > 1
            if last and swaps is not None:
                # linked tables: before the widest product search (slow), take a record swap if one works
                swapped = True
                alt = swaps.best(t, coord, status, slack, marg, width)
                if alt is not None:
                    best, best_cost = alt
                    break
            # linked tables: on an axis where the cell is at its Total the move's leaf only matters where it
            # spills into another table; two (the roomiest) are tried first, the record swaps cover the rest
            ks = tuple(min(2 if swaps is not None and cm.at_root[d] and not last else k_axis,
                           cm.bounds[d][1] - cm.bounds[d][0]) for d in range(m))
            grid, axis_index = _grid(ks)
            moves = ranked[axis_index, grid]                               # (m, n_combo): one move per axis
            packed = cm.pk_x[moves].sum(axis=0)                            # (n_combo, n_cell)
            cells = np.minimum(t + (packed >> cm.shift), size)            # size: no cell (a padded position)
            new_cost = hide_cost[cells] @ cm.ones_cell                     # inf: it would hide a true zero
            # the cheapest combination wide enough (ties: the first): check widths cheapest first, a few at a time
            by_cost = np.argsort(new_cost, kind="stable")
            for lo_ in range(0, by_cost.size, 16):
                idx = by_cost[lo_:lo_ + 16]
                if new_cost[idx[0]] == np.inf:
                    break                                                  # the rest would hide a true zero
                rm = room[cells[idx]]
                neg = (packed[idx] & 1).astype(bool)                       # the product cell moves by -d
                up = np.where(neg, rm, np.inf).min(axis=1)                 # room to move +d: the - cells fall
                down = np.where(neg, np.inf, rm).min(axis=1)               # room to move -d: the + cells fall
                ok = (up + down >= width - 1e-9) & (new_cost[idx] < np.inf)
                if ok.any():
                    i = int(idx[int(np.argmax(ok))])
                    best = np.sort(cells[i][in_view[cells[i]]])          # distinct cells: one per position
                    best_cost = float(new_cost[i])
                    break
            if best is not None:
                break
        if swaps is not None and not swapped and best_cost >= 1e4:
            # a swap moves a shared margin of each axis it changes: tried (for speed) only when the product
            # move hides a shared margin too
            alt = swaps.best(t, coord, status, slack, marg, width)
            if alt is not None and (best is None or alt[1] < best_cost):
                best = alt[0]
        if best is None:
            raise Unprotectable("no set of cells can be hidden to protect this table")
        st[best[st[best] == PUBLISHED]] = SECONDARY
        shown[best] = False
        hide_cost[best] = 0.0
        covered[best] = True
    return status


def lines_through(cell: int, shape: tuple[int, ...], relations: Sequence[Sequence[Relation]]) -> list[list[int]]:
    """Flat indices of every relation line (parent first) that contains `cell`."""
    coord = list(np.unravel_index(cell, shape))
    out = []
    for axis, rels in enumerate(relations):
        for parent, children in rels:
            members = [parent, *children]
            if coord[axis] in members:
                line = []
                for m in members:
                    c = coord.copy()
                    c[axis] = m
                    line.append(int(np.ravel_multi_index(tuple(c), shape)))
                out.append(line)
    return out


class Unprotectable(ValueError):
    """No pattern of hidden cells protects this table; the caller must refuse it."""


_MEMO: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_MEMO_MAX = 128
_MEMO_LOCK = threading.Lock()


def clear_memo(structures: bool = False) -> None:
    """Forget every remembered protection (benchmarks use it to time the real work); with `structures`, also
    the per-structure search tables (_Cube), as a fresh process would start."""
    with _MEMO_LOCK:
        _MEMO.clear()
    if structures:
        with _CUBES_LOCK:
            _CUBES.clear()
        _GRIDS.clear()
        optimal = sys.modules.get("dashboard.policy.optimal")   # loaded on first use only (HiGHS is heavy)
        if optimal is not None:
            with optimal._SYSTEMS_LOCK:
                optimal._SYSTEMS.clear()


def _memo_key(values: np.ndarray, relations: Sequence[Sequence[Relation]], rs: RuleSet, prove_first: bool,
              max_dims: int | None) -> bytes:
    # Why a digest of everything the answer depends on: protect() is a pure function of the whole table (every
    # count, not only the published ones), its structure and the rule-set, so two asks with the same digest get
    # the same pattern however they were made; nothing about who asked is in the answer, so sharing it between
    # users discloses nothing the second user would not have been shown anyway.
    h = hashlib.blake2b(digest_size=32)
    h.update(repr((values.shape, _rel_key(relations), rs, prove_first, max_dims)).encode())
    h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return h.digest()


def _hides_a_margin(status: np.ndarray, relations: Sequence[Sequence[Relation]]) -> bool:
    """Whether a secondary cell is a margin: fewer axes away from their Total than the innermost published cells."""
    sec = status == SECONDARY
    if not sec.any():
        return False
    away = _away_count(status.shape, relations)
    return bool((away[sec] < away[status != UNPUBLISHED].max()).any())


def protect(values: np.ndarray, relations: Sequence[Sequence[Relation]], rs: RuleSet,
            prove_first: bool = False, max_dims: int | None = None) -> Protected:
    """Primary suppression, rounding and (if the rule-set asks) secondary suppression of one count table.

    With `max_dims`, only the cells with at most that many axes away from their Total are published (status
    UNPUBLISHED for the rest): the linked 1-way .. max_dims-way tables, protected together as one system.
    The answer for the same table, structure and rule-set is remembered (a bounded, thread-safe memo); each
    caller gets its own copy.
    """
    values = np.asarray(values)
    key = _memo_key(values, relations, rs, prove_first, max_dims)
    with _MEMO_LOCK:
        got = _MEMO.get(key)
        if got is not None:
            _MEMO.move_to_end(key)
    if got is not None:
        return Protected(values, got[0].copy(), got[1].copy())
    view = published_view(values.shape, relations, max_dims)
    status = np.where(primary_mask(values, rs), PRIMARY, PUBLISHED).astype(np.int8)
    status[~view] = UNPUBLISHED
    linked = None if view.all() else view           # one table (at most max_dims dimensions): as it always was
    if rs.secondary and (status == PRIMARY).any():
        proven = None
        if prove_first:
            from dashboard.policy.lp_audit import proven_safe

            # cells the hidden pattern already protects (a sound proof, see lp_audit.guaranteed_widths) need no
            # hypercube of their own; hiding more later only widens what the attacker must consider
            proven = proven_safe(values, status, relations, rs)
        first = status
        status = hypercube_secondary(values, status, relations, rs, proven=proven, view=linked)
        if rs.search == "optimal" and _hides_a_margin(status, relations):
            from dashboard.policy.optimal import optimal_secondary

            # the hypercube pattern is safe but greedy; the optimal search starts from it and answers only when
            # it hides less (by its costs): either way the answer is a fixed function of the table. It is
            # run when the greedy pattern hides a margin (a total readers look for), which is where the greed
            # costs them; patterns that hide inner cells only are left as they are (the search would save few
            # cells there, at up to seconds on a national cube)
            better = optimal_secondary(values, first, relations, rs, incumbent=status)
            if better is not None:
                status = better
    published = np.where(status == PUBLISHED, round_published(values, rs), np.nan)
    with _MEMO_LOCK:
        _MEMO[key] = (published.copy(), status.copy())
        while len(_MEMO) > _MEMO_MAX:
            _MEMO.popitem(last=False)
    return Protected(values, published, status)
