"""Output checking: what may leave the workbench, as a trusted research environment checks it.

A result leaves only as an aggregate table: grouped counts (integer, non-negative, count-like columns beside
grouping columns whose values identify each row, or a single row of counts). Every count cell is checked
against the role's small-number rule-set with the policy engine's own primary suppression and rounding
(``dashboard.policy.suppression``); a hidden cell keeps its row and shows the rule-set's symbol, and a rate or
mean in a row with a hidden count is hidden too (it would give the count back). Row-level results never leave:
they stay on screen, inside the workbench.

What this check does not do, said in the note on every export: secondary suppression. A table whose margins
(totals) are exported beside a single hidden cell lets the cell be worked out by subtraction, so the note tells
the analyst to take the table through the reports' output checking before publishing it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from dashboard.workbench.sandbox import WorkbenchError

#: integer column names that are grouping keys, not counts (years, ages, codes, ids)
_DIMENSION_NAME = re.compile(
    r"(^|_)(year|yr|age|month|quarter|week|day|date|band|code|id|urn|period|rank|order|level|stage|group)s?($|_)",
    re.IGNORECASE,
)
#: names that are counts whatever else they look like
_COUNT_NAME = re.compile(r"(^|_)(n|count|counts|num|number|total|children|cases|freq|frequency)($|_)", re.IGNORECASE)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class CheckedExport:
    """The table that may leave, as text cells (a hidden cell shows the rule-set's symbol), and its note."""

    columns: list[str]
    rows: list[list[Any]]
    count_columns: list[str]
    suppressed: int
    ruleset: str
    note: str
    hidden: list[tuple[int, str]] = field(default_factory=list)

    def to_csv(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow([_safe(c) for c in self.columns])
        for row in self.rows:
            w.writerow([_safe(v) for v in row])
        w.writerow([])
        w.writerow([_safe("Note: " + self.note)])
        return ("\ufeff" + buf.getvalue()).encode("utf-8")

    def to_json(self) -> str:
        return json.dumps({"columns": self.columns, "rows": self.rows, "note": self.note,
                           "ruleset": self.ruleset, "suppressed": self.suppressed}, default=str)


def _safe(value: Any) -> Any:
    # A cell starting with = + - @ is run as a formula by spreadsheets (CSV injection); numbers are left alone.
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _whole(dtype) -> bool:
    # sum() of integers is a HUGEINT, which arrives as Decimal(38, 0): a whole number like count()
    return dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0)


def count_columns(frame: pl.DataFrame) -> list[str]:
    """Integer, never negative, and not named like a grouping key (or named like a count)."""
    out = []
    for name, dtype in frame.schema.items():
        if not _whole(dtype):
            continue
        col = frame[name].drop_nulls()
        if len(col) and col.min() < 0:
            continue
        if _DIMENSION_NAME.search(name) and not _COUNT_NAME.search(name):
            continue
        out.append(name)
    return out


def is_aggregate(frame: pl.DataFrame) -> tuple[bool, list[str], list[str]]:
    """(looks like an aggregate table, its count columns, its grouping columns)."""
    counts = count_columns(frame)
    if not counts:
        return False, [], []
    measures = [c for c, t in frame.schema.items() if c not in counts and t.is_numeric() and not _whole(t)]
    groups = [c for c in frame.columns if c not in counts and c not in measures]
    if not groups:
        return frame.height <= 1, counts, groups
    unique = frame.select(groups).unique().height == frame.height
    return unique, counts, groups


def check_output(frame: pl.DataFrame, ruleset, *, truncated: bool = False) -> CheckedExport:
    """Apply the rule-set's primary suppression (the policy engine's) to an aggregate result; refuse the rest.

    ``ruleset`` is a dashboard.policy RuleSet (name, suppress_min/max, symbol, zeros, round_to, ...).
    """
    from dashboard.policy.suppression import primary_mask, round_published

    if ruleset is None:
        raise WorkbenchError("no small-number rule-set applies to your role and purpose, so nothing can be exported")
    if truncated:
        raise WorkbenchError("this result is longer than the workbench shows; narrow or aggregate it before export")
    aggregate, counts, groups = is_aggregate(frame)
    if not aggregate:
        raise WorkbenchError(
            "only aggregate tables leave the workbench (grouped counts: GROUP BY with count(...) columns, one row "
            "per group); row-level results stay on screen")
    hidden_rows = np.zeros(frame.height, dtype=bool)
    shown: dict[str, list[Any]] = {}
    hidden: list[tuple[int, str]] = []
    for name in counts:
        values = frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        mask = primary_mask(values, ruleset)
        published = round_published(values, ruleset)
        hidden_rows |= mask
        col: list[Any] = []
        for i, v in enumerate(values):
            if mask[i]:
                col.append(ruleset.symbol)
                hidden.append((i, name))
            elif np.isnan(v):
                col.append(None)
            else:
                col.append(int(published[i]))
        shown[name] = col
    for name, dtype in frame.schema.items():
        if name in shown:
            continue
        values = frame[name].to_list()
        if dtype.is_numeric() and name not in groups:
            # a rate or mean beside a hidden count gives the count back: hide it with the count
            values = [ruleset.symbol if hidden_rows[i] else v for i, v in enumerate(values)]
            hidden.extend((i, name) for i in range(frame.height) if hidden_rows[i])
        elif dtype.is_temporal():
            values = [None if v is None else str(v) for v in values]
        shown[name] = values
    columns = list(frame.columns)
    rows = [[shown[c][i] for c in columns] for i in range(frame.height)]
    n_primary = sum(1 for _, c in hidden if c in counts)
    lo, hi = ruleset.primary_range
    rounding = f"; other counts rounded to the nearest {ruleset.round_to}" if ruleset.round_to > 1 else ""
    note = (
        f"Output checked against the {ruleset.name} rule-set: counts from {lo} to {hi} are shown as "
        f"'{ruleset.symbol}' ({n_primary} cell(s) in {', '.join(counts)}){rounding}. Rates beside a hidden count "
        "are hidden too. Secondary suppression has not been applied: if this table has totals, take it through "
        "the reports' output checking before publishing it."
    )
    return CheckedExport(columns=columns, rows=rows, count_columns=counts, suppressed=n_primary,
                         ruleset=ruleset.name, note=note, hidden=hidden)
