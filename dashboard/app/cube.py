"""Slicing a protected whole-cube answer for one filter selection (no Streamlit here, so it is easy to test).

Every aggregate measure answers with its whole cube (`GROUP BY CUBE`, margins labelled 'Total'), and the gate
protects that cube as one table. A filter choice is only a slice of it: the app never asks the warehouse for "all
teams except X", so a user cannot difference two separately protected answers.
"""

from __future__ import annotations

import math
import operator
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

TOTAL = "Total"
# The gate's note on an answer whose cube had more dimensions than the rule-set publishes at once.
_LIMIT_NOTE = re.compile(r"not published at more than (\d+) dimensions? at once")


@dataclass(frozen=True)
class Cell:
    """One cell as the page shows it: the display value (a number or the rule-set's symbol) and, when hidden,
    why. `number` is None for a hidden cell: it must never be drawn as zero."""

    display: Any
    number: float | None
    hidden: bool = False
    why: str = ""
    kind: str = ""


@dataclass
class _Index:
    """Positions of a result's columns and, per set of broken-down dimensions, its rows grouped by the values of
    the other dimensions: a page slices one answer dozens of times, so each slice is a lookup, not a scan."""

    names: list[str]
    position: dict[str, int]
    dims: list[str]
    keys: list[tuple[str, ...]]
    groups: dict[frozenset, dict[tuple[str, ...], list[int]]] = field(default_factory=dict)


_INDEXES: OrderedDict[tuple[int, int], tuple[Any, Any, _Index]] = OrderedDict()
_INDEXES_KEPT = 256
_INDEXES_LOCK = threading.Lock()   # Streamlit runs each session's script in its own thread


def _index(res) -> _Index:
    # keyed on the rows and columns objects themselves: answers the gate serves from its protected-cube store
    # share them (only the asker's identity differs), so the index is built once per cube, not once per request
    key = (id(res.rows), id(res.columns))
    with _INDEXES_LOCK:
        got = _INDEXES.get(key)
        if got is not None and got[0] is res.rows and got[1] is res.columns and len(got[2].keys) == len(res.rows):
            _INDEXES.move_to_end(key)
            return got[2]
    names = [c.name for c in res.columns]
    position = {n: j for j, n in enumerate(names)}
    dims = [c.name for c in res.columns if c.kind == "dimension"]
    keys = [tuple(map(str, _getter([position[d] for d in dims])(row))) for row in res.rows] if len(dims) > 1 \
        else [tuple(str(row[position[d]]) for d in dims) for row in res.rows]
    ix = _Index(names, position, dims, keys)
    with _INDEXES_LOCK:
        _INDEXES[key] = (res.rows, res.columns, ix)   # held, so their ids cannot be reused while they are here
        while len(_INDEXES) > _INDEXES_KEPT:
            _INDEXES.popitem(last=False)
    return ix


def _getter(positions: list[int]):
    """A function taking a sequence to the tuple of its items at `positions` (itemgetter, always a tuple)."""
    if not positions:
        return lambda _seq: ()
    if len(positions) == 1:
        k = positions[0]
        return lambda seq: (seq[k],)
    return operator.itemgetter(*positions)


def column_names(res) -> list[str]:
    return list(_index(res).names)


def dimensions(res) -> list[str]:
    return [c.name for c in res.columns if c.kind == "dimension"]


def label_of(res, name: str) -> str:
    for c in res.columns:
        if c.name == name:
            return getattr(c, "label", "") or name.replace("_", " ").capitalize()
    raise KeyError(name)


def cell(res, row_index: int, column: str) -> Cell:
    j = _index(res).position[column]
    display = res.rows[row_index][j]
    h = res.hidden.get((row_index, column))
    if h is not None:
        return Cell(display=display, number=None, hidden=True, why=getattr(h, "why", "") or "hidden",
                    kind=getattr(h, "kind", ""))
    number = display if isinstance(display, int | float) and not isinstance(display, bool) else None
    if isinstance(number, float) and not math.isfinite(number):
        number = None  # e.g. a percentage of nothing: not applicable, never zero
    return Cell(display=display, number=number)


def max_dimensions(res, policy=None) -> int | None:
    """The most dimensions one published cell may fix or break down (the rule-set's `max_dimensions`), from the
    gate's policy when given, else from the answer's note; None when the answer names no limit."""
    rulesets = getattr(policy, "rulesets", None) or {}
    rs = rulesets.get(getattr(res, "ruleset", None)) if getattr(res, "ruleset", None) else None
    if rs is not None and isinstance(getattr(rs, "max_dimensions", None), int):
        return rs.max_dimensions
    for note in getattr(res, "notes", None) or ():
        m = _LIMIT_NOTE.search(str(note))
        if m:
            return int(m.group(1))
    return None


def used_dimensions(res, fixed: dict[str, Any], by: str | tuple[str, ...] | None = None) -> list[str]:
    """The dimensions a view of this measure fixes (a filter other than 'All') or breaks down, in cube order."""
    by_set = {by} if isinstance(by, str) else set(by or ())
    chosen = {d for d, v in fixed.items() if v not in (None, "", TOTAL)} | by_set
    return [d for d in dimensions(res) if d in chosen]


def too_detailed(res, fixed: dict[str, Any], by: str | tuple[str, ...] | None, limit: int | None) -> bool:
    """True when the view needs cells broken down by more dimensions than the gate publishes: those rows are
    not in the answer at all, so the view must say so rather than draw an empty chart or a zero."""
    return limit is not None and len(used_dimensions(res, fixed, by)) > limit


def rows_where(res, fixed: dict[str, Any], by: str | tuple[str, ...] | None = None) -> list[int]:
    """Row indices of the slice: each dimension in `by` varies (its 'Total' margin left out), every other
    dimension is fixed to the value in `fixed`, or to its 'Total' margin when not filtered."""
    ix = _index(res)
    by_set = frozenset({by} if isinstance(by, str) else set(by or ()))
    unknown = by_set - set(ix.dims)
    if unknown:
        raise KeyError(f"this measure has no dimension {sorted(unknown)[0]!r}")
    rest = [k for k, d in enumerate(ix.dims) if d not in by_set]
    groups = ix.groups.get(by_set)
    if groups is None:
        varying = [k for k, d in enumerate(ix.dims) if d in by_set]
        part = _getter(rest)
        groups = {}
        for i, key in enumerate(ix.keys):
            if all(key[k] != TOTAL for k in varying):
                groups.setdefault(part(key), []).append(i)
        ix.groups[by_set] = groups
    want = tuple(str(fixed.get(ix.dims[k], TOTAL)) if fixed.get(ix.dims[k]) not in (None, "") else TOTAL
                 for k in rest)
    return list(groups.get(want, ()))


def total_row(res, fixed: dict[str, Any]) -> int | None:
    rows = rows_where(res, fixed)
    return rows[0] if rows else None


def series(res, fixed: dict[str, Any], by: str, column: str, order: list[str] | None = None) -> list[tuple[str, Cell]]:
    """(category, cell) pairs of one column along one dimension, in `order` when given (else as answered)."""
    names = column_names(res)
    j = names.index(by)
    pairs = [(str(res.rows[i][j]), cell(res, i, column)) for i in rows_where(res, fixed, by)]
    if order:
        rank = {v: k for k, v in enumerate(order)}
        pairs.sort(key=lambda p: (rank.get(p[0], len(rank)), p[0]))
    return pairs


def applicable_filters(res, filters: dict[str, Any]) -> dict[str, Any]:
    """The filter choices that this measure can honour (those naming one of its dimensions)."""
    dims = set(dimensions(res))
    return {k: v for k, v in filters.items() if k in dims and v not in (None, "", TOTAL)}


def table(res, fixed: dict[str, Any], by: str | None = None, columns: list[str] | None = None):
    """Header labels, display rows and (row, column) -> reason for the hidden cells of a slice."""
    names = column_names(res)
    show_dims = [by] if by else []
    shown = show_dims + [c for c in (columns or [c.name for c in res.columns if c.kind != "dimension"])]
    header = [label_of(res, c) for c in shown]
    idx = rows_where(res, fixed, by) if by else ([total_row(res, fixed)] if total_row(res, fixed) is not None else [])
    out_rows, reasons = [], {}
    for r, i in enumerate(idx):
        out_rows.append([res.rows[i][names.index(c)] for c in shown])
        for c in shown:
            h = res.hidden.get((i, c))
            if h is not None:
                reasons[(r, shown.index(c))] = getattr(h, "why", "") or "hidden"
    return header, out_rows, reasons


def ratios(res, fixed: dict[str, Any], dims: list[str], columns: list[str]):
    """Disproportionality: each group's rate divided by the rate for all children at the same filter.

    Computed only from cells the gate published; a ratio whose group rate or overall rate is hidden is hidden
    too (shown with the rule-set's symbol), because it would otherwise give the hidden rate back."""
    symbol = getattr(res, "symbol", None) or "c"
    header = ["Characteristic", "Group"] + [f"{label_of(res, c)} (ratio)" for c in columns]
    rows, reasons = [], {}
    own_dims = set(dimensions(res))
    base_fixed = {k: v for k, v in fixed.items() if k in own_dims and k not in dims}
    overall_i = total_row(res, base_fixed)
    for d in dims:
        if d not in own_dims:
            continue
        for i in rows_where(res, base_fixed, d):
            group = str(res.rows[i][column_names(res).index(d)])
            row: list[Any] = [label_of(res, d), group]
            for c in columns:
                g, o = cell(res, i, c), (cell(res, overall_i, c) if overall_i is not None else None)
                if g.hidden or o is None or o.hidden:
                    reasons[(len(rows), len(row))] = g.why if g.hidden else "the overall rate is hidden"
                    row.append(symbol)
                elif g.number is None or not o.number:
                    row.append("")
                else:
                    row.append(round(g.number / o.number, 2))
            rows.append(row)
    return header, rows, reasons


def flows(res, fixed: dict[str, Any]):
    """Sankey links (source, target, cell) at the filter; margins ('Total') left out."""
    names = column_names(res)
    si, ti = names.index("source"), names.index("target")
    count = next(c.name for c in res.columns if c.kind == "count")
    out = []
    for i in rows_where(res, fixed, ("source", "target")):
        out.append((str(res.rows[i][si]), str(res.rows[i][ti]), cell(res, i, count)))
    return out
