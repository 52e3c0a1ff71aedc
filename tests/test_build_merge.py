"""merge.latest_wins, the record rule every loader uses: one row per key, the latest return winning.

Small frames worked by hand: which row each key keeps, and the data-quality rows (duplicate, revised) naming
the superseded row and the one kept.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.warehouse.dq import DQ
from dashboard.warehouse.merge import latest_wins

_BOOK = {"_year": pl.Int32, "_order": pl.Int64, "_row": pl.Int64, "_file": pl.Utf8}


def _frame(rows: list[tuple], keys: dict[str, pl.DataType], extra: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={**keys, **_BOOK, **extra}, orient="row")


def test_latest_year_then_later_row_wins_and_losers_are_reported():
    # child A: 2023 (N1) then 2024 (N3)      -> 2024 kept; the 2023 row differs in need: "revised"
    # child B: two 2023 rows (rows 2 and 5)  -> row 5 kept; row 2 is a same-year "duplicate"
    # child C: 2023 need blank, 2024 N4      -> 2024 kept; a blank later filled in is not a revision: silent
    # child D: 2023 and 2024 both N5         -> 2024 kept; an identical re-submission: silent
    df = _frame([
        ("A", 2023, 0, 1, "cin23.xml", "N1"),
        ("B", 2023, 0, 2, "cin23.xml", "N2"),
        ("A", 2024, 1, 1, "cin24.xml", "N3"),
        ("B", 2023, 0, 5, "cin23.xml", "N2"),
        ("C", 2023, 0, 3, "cin23.xml", None),
        ("C", 2024, 1, 2, "cin24.xml", "N4"),
        ("D", 2024, 1, 3, "cin24.xml", "N5"),
        ("D", 2023, 0, 4, "cin23.xml", "N5"),
    ], {"child_id": pl.Utf8}, {"need": pl.Utf8})
    dq = DQ()
    out = latest_wins(df, ["child_id"], "Child", dq, compare=["need"], key_label="LAchildID")
    assert out.select("child_id", "_year", "_row", "need").rows() == [
        ("A", 2024, 1, "N3"), ("B", 2023, 5, "N2"), ("C", 2024, 2, "N4"), ("D", 2024, 3, "N5")]
    assert out.columns == df.columns
    notes = dq.frame().select("file", "row_number", "record", "field", "rule", "value", "action", "message").rows()
    assert notes == [
        ("cin23.xml", 1, "Child", "LAchildID", "revised", "A", "superseded",
         "LAchildID A was revised by the 2024 return (cin24.xml row 1); the later version was kept"),
        ("cin23.xml", 2, "Child", "LAchildID", "duplicate", "B", "superseded",
         "duplicate LAchildID B: the later record (cin23.xml row 5) was kept"),
    ]


def test_blank_key_parts_match_each_other_and_a_last_row_alone_is_kept():
    # sorted by (child_id, start) with blanks last: X 2024-01-01 | X blank (rows 1, 2) | Y blank (row 4).
    # X's two blank-start rows are one key (row 2 wins: same file, later row); Y's row is its key's only row,
    # last in the sorted frame, and is kept. Key text: the parts joined by "+", a blank as "".
    d = dt.date(2024, 1, 1)
    df = _frame([
        ("X", None, 2024, 0, 1, "a.csv"),
        ("Y", None, 2024, 0, 4, "a.csv"),
        ("X", None, 2024, 0, 2, "a.csv"),
        ("X", d, 2024, 0, 3, "a.csv"),
    ], {"child_id": pl.Utf8, "start": pl.Date}, {})
    dq = DQ()
    out = latest_wins(df, ["child_id", "start"], "missing", dq)
    assert out.select("child_id", "start", "_row").rows() == [("X", d, 3), ("X", None, 2), ("Y", None, 4)]
    assert dq.frame().select("row_number", "field", "rule", "value", "message").rows() == [
        (1, "child_id+start", "duplicate", "X+", "duplicate child_id+start X+: the later record (a.csv row 2) was kept")]


def test_later_file_wins_within_a_year_and_unique_keys_pass_through():
    # same child and year in two files: the later file (_order 1) wins even with a lower row number
    df = _frame([("A", 2024, 1, 1, "b.csv"), ("A", 2024, 0, 9, "a.csv"), ("B", 2024, 0, 2, "a.csv")],
                {"child_id": pl.Utf8}, {})
    dq = DQ()
    out = latest_wins(df, ["child_id"], "header", dq)
    assert out.select("child_id", "_file", "_row").rows() == [("A", "b.csv", 1), ("B", "a.csv", 2)]
    assert dq.frame().select("file", "row_number", "rule").rows() == [("a.csv", 9, "duplicate")]
    # every key once: the rows sorted by key, nothing reported
    dq = DQ()
    out = latest_wins(df.filter(pl.col("_row") != 9), ["child_id"], "header", dq)
    assert out["child_id"].to_list() == ["A", "B"] and dq.frame().height == 0
