"""Record rules shared by the loaders: one record per key, the latest return winning."""

from __future__ import annotations

import polars as pl

from dashboard.warehouse.dq import DQ


def latest_wins(df: pl.DataFrame, keys: list[str], record: str, dq: DQ, compare: list[str] | None = None,
                key_label: str | None = None) -> pl.DataFrame:
    """Keep one row per key: the latest return (_year), then the later file (_order), then the later row.

    Rule duplicate: another row with the same key in the same return year -> superseded, reported.
    Rule revised: an earlier year's row whose non-blank value in a compared column differs from the winner's
    -> superseded, reported. An identical re-submission in an earlier year is superseded silently (that is how returns work).
    """
    if df.height == 0:
        return df
    df = df.sort([*keys, "_year", "_order", "_row"], nulls_last=True)
    # sorted, so each key's rows are together and its winner is the last of them: a row is a winner when the
    # next row has another key (a blank key equals a blank key, as a group-by would have it)
    nxt_differs = pl.int_range(pl.len()) == pl.len() - 1  # the last row (its next key is no key)
    for k in keys:
        nxt_differs = nxt_differs | pl.col(k).ne_missing(pl.col(k).shift(-1))
    last = df.select(nxt_differs.alias("_last"))["_last"]
    if last.all():
        return df
    # each loser's winner is the first winner after it (no group-by and hash join back on large returns)
    lost = ~last
    winner_at = last.to_frame().select(
        pl.when(pl.col("_last")).then(pl.int_range(pl.len(), dtype=pl.UInt32)).backward_fill()).to_series()
    winner_at = winner_at.filter(lost)
    compare = [c for c in (compare or []) if c in df.columns]
    winners = df.select(pl.col("_year").alias("_wyear"), pl.col("_file").alias("_wfile"),
                        pl.col("_row").alias("_wrow"), *[pl.col(c).alias(f"_w_{c}") for c in compare])[winner_at]
    losers = pl.concat([df.filter(lost), winners], how="horizontal")
    differs = pl.lit(False)
    for c in compare:
        # a blank later filled in (DEC, closure date) is how returns progress, not a revision
        differs = differs | (pl.col(c).is_not_null() & pl.col(c).ne_missing(pl.col(f"_w_{c}")))
    same_year = pl.col("_year").eq_missing(pl.col("_wyear"))
    label = key_label or "+".join(keys)
    key_txt = pl.concat_str([pl.col(k).cast(pl.Utf8).fill_null("") for k in keys], separator="+")
    dq.add_frame(losers.filter(same_year).select(
        pl.col("_file").alias("file"), pl.col("_row").alias("row_number"), pl.lit(record).alias("record"),
        pl.lit(label).alias("field"), pl.lit("duplicate").alias("rule"), key_txt.alias("value"),
        pl.lit("superseded").alias("action"),
        pl.format("duplicate {} {}: the later record ({} row {}) was kept", pl.lit(label), key_txt,
                  pl.col("_wfile"), pl.col("_wrow")).alias("message")))
    dq.add_frame(losers.filter(~same_year & differs).select(
        pl.col("_file").alias("file"), pl.col("_row").alias("row_number"), pl.lit(record).alias("record"),
        pl.lit(label).alias("field"), pl.lit("revised").alias("rule"), key_txt.alias("value"),
        pl.lit("superseded").alias("action"),
        pl.format("{} {} was revised by the {} return ({} row {}); the later version was kept", pl.lit(label),
                  key_txt, pl.col("_wyear"), pl.col("_wfile"), pl.col("_wrow")).alias("message")))
    return df.filter(last)


def orphans(df: pl.DataFrame, known: pl.Series, record: str, child_col: str, src_field: str, dq: DQ,
            what: str) -> None:
    """Rule orphan: a record for a child the parent record does not know. Kept, and reported."""
    bad = df.filter(~pl.col(child_col).is_in(known.implode()))
    dq.add_frame(bad.select(
        pl.col("_file").alias("file"), pl.col("_row").alias("row_number"), pl.lit(record).alias("record"),
        pl.lit(src_field).alias("field"), pl.lit("orphan").alias("rule"), pl.col(child_col).alias("value"),
        pl.lit("kept").alias("action"),
        pl.format("{} {} has no {}; kept, the child's characteristics are unknown", pl.lit(src_field),
                  pl.col(child_col), pl.lit(what)).alias("message")))
