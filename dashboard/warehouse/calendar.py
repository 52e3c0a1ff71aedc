"""England and Wales bank holidays for working-day measures (assessment and ICPC timeliness).

The `holidays` library's GB calendar for England (subdivision ENG; Wales has the same bank holidays) includes
substitute days ("Boxing Day (observed)") and one-off days (jubilees, coronation, state funeral). The
working_days macro (macros.sql) counts only holidays that fall on a weekday, so a holiday on a Saturday and
its Monday substitute are not subtracted twice.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import holidays
import polars as pl

#: the span of dates the returns can hold: old 903 episodes start in the 1990s; plans run years ahead
FIRST_YEAR, LAST_YEAR = 1990, 2040


def england_holidays() -> holidays.HolidayBase:
    """The library's GB calendar, subdivision ENG, FIRST_YEAR to LAST_YEAR.

    Why not plain `holidays.country_holidays("GB", ...)`: its first call imports every country the library
    knows (about 280 modules, 0.17-0.35 CPU-s, most of a small build's fixed cost). The library's registry
    says which of its modules holds GB; that one module is loaded on its own, and the same class computes the
    same days. Anything unexpected (a library that moved things) falls back to country_holidays."""
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    try:
        from holidays.registry import COUNTRIES

        module, (cls, *_codes) = next((m, names) for m, names in COUNTRIES.items() if "GB" in names)
        path = Path(holidays.__file__).parent / "countries" / f"{module}.py"
        spec = importlib.util.spec_from_file_location(f"holidays.countries.{module}", path)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, cls)(subdiv="ENG", years=years)
    except Exception:
        return holidays.country_holidays("GB", subdiv="ENG", years=years)


def load_bank_holidays(con: duckdb.DuckDBPyConnection) -> None:
    cal = england_holidays()
    rows = sorted((d, name) for d, name in cal.items())
    frame = pl.DataFrame(rows, schema=[("holiday_date", pl.Date), ("name", pl.Utf8)], orient="row")
    # one bulk insert: executemany runs a statement per row and cost seconds per build
    con.register("_bank_holidays", frame)
    try:
        con.execute("INSERT INTO bank_holiday SELECT * FROM _bank_holidays")
    finally:
        con.unregister("_bank_holidays")
