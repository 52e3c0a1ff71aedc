"""Data-quality bookkeeping and the column-level cleaning rules shared by every loader.

Each rule has an id (the `rule` column of data_quality, documented in docs/cleaning-rules.md). Column rules
run vectorised over Polars frames of text columns; record rules live in the loaders.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dashboard.warehouse.codes import SEX_MAP, codes

DQ_SCHEMA = {
    "file": pl.Utf8, "row_number": pl.Int64, "record": pl.Utf8, "field": pl.Utf8, "rule": pl.Utf8,
    "value": pl.Utf8, "action": pl.Utf8, "message": pl.Utf8,
}

#: leading characters a spreadsheet treats as a formula (CSV injection); tab and CR are used to smuggle them
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class BuildError(Exception):
    """A file that cannot be read at all: the build stops and the previous warehouse stays as it was."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class DQ:
    """Collects data-quality rows (as small Polars frames, so vectorised rules never loop in Python)."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.rows: list[tuple] = []

    def add(self, file: str, row: int | None, record: str, field: str | None, rule: str, value: object,
            action: str, message: str) -> None:
        self.rows.append((file, row, record, field, rule, None if value is None else str(value), action, message))

    def extend(self, other: DQ) -> None:
        """Take another collector's rows (a file read on a worker thread)."""
        self.rows.extend(other.rows)
        self.frames.extend(other.frames)

    def add_frame(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.frames.append(frame.select(list(DQ_SCHEMA)).cast(DQ_SCHEMA))

    def frame(self) -> pl.DataFrame:
        parts = [pl.DataFrame(self.rows, schema=DQ_SCHEMA, orient="row")] + self.frames
        out = pl.concat(parts, how="vertical")
        return out.unique(maintain_order=True).sort(
            ["file", "row_number", "record", "field", "rule", "value", "action", "message"], nulls_last=True,
            maintain_order=True)


@dataclass(frozen=True)
class Col:
    """How one source column becomes one warehouse column.

    kind: id | text | code | date | int | bool | sex | partial_date
    codeset: code_lookup set a code must belong to (unknown codes are kept and reported)
    required: a row without a usable value is dropped (rule missing_required)
    """

    src: str
    dst: str
    kind: str = "text"
    codeset: str | None = None
    required: bool = False


def _dq(df: pl.DataFrame, mask: pl.Expr, record: str, field: str, rule: str, action: str,
        message: pl.Expr) -> pl.DataFrame:
    return df.filter(mask).select(
        pl.col("_file").alias("file"), pl.col("_row").cast(pl.Int64).alias("row_number"),
        pl.lit(record).alias("record"), pl.lit(field).alias("field"), pl.lit(rule).alias("rule"),
        pl.col(field).alias("value"), pl.lit(action).alias("action"), message.alias("message"))


def parse_date(expr: pl.Expr, formats: tuple[str, ...]) -> pl.Expr:
    parsed = [expr.str.strptime(pl.Date, f, strict=False) for f in formats]
    return pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]


def clean_columns(df: pl.DataFrame, record: str, cols: list[Col], dq: DQ,
                  date_formats: tuple[str, ...] = ("%d/%m/%Y",)) -> pl.DataFrame:
    """Apply the column rules; returns a frame of the dst columns plus the bookkeeping columns (names with _).

    df holds text columns named by Col.src (absent columns are treated as blank). Every check is first counted
    in one pass; only checks that found something build their data-quality rows (speed on large returns).
    """
    # rule blank_is_null: trimmed empty strings are missing values
    present = set(df.columns)
    df = df.with_columns([
        (pl.col(c.src).cast(pl.Utf8).str.strip_chars().replace("", None) if c.src in present
         else pl.lit(None, pl.Utf8)).alias(c.src)
        for c in {c.src: c for c in cols}.values()
    ])
    fmt_text = " or ".join(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "YYYY") for f in date_formats)
    out_exprs: list[pl.Expr] = []
    checks: list[tuple[pl.Expr, str, str, str, pl.Expr]] = []   # mask, field, rule, action, message
    drop_mask = pl.lit(False)
    for c in cols:
        v = pl.col(c.src)
        o = pl.col(f"\x00out{len(out_exprs)}")  # the cleaned value, stored before the checks run
        if c.kind in ("id", "text", "code", "partial_date"):
            # rule formula_prefix: kept as text (exports must neutralise it); reported so a person can look
            checks.append((v.str.contains(r"^[=+\-@\t\r]"), c.src, "formula_prefix", "kept",
                           pl.format("{} starts with a spreadsheet formula character; stored as text", pl.lit(c.src))))
        if c.kind == "code":
            known = sorted(codes(c.codeset)) if c.codeset else None
            # codes are stored in the case their code list uses (returns: upper; local phases: lower)
            lower = bool(known) and all(k == k.lower() for k in known)
            out = v.str.to_lowercase() if lower else v.str.to_uppercase()
            if known is not None:
                checks.append((o.is_not_null() & ~o.is_in(known), c.src, "unknown_code", "kept",
                               pl.format("{} '{}' is not a known {} code", pl.lit(c.src), v, pl.lit(c.codeset))))
        elif c.kind == "sex":
            out = v.str.to_uppercase().replace_strict(SEX_MAP, default=None, return_dtype=pl.Utf8)
            checks.append((v.is_not_null() & o.is_null(), c.src, "unknown_code", "set_null",
                           pl.format("{} '{}' is not a sex code (1/2, M/F/U, 0/9)", pl.lit(c.src), v)))
        elif c.kind == "date":
            out = parse_date(v, date_formats)
            checks.append((v.is_not_null() & o.is_null(), c.src, "bad_date", "dropped" if c.required else "set_null",
                           pl.format("{} '{}' is not a valid {} date", pl.lit(c.src), v, pl.lit(fmt_text))))
        elif c.kind == "int":
            out = v.cast(pl.Int64, strict=False)
            checks.append((v.is_not_null() & o.is_null(), c.src, "bad_number", "dropped" if c.required else "set_null",
                           pl.format("{} '{}' is not a whole number", pl.lit(c.src), v)))
        elif c.kind == "bool":
            out = v.str.to_lowercase().replace_strict(
                {"1": True, "0": False, "true": True, "false": False, "y": True, "n": False},
                default=None, return_dtype=pl.Boolean)
            checks.append((v.is_not_null() & o.is_null(), c.src, "unknown_code", "set_null",
                           pl.format("{} '{}' is not 0/1 or true/false", pl.lit(c.src), v)))
        else:
            out = v
        out_exprs.append(out)
        if c.required:
            checks.append((v.is_null(), c.src, "missing_required", "dropped",
                           pl.format("required field {} is blank; record dropped", pl.lit(c.src))))
            drop_mask = drop_mask | o.is_null()
    keep = [c for c in df.columns if c.startswith("_")]  # bookkeeping: _file, _row, _year, _order, ...
    # each cleaned value is worked out once, beside the source text the checks report; the checks read it back
    df = df.with_columns([o.alias(f"\x00out{k}") for k, o in enumerate(out_exprs)])
    if checks and df.height:
        found = df.select([m.any().alias(f"_c{i}") for i, (m, *_r) in enumerate(checks)]).row(0)
        for hit, (mask, field, rule, action, message) in zip(found, checks, strict=True):
            if hit:
                dq.add_frame(_dq(df, mask, record, field, rule, action, message))
    outs = [pl.col(f"\x00out{k}").alias(c.dst) for k, c in enumerate(cols)]
    return df.filter(~drop_mask).select([*outs, *[pl.col(k) for k in keep]])


def report_end_before_start(df: pl.DataFrame, record: str, start: str, end: str, start_src: str, end_src: str,
                            dq: DQ) -> pl.DataFrame:
    """Rule end_before_start: a record that ends before it starts is dropped (both dates can't be trusted)."""
    bad = pl.col(end).is_not_null() & pl.col(start).is_not_null() & (pl.col(end) < pl.col(start))
    dq.add_frame(df.filter(bad).select(
        pl.col("_file").alias("file"), pl.col("_row").cast(pl.Int64).alias("row_number"), pl.lit(record).alias("record"),
        pl.lit(end_src).alias("field"), pl.lit("end_before_start").alias("rule"),
        pl.col(end).cast(pl.Utf8).alias("value"), pl.lit("dropped").alias("action"),
        pl.format("{} {} is before {} {}; record dropped", pl.lit(end_src), pl.col(end), pl.lit(start_src),
                  pl.col(start)).alias("message")))
    return df.filter(~bad)
