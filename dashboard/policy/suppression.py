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
"""

from __future__ import annotations

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
        out = self._moves[i] = []
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

    @classmethod
    def build(cls, values: np.ndarray, relations: Sequence[Sequence[Relation]], pub: np.ndarray,
              zeros_show: bool) -> _Swaps | None:
        shape = values.shape
        nd = len(shape)
        roots: list[int | None] = []
        for rels in relations:
            r = axis_roots(rels)
            if len(rels) > 1 or len(r) > 1:
                return None             # hierarchies: the hypercube moves only
            roots.append(next(iter(r)) if r else None)
        if not zeros_show:
            return None
        leaf_axis = [np.array([i != r for i in range(n)]) for n, r in zip(shape, roots, strict=True)]
        leaf = np.ones(shape, dtype=bool)
        for a in range(nd):
            leaf &= leaf_axis[a].reshape([-1 if b == a else 1 for b in range(nd)])
        vflat = values.ravel().astype(float)
        leaves = np.flatnonzero(leaf.ravel() & (vflat > 0))
        if leaves.size < 2:
            return None
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
        keep = pub[agg[0]]                        # the same patterns are published for every record
        return cls(agg[:, keep], leaves, coords, roots, vflat)

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
    """
    status = status.copy()
    shape = values.shape
    nd = len(shape)
    lo = hidden_lower_bound(rs)
    vflat = values.ravel().astype(float)
    slack = vflat - lo
    zeros_show = rs.zeros == "show"
    width = rs.protection_width
    axes_tree = [_Axis(rels) for rels in relations]
    inner = [set(ax.children) for ax in axes_tree]              # margin (parent) indices per axis
    pub = np.ones(values.size, dtype=bool) if view is None else np.asarray(view, dtype=bool).ravel()
    roots = [axis_roots(rels) for rels in relations]
    if view is None:
        # hiding a margin (any axis at a parent) costs more than hiding inner cells
        marg = np.zeros(shape, dtype=bool)
        for a in range(nd):
            if inner[a]:
                marg |= np.isin(np.arange(shape[a]), list(inner[a])).reshape([-1 if b == a else 1 for b in range(nd)])
        marg = marg.ravel().astype(float)
        swaps = None
    else:
        # linked tables: a cell shared by several published tables (fewer than max_dims axes away from Total)
        # costs more than a cell of one table only
        away = _away_count(shape, relations).ravel()
        kmax = int(away[pub].max()) if pub.any() else 0
        marg = np.maximum(kmax - away, 0).astype(float)       # the grand total is shared by every table
        swaps = _Swaps.build(values, relations, pub, zeros_show)
    prim = np.flatnonzero((status.ravel() == PRIMARY) & pub)
    # a cell of a chosen move is protected by that move's segment: it needs no move of its own
    covered = np.zeros(values.size, dtype=bool) if proven is None else proven.ravel().copy()
    # linked tables: cells shared by more tables first (their moves cover many inner cells), then smallest first
    order = np.lexsort((vflat[prim], -marg[prim])) if swaps is not None else np.argsort(vflat[prim],
                                                                                              kind="stable")
    for t in prim[order]:
        if covered[t]:
            continue
        coord = [int(x) for x in np.unravel_index(int(t), shape)]
        axes, cand = [], []
        for a in range(nd):
            moves = axes_tree[a].moves(coord[a])
            if not moves:
                continue

            def cost(u: dict[int, int], a: int = a, coord: list[int] = coord) -> tuple[float, float]:
                total, spill = 0.0, 0.0
                for k in u:
                    if k == coord[a]:
                        continue
                    c2 = coord.copy()
                    c2[a] = k
                    f = int(np.ravel_multi_index(tuple(c2), shape))
                    if not pub[f]:
                        # outside the view: what matters is the 1-way margin this leaf spills into (if the
                        # other axes move through their Totals); a large one is cheap and roomy
                        c3 = [next(iter(roots[b])) if roots[b] else coord[b] for b in range(nd)]
                        c3[a] = k
                        spill -= vflat[int(np.ravel_multi_index(tuple(c3), shape))]
                        continue
                    if status.flat[f] != PUBLISHED:
                        continue
                    if vflat[f] == 0 and zeros_show:
                        return np.inf, 0.0
                    total += vflat[f] + (1e4 if k in inner[a] else 0.0)
                return total, spill

            axes.append(a)
            cand.append(sorted(moves, key=cost))
        if not axes:
            continue        # no relation touches this cell: hiding it is enough
        m = len(axes)
        best, best_cost = None, np.inf
        swapped = False
        levels = sorted({per_axis, 2 * per_axis, max(len(c) for c in cand)})
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
            choice = [c[:2] if swaps is not None and coord[a] in roots[a] and not last else c[:k_axis]
                      for a, c in zip(axes, cand, strict=True)]
            smax = [max(len(u) for u in c) for c in choice]
            # pad every move of an axis to the same support size with coefficient 0 (ignored below)
            idx = [np.array([list(u) + [coord[axes[d]]] * (smax[d] - len(u)) for u in choice[d]]) for d in range(m)]
            coef = [np.array([list(u.values()) + [0] * (smax[d] - len(u)) for u in choice[d]]) for d in range(m)]
            grids = np.meshgrid(*[np.arange(len(c)) for c in choice], indexing="ij")
            combos = np.stack([g.ravel() for g in grids], axis=1)                   # (n_combo, m)
            pos = np.stack(np.meshgrid(*[np.arange(k) for k in smax], indexing="ij"), axis=-1).reshape(-1, m)
            n_combo, n_cell = combos.shape[0], pos.shape[0]
            coords = np.empty((n_combo, n_cell, nd), dtype=np.int64)
            coords[:] = np.array(coord)
            sign = np.ones((n_combo, n_cell), dtype=np.int64)
            for d, a in enumerate(axes):
                coords[:, :, a] = idx[d][combos[:, d]][:, pos[:, d]]
                sign *= coef[d][combos[:, d]][:, pos[:, d]]
            flat = np.ravel_multi_index(tuple(coords[..., a] for a in range(nd)), shape)
            live = (sign != 0) & pub[flat]
            hid = status.ravel()[flat] != PUBLISHED
            val = vflat[flat]
            bad = (live & ~hid & (val == 0) & zeros_show).any(axis=1)
            new_cost = np.where(live & ~hid, val + 1e4 * marg[flat], 0.0).sum(axis=1)
            sl = slack[flat]
            up = np.where(live & (sign < 0), sl, np.inf).min(axis=1)      # room to move +d: the - cells fall
            down = np.where(live & (sign > 0), sl, np.inf).min(axis=1)    # room to move -d: the + cells fall
            ok = ~bad & (up + down >= width - 1e-9)
            if ok.any():
                i = int(np.flatnonzero(ok)[np.argmin(new_cost[ok])])
                best = np.unique(flat[i][live[i]])
                best_cost = float(new_cost[i])
                break
        if swaps is not None and not swapped and best_cost >= 1e4:
            # a swap moves a shared margin of each axis it changes: tried (for speed) only when the product
            # move hides a shared margin too
            alt = swaps.best(t, coord, status, slack, marg, width)
            if alt is not None and (best is None or alt[1] < best_cost):
                best = alt[0]
        if best is None:
            raise Unprotectable("no set of cells can be hidden to protect this table")
        status.flat[best[status.ravel()[best] == PUBLISHED]] = SECONDARY
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


def protect(values: np.ndarray, relations: Sequence[Sequence[Relation]], rs: RuleSet,
            prove_first: bool = False, max_dims: int | None = None) -> Protected:
    """Primary suppression, rounding and (if the rule-set asks) secondary suppression of one count table.

    With `max_dims`, only the cells with at most that many axes away from their Total are published (status
    UNPUBLISHED for the rest): the linked 1-way .. max_dims-way tables, protected together as one system.
    """
    values = np.asarray(values)
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
        status = hypercube_secondary(values, status, relations, rs, proven=proven, view=linked)
    published = np.where(status == PUBLISHED, round_published(values, rs), np.nan)
    return Protected(values, published, status)
