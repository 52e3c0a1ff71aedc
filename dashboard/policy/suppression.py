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
The LP audit (dashboard/policy/lp_audit.py) is the independent check the tests run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dashboard.policy.model import RuleSet

PUBLISHED, PRIMARY, SECONDARY = 0, 1, 2

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


class _Axis:
    """The relations of one axis as a tree (parent -> children), for building elementary moves."""

    def __init__(self, rels: Sequence[Relation]) -> None:
        self.children = {int(p): [int(c) for c in ch] for p, ch in rels}
        self.parent = {c: p for p, ch in self.children.items() for c in ch}

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
        if i not in self.parent and i not in self.children:
            return []
        out = []
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


def hypercube_secondary(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]],
                        rs: RuleSet, per_axis: int = 3, proven: np.ndarray | None = None) -> np.ndarray:
    """Secondary suppression by the hypercube method (as in tau-Argus' GHMITER), generalised to hierarchies.

    For every primary cell choose, on each axis, one elementary move through it (see _Axis.moves); their product
    is a move of the whole cube (+d on some cells, -d on others) that keeps every relation true. With every cell of
    that move hidden, an attacker cannot tell the true table from the table moved by any d in
    [-(smallest slack of the + cells), +(smallest slack of the - cells)], so the cell's feasible interval is at
    least that wide. We pick the cheapest move (fewest newly hidden children, margins avoided) whose width is at
    least the rule-set's protection width; its cells are never true zeros when zeros are shown (a hidden zero can
    only move one way). The same segment protects every cell of the move, so secondary cells are protected too.
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
    prim = np.flatnonzero(status.ravel() == PRIMARY)
    # a cell of a chosen move is protected by that move's segment: it needs no move of its own
    covered = np.zeros(values.size, dtype=bool) if proven is None else proven.ravel().copy()
    for t in prim[np.argsort(vflat[prim], kind="stable")]:
        if covered[t]:
            continue
        coord = [int(x) for x in np.unravel_index(int(t), shape)]
        axes, cand = [], []
        for a in range(nd):
            moves = axes_tree[a].moves(coord[a])
            if not moves:
                continue

            def cost(u: dict[int, int], a: int = a, coord: list[int] = coord) -> float:
                total = 0.0
                for k in u:
                    if k == coord[a]:
                        continue
                    c2 = coord.copy()
                    c2[a] = k
                    f = int(np.ravel_multi_index(tuple(c2), shape))
                    if status.flat[f] != PUBLISHED:
                        continue
                    if vflat[f] == 0 and zeros_show:
                        return np.inf
                    total += vflat[f] + (1e4 if k in inner[a] else 0.0)
                return total

            axes.append(a)
            cand.append(sorted(moves, key=cost))
        if not axes:
            continue        # no relation touches this cell: hiding it is enough
        m = len(axes)
        best = None
        for k_axis in sorted({per_axis, 2 * per_axis, max(len(c) for c in cand)}):
            choice = [c[:k_axis] for c in cand]
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
            live = sign != 0
            hid = status.ravel()[flat] != PUBLISHED
            val = vflat[flat]
            bad = (live & ~hid & (val == 0) & zeros_show).any(axis=1)
            margin = np.zeros(flat.shape, dtype=bool)
            for a in range(nd):
                if inner[a]:
                    margin |= np.isin(coords[..., a], list(inner[a]))
            new_cost = np.where(live & ~hid, val + np.where(margin, 1e4, 0.0), 0.0).sum(axis=1)
            sl = slack[flat]
            up = np.where(live & (sign < 0), sl, np.inf).min(axis=1)      # room to move +d: the - cells fall
            down = np.where(live & (sign > 0), sl, np.inf).min(axis=1)    # room to move -d: the + cells fall
            ok = ~bad & (up + down >= width - 1e-9)
            if ok.any():
                i = int(np.flatnonzero(ok)[np.argmin(new_cost[ok])])
                best = np.unique(flat[i][live[i]])
                break
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
            prove_first: bool = False) -> Protected:
    """Primary suppression, rounding and (if the rule-set asks) secondary suppression of one count table."""
    values = np.asarray(values)
    status = np.where(primary_mask(values, rs), PRIMARY, PUBLISHED).astype(np.int8)
    if rs.secondary and status.any():
        proven = None
        if prove_first:
            from dashboard.policy.lp_audit import proven_safe

            # cells the hidden pattern already protects (a sound proof, see lp_audit.guaranteed_widths) need no
            # hypercube of their own; hiding more later only widens what the attacker must consider
            proven = proven_safe(values, status, relations, rs)
        status = hypercube_secondary(values, status, relations, rs, proven=proven)
    published = np.where(status == PUBLISHED, round_published(values, rs), np.nan)
    return Protected(values, published, status)
