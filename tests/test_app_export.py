"""Downloads exactly as shown and safe in a spreadsheet; slicing a protected cube for one filter choice."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from dashboard.app import cube, export
from dashboard.policy import Hidden, Principal, ProtectedResult, ResultColumn

pytestmark = pytest.mark.app

NASTY = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "plain", "a=b"]


def test_csv_escapes_formula_triggers_but_not_numbers():
    data = export.to_csv(["Name", "Value"], [[t, -5] for t in NASTY])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["Name", "Value"]
    got = [r[0] for r in rows[1:]]
    assert got == ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1+2", "'-2+3", "'@SUM(A1)", "'\tTAB", "'\rCR", "plain",
                   "a=b"]
    assert all(r[1] == "-5" for r in rows[1:])      # a negative number is a number, not text to escape


def test_excel_holds_text_not_formulas(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_bytes(export.to_xlsx(["Name", "Count"], [[t, 7] for t in NASTY] + [["c", "c"]], sheet="A/B:C",
                                    notes=["=1+1 note"]))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws.title == "ABC"
    names = [ws.cell(row=r, column=1) for r in range(2, 2 + len(NASTY))]
    assert all(c.data_type == "s" for c in names)   # stored as text: no cell is a formula
    assert names[0].value == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert ws.cell(row=2, column=2).value == 7 and ws.cell(row=2, column=2).data_type == "n"
    assert ws.cell(row=2 + len(NASTY), column=2).value == "c"   # a suppressed cell keeps its symbol
    assert ws.cell(row=len(NASTY) + 4, column=1).value == "'=1+1 note"


def _cube() -> ProtectedResult:
    # team x sex cube with margins, as a measure returns it; T02's count of 3 is hidden (primary), and so is one
    # other cell in each of its row and column (secondary), so nothing can be worked out by subtraction.
    cols = [ResultColumn("team", "dimension", "Team"), ResultColumn("sex", "dimension", "Sex"),
            ResultColumn("children", "count", "Children")]
    rows = [["T01", "Female", 6], ["T01", "Male", 8], ["T01", "Total", 14],
            ["T02", "Female", "c"], ["T02", "Male", "c"], ["T02", "Total", "c"],
            ["Total", "Female", 8], ["Total", "Male", 9], ["Total", "Total", 17]]
    hidden = {(3, "children"): Hidden("dfe", "primary", "fewer than 6"),
              (4, "children"): Hidden("dfe", "secondary", "protects another cell"),
              (5, "children"): Hidden("dfe", "primary", "fewer than 6")}
    return ProtectedResult("q", "Q", "count of children", Principal("u", "service_manager"), "aggregate", "dfe",
                           "c", cols, rows, hidden)


def test_filter_is_a_slice_of_the_protected_cube():
    res = _cube()
    assert cube.cell(res, cube.total_row(res, {}), "children").display == 17
    assert cube.cell(res, cube.total_row(res, {"team": "T01"}), "children").number == 14
    t02 = cube.cell(res, cube.total_row(res, {"team": "T02"}), "children")
    assert t02.hidden and t02.number is None and t02.display == "c"
    assert cube.total_row(res, {"team": "T03"}) is None            # not in the cube: no row, never a zero


def test_series_along_a_dimension_keeps_hidden_cells_hidden():
    res = _cube()
    got = [(k, c.display, c.hidden) for k, c in cube.series(res, {"team": "T02"}, "sex", "children")]
    assert got == [("Female", "c", True), ("Male", "c", True)]
    got = [(k, c.number) for k, c in cube.series(res, {}, "team", "children", order=["T02", "T01"])]
    assert got == [("T02", None), ("T01", 14)]


def test_table_shows_symbols_with_reasons():
    header, rows, reasons = cube.table(_cube(), {}, "team", ["children"])
    assert header == ["Team", "Children"]
    assert rows == [["T01", 14], ["T02", "c"]]
    assert reasons == {(1, 1): "fewer than 6"}


def test_disproportionality_ratio_is_hidden_when_its_rate_is():
    cols = [ResultColumn("sex", "dimension", "Sex"), ResultColumn("rate", "rate", "Rate")]
    rows = [["Female", 40.0], ["Male", "c"], ["Total", 50.0]]
    res = ProtectedResult("r", "R", "rate", Principal("u", "service_manager"), "aggregate", "dfe", "c", cols, rows,
                          {(1, "rate"): Hidden("dfe", "derived", "numerator hidden")})
    header, out, reasons = cube.ratios(res, {}, ["sex"], ["rate"])
    assert out == [["Sex", "Female", 0.8], ["Sex", "Male", "c"]]   # 40 / 50 = 0.8
    assert reasons == {(1, 2): "numerator hidden"}
