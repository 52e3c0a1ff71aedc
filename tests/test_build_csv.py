"""sources.read_csv row numbering and ragged rows, on the usual export (no quotes, no blank lines: the lines are
counted on the bytes) and on files with blank or white-space lines (the general path): the same rules either way.
"""

from __future__ import annotations

from pathlib import Path

from dashboard.warehouse.dq import DQ
from dashboard.warehouse.sources import TABLES_903, read_csv, read_source

HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n"   # 7 fields


def _read(tmp_path: Path, text: str):
    path = tmp_path / "header.csv"
    path.write_bytes(text.encode("utf-8"))
    dq = DQ()
    sf = read_source(path, dq)
    df = read_csv(sf, TABLES_903["header"], "header", dq, upper=True)
    notes = dq.frame().select("row_number", "field", "rule", "value").rows()
    return df, notes, sf.rows


def test_plain_file_rows_numbered_from_one_and_ragged_rows_named(tmp_path):
    # line 2 = row 1 (A, complete); row 2 (B) has 2 of 7 fields: short_row, the first missing field is DOB;
    # row 3 (C) has 8 fields: long_row, the extra one dropped
    df, notes, rows = _read(tmp_path, HEADER + "A,1,01/01/2010,WBRI,,,\nB,2\nC,1,,,,,,X\n")
    assert rows == 3
    assert df.select("CHILD", "SEX", "DOB", "ETHNIC", "_row").rows() == [
        ("A", "1", "01/01/2010", "WBRI", 1), ("B", "2", None, None, 2), ("C", "1", None, None, 3)]
    assert df["_file"].to_list() == [str(tmp_path / "header.csv")] * 3
    assert notes == [(2, "DOB", "short_row", "2"), (3, None, "long_row", "8")]


def test_blank_and_white_space_lines_are_skipped_but_keep_their_numbers(tmp_path):
    # line 3 empty, line 4 spaces and a tab, line 5 a non-breaking space (white space too): skipped; B is on
    # line 6 = row 5, and its short row is reported as row 5; no final line break
    df, notes, rows = _read(tmp_path, HEADER + "A,1,,,,,\n\n  \t\n\u00a0\nB,2")
    assert rows == 2
    assert df.select("CHILD", "SEX", "_row").rows() == [("A", "1", 1), ("B", "2", 5)]
    assert notes == [(5, "DOB", "short_row", "2")]


def test_header_alone_has_no_rows(tmp_path):
    for text in (HEADER, HEADER.rstrip("\n")):
        df, notes, rows = _read(tmp_path, text)
        assert (df.height, rows) == (0, 0)
        assert notes == [(None, None, "no_rows", None)]
