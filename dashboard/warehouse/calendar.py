"""England and Wales bank holidays for working-day measures (assessment and ICPC timeliness).

The `holidays` library's GB calendar for England (subdivision ENG; Wales has the same bank holidays) includes
substitute days ("Boxing Day (observed)") and one-off days (jubilees, coronation, state funeral). The
working_days macro (macros.sql) counts only holidays that fall on a weekday, so a holiday on a Saturday and
its Monday substitute are not subtracted twice.
"""

from __future__ import annotations

import duckdb
import holidays
import polars as pl

#: the span of dates the returns can hold: old 903 episodes start in the 1990s; plans run years ahead
FIRST_YEAR, LAST_YEAR = 1990, 2040


def load_bank_holidays(con: duckdb.DuckDBPyConnection) -> None:
    cal = holidays.country_holidays("GB", subdiv="ENG", years=range(FIRST_YEAR, LAST_YEAR + 1))
    rows = sorted((d, name) for d, name in cal.items())
    frame = pl.DataFrame(rows, schema=[("holiday_date", pl.Date), ("name", pl.Utf8)], orient="row")
    # one bulk insert: executemany runs a statement per row and cost seconds per build
    con.register("_bank_holidays", frame)
    try:
        con.execute("INSERT INTO bank_holiday SELECT * FROM _bank_holidays")
    finally:
        con.unregister("_bank_holidays")
