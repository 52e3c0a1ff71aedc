"""Small-number protection of count tables: primary suppression, rounding, secondary suppression.

A table is a dense numpy array with one axis per dimension. Each axis carries its additive relations
(parent index, child indices): for a flat dimension with a 'Total' margin at index 0 that is one relation
(0, [1..n]); a hierarchy (locality > team) adds one relation per group. Every line of the array along an axis
satisfies every relation of that axis, which is exactly what `GROUP BY CUBE` produces.

Secondary suppression is a fast greedy pass (vectorised per axis and relation) followed, when asked, by a repair
loop driven by the LP audit (dashboard/policy/lp_audit.py). The greedy pass closes the known traps:
  * a line with exactly one hidden cell (recoverable by subtraction);
  * singletons and small sums: the hidden cells of a line whose margin is published must leave each hidden cell a
    range of at least `protection_width` (an attacker knows hidden cells are >= 1 when zeros are shown);
  * zeros: a true zero is never chosen as a secondary cell (a cycle of hidden zeros can only move one way).
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


def _lines(arr: np.ndarray, axis: int, idx: Sequence[int]) -> np.ndarray:
    sub = np.take(arr, list(idx), axis=axis)
    return np.moveaxis(sub, axis, -1).reshape(-1, len(idx))


def greedy_secondary(values: np.ndarray, status: np.ndarray, relations: Sequence[Sequence[Relation]],
                     rs: RuleSet, max_rounds: int = 200) -> np.ndarray:
    """Add secondary suppressions until every relation line passes the local checks. Returns the new status."""
    status = status.copy()
    lo = hidden_lower_bound(rs)
    width = rs.protection_width
    grid = np.arange(values.size).reshape(values.shape)
    vflat = values.astype(float)
    for _ in range(max_rounds):
        changed = False
        for axis, rels in enumerate(relations):
            for parent, children in rels:
                idx = [parent, *children]
                V = _lines(vflat, axis, idx)
                H = _lines(status, axis, idx) != PUBLISHED
                G = _lines(grid, axis, idx)
                cnt = H.sum(1)
                parent_pub = ~H[:, 0]
                known_sum = V[:, 0] - np.where(H[:, 1:], 0.0, V[:, 1:]).sum(1)
                need = (cnt == 1) | (parent_pub & (cnt >= 2) & (known_sum - cnt * lo < width))
                if not need.any():
                    continue
                cost = np.where(H, np.inf, V)
                if rs.zeros == "show":
                    cost = np.where(V == 0, np.inf, cost)
                # prefer inner cells over the margin: hiding a margin ripples into every other dimension
                cost[:, 0] += 1e9
                rows = np.flatnonzero(need)
                pick = np.argmin(cost[rows], axis=1)
                ok = np.isfinite(cost[rows, pick])
                if ok.any():
                    status.flat[G[rows[ok], pick[ok]]] = SECONDARY
                    changed = True
        if not changed:
            break
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


def _repair_candidate(cell: int, values: np.ndarray, status: np.ndarray,
                      relations: Sequence[Sequence[Relation]], zeros_show: bool, max_hops: int = 4) -> int | None:
    """The cheapest published cell to hide next to an exposed one: inner cells before margins, smaller counts
    first, searched on the lines through the cell, then on lines through the hidden cells of those lines."""
    frontier, seen_lines = [cell], set()
    for _ in range(max_hops):
        best = None
        nxt = []
        for c0 in frontier:
            for line in lines_through(c0, values.shape, relations):
                key = tuple(line)
                if key in seen_lines:
                    continue
                seen_lines.add(key)
                for pos, c in enumerate(line):
                    v = values.flat[c]
                    if status.flat[c] != PUBLISHED:
                        nxt.append(c)
                        continue
                    if v == 0 and zeros_show:
                        continue
                    cost = v + (1e9 if pos == 0 else 0)
                    if best is None or cost < best[0]:
                        best = (cost, c)
        if best is not None:
            return best[1]
        frontier = list(dict.fromkeys(nxt))
    return None


class Unprotectable(ValueError):
    """No pattern of hidden cells protects this table; the caller must refuse it."""


def protect(values: np.ndarray, relations: Sequence[Sequence[Relation]], rs: RuleSet,
            max_repairs: int = 200) -> Protected:
    """Primary suppression, rounding and (if the rule-set asks) secondary suppression of one count table.

    After the greedy pass a fast null-space proof (lp_audit.guaranteed_widths: a lower bound on what the LP
    audit would find) checks the pattern; any hidden cell an attacker could narrow below the protection width gets the cheapest nearby cell
    hidden too, and the loop repeats until the audit passes. If it cannot pass, Unprotectable: the caller refuses
    rather than publish a table that leaks.
    """
    from dashboard.policy.lp_audit import audit_table

    values = np.asarray(values)
    status = np.where(primary_mask(values, rs), PRIMARY, PUBLISHED).astype(np.int8)
    if rs.secondary and status.any():
        status = greedy_secondary(values, status, relations, rs)
        for _ in range(max_repairs):
            # the fast proof only (no LP): a cell it cannot clear is treated as exposed, which may hide a cell
            # more than strictly needed but keeps a page-sized cube to milliseconds
            findings = audit_table(values, status, relations, rs, solve=False)
            if not findings:
                break
            picks = set()
            for f in findings:
                # one neighbour per exposed cell per round: rounds stay few on big cubes
                pick = _repair_candidate(f.cell, values, status, relations, rs.zeros == "show")
                if pick is not None:
                    picks.add(pick)
            if not picks:
                raise Unprotectable("no further cell can be hidden to protect this table")
            status.flat[sorted(picks)] = SECONDARY
            status = greedy_secondary(values, status, relations, rs)
        else:
            raise Unprotectable("secondary suppression did not settle")
    published = np.where(status == PUBLISHED, round_published(values, rs), np.nan)
    return Protected(values, published, status)
