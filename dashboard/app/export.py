"""Table downloads (CSV and Excel) exactly as shown on the page, safe to open in a spreadsheet.

A cell that starts with = + - @ tab or carriage return is read by Excel, LibreOffice and Google Sheets as a
formula (CSV injection: `=HYPERLINK(...)`, DDE payloads). Text from the data (names, free text, codes) could carry
one, so such text cells are prefixed with a single quote, which spreadsheets show as text. Numbers are written as
numbers (a negative number is not text and is not escaped).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value to write: text that a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return value if math.isfinite(value) else ""
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """UTF-8 with a byte-order mark so Excel reads accents and symbols correctly."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([safe_cell(h) for h in header])
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str = "Data",
            notes: Sequence[str] = ()) -> bytes:
    """One worksheet: the table as shown, then any notes (definition, source, suppression key) below it."""
    import xlsxwriter

    buf = io.BytesIO()
    # Never let xlsxwriter turn text into formulas, links or numbers: every text cell is stored as text.
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False})
    ws = wb.add_worksheet(_sheet_name(sheet))
    bold = wb.add_format({"bold": True, "bg_color": "#1d4f91", "font_color": "#ffffff"})
    for c, h in enumerate(header):
        ws.write_string(0, c, str(safe_cell(h)), bold)
        ws.set_column(c, c, max(10, min(40, len(str(h)) + 2)))
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row):
            cell = safe_cell(v)
            if isinstance(cell, int | float):
                ws.write_number(r, c, cell)
            else:
                ws.write_string(r, c, cell)
    for k, note in enumerate(notes, start=len(rows) + 2):
        ws.write_string(k, 0, str(safe_cell(note)))
    wb.close()
    return buf.getvalue()


def _sheet_name(name: str) -> str:
    # Excel sheet names: at most 31 characters, none of []:*?/\
    cleaned = "".join(ch for ch in name if ch not in "[]:*?/\\").strip() or "Data"
    return cleaned[:31]
