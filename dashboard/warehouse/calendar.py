"""England and Wales bank holidays for working-day measures (assessment and ICPC timeliness)."""

from __future__ import annotations

import duckdb
import holidays

FIRST_YEAR, LAST_YEAR = 2000, 2035


def load_bank_holidays(con: duckdb.DuckDBPyConnection) -> None:
    cal = holidays.country_holidays("GB", subdiv="ENG", years=range(FIRST_YEAR, LAST_YEAR + 1))
    rows = sorted((d, name) for d, name in cal.items())
    con.executemany("INSERT INTO bank_holiday VALUES (?, ?)", rows)
