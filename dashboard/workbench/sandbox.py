"""The analyst's sandbox: a locked DuckDB instance that holds nothing but one principal's planning mart.

DuckDB has no users, no GRANT and no privilege boundary, so the boundary here is what the instance *contains*
and what its locked configuration lets it reach:

* the mart is a private database file on a RAM file system, deleted as soon as it is written and held only by
  a file descriptor of this process (dashboard/workbench/image.py); each session opens its OWN instance of it
  READ-ONLY under the locked configuration. The engine itself therefore refuses CREATE / DROP / INSERT / UPDATE
  on the mart, and no warehouse file is ever attached, so neither ``duckdb_databases()`` nor
  ``duckdb_settings()`` can show its path;
* ``enable_external_access=false`` refuses every file read or write (read_csv, COPY, EXPORT, ATTACH, glob,
  a quoted path as a table), ``python_enable_replacements=false`` stops scans of Python variables, extension
  autoload/autoinstall and community extensions are off, and ``lock_configuration=true`` refuses SET, RESET and
  PRAGMA that would undo any of it;
* ``threads=1``, ``memory_limit`` and ``max_temp_directory_size=0B`` (no spilling to disk) bound the resources a
  statement can take; a timer interrupts a statement that runs past the time limit.

The parser check (:func:`Sandbox.check`) comes first only to give a friendly reason; every refusal it gives is
also enforced by the engine when the check is switched off (``precheck=False``; the tests run both ways).
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import polars as pl
import pyarrow as pa

from dashboard.workbench.image import MART_CATALOG, MartImage, MartImageError


@dataclass(frozen=True)
class Limits:
    """What one statement may take. Row cap is for display; the true row count is always reported."""

    time_limit_s: float = 30.0
    row_cap: int = 5000
    memory_limit: str = "512MB"


def locked_config(limits: Limits) -> dict[str, object]:
    # Checked against DuckDB 2.0 (docs/stack.md): with these, file access, ATTACH, COPY, INSTALL/LOAD, replacement
    # scans and every SET are refused by the engine. temp_directory '' plus max_temp_directory_size 0B: nothing
    # is ever spilled to disk, so a big query fails with an out-of-memory error instead of writing files.
    return {
        "enable_external_access": False,
        "python_enable_replacements": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "allow_persistent_secrets": False,
        "threads": 1,
        "memory_limit": limits.memory_limit,
        "max_temp_directory_size": "0B",
        "temp_directory": "",
        "lock_configuration": True,
    }


class WorkbenchError(Exception):
    """A statement that did not produce a result. ``outcome`` is "refused" (the rules said no) or "error"
    (the SQL itself failed: a typo, an unknown column, the time or memory limit)."""

    def __init__(self, reason: str, outcome: str = "refused", *, tables: tuple[str, ...] = ()):
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
        self.tables = tables


@dataclass
class Outcome:
    """What one statement gave: at most ``row_cap`` rows to show, and the true row count."""

    sql: str
    frame: pl.DataFrame
    row_count: int
    truncated: bool
    tables: tuple[str, ...]
    columns: tuple[str, ...]
    #: where ``columns`` comes from: "explain" (the engine's own plan: the columns each table scan reads),
    #: or "unknown" when no plan could be made (the statement was not a single SELECT)
    columns_source: str
    elapsed_s: float = 0.0
    statement_type: str = "SELECT"


@dataclass(frozen=True)
class Checked:
    statement_type: str
    tables: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------------------------- the parser check

_TYPE_REASONS = {
    "SET": "settings are fixed in the workbench (SET, RESET and USE are not available)",
    "VARIABLE_SET": "settings are fixed in the workbench (SET VARIABLE is not available)",
    "PRAGMA": "PRAGMA reads or changes settings and is not available here; the schema browser lists the tables "
              "and columns of your mart",
    "COPY": "COPY reads or writes files; nothing leaves the workbench except through Export, which checks the "
            "output first",
    "COPY_DATABASE": "COPY reads or writes files; nothing leaves the workbench except through Export, which "
                     "checks the output first",
    "EXPORT": "EXPORT DATABASE writes files; nothing leaves the workbench except through Export, which checks "
              "the output first",
    "ATTACH": "the workbench holds only your planning mart; other databases cannot be attached",
    "DETACH": "the workbench holds only your planning mart; databases cannot be attached or detached",
    "LOAD": "extensions cannot be installed or loaded in the workbench",
    "CREATE": "the mart is read-only: only SELECT runs here (use WITH ... AS (...) for intermediate results)",
    "DROP": "the mart is read-only: only SELECT runs here",
    "INSERT": "the mart is read-only: only SELECT runs here",
    "UPDATE": "the mart is read-only: only SELECT runs here",
    "DELETE": "the mart is read-only: only SELECT runs here",
    "ALTER": "the mart is read-only: only SELECT runs here",
    "MULTI": "this statement expands to several statements (e.g. PIVOT without IN): only a single SELECT runs here",
}

#: table functions that compute rows without touching anything outside the instance
_SAFE_TABLE_FUNCTIONS = {"range", "generate_series", "unnest", "json_each", "json_tree", "repeat", "repeat_row"}
_SAFE_TABLE_FUNCTION_PREFIXES = ("duckdb_", "pragma_")
#: table functions that read files (refused with their own message); anything else not in the safe set is
#: refused too (fail closed: a table function we do not know might reach outside)
_FILE_FUNCTION = re.compile(
    r"^(read_\w+|glob|\w+_scan|parquet_\w+|sniff_csv|iceberg_\w+|delta_\w+|sqlite_\w+|postgres_\w+|mysql_\w+"
    r"|csv_\w+|json_scan|load_\w+)$"
)
_PATHLIKE = re.compile(r"[/\\~]|\.[A-Za-z0-9]{1,8}$|^[a-z]+://")
_META_SCHEMAS = {"information_schema", "pg_catalog"}


def _walk(node, found: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            found.append(str(node["function"].get("function_name", "")).lower())
        for v in node.values():
            _walk(v, found)
    elif isinstance(node, list):
        for v in node:
            _walk(v, found)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --------------------------------------------------------------------------------------------- the sandbox


class Sandbox:
    """One analyst session's locked DuckDB instance. One statement at a time; close() when done."""

    def __init__(
        self,
        tables: Mapping[str, pl.DataFrame] | MartImage,
        limits: Limits | None = None,
        *,
        precheck: bool = True,
    ):
        self.limits = limits or Limits()
        self.precheck = precheck
        self._lock = threading.Lock()
        self._timed_out = threading.Event()
        if isinstance(tables, MartImage):
            image = tables      # the gate's shared image of this mart: opening an instance over it is quick
            columns = image.columns
        else:
            # frames given directly (tests, benchmarks): written into an image of their own, for this session only
            # (a table the policy left with no column to show is not created: a table needs a column)
            tables = {name: frame for name, frame in tables.items() if frame.width > 0}
            columns = {name: tuple(frame.columns) for name, frame in tables.items()}
            image = None
        for name in columns:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise WorkbenchError(f"mart table name {name!r} is not a plain lower-case identifier", "error")
        self._columns: dict[str, tuple[str, ...]] = dict(columns)
        try:
            if image is None:
                own = MartImage.write(tables)
                try:
                    self._con = own.open_locked(locked_config(self.limits))
                finally:
                    own.release()   # this session's instance keeps its own descriptor; nothing else needs it
            else:
                self._con = image.open_locked(locked_config(self.limits))
        except MartImageError as e:
            raise WorkbenchError(f"the workbench could not be opened: {e}", "error") from None
        # closes the instance when the session object goes away, or at exit for sessions still open then
        self._finalizer = weakref.finalize(self, self._con.close)

    # ----------------------------------------------------------------------------------- what the mart holds
    @property
    def tables(self) -> dict[str, tuple[str, ...]]:
        """Mart table -> its columns (as loaded)."""
        return dict(self._columns)

    def column_types(self) -> dict[tuple[str, str], str]:
        """(table, column) -> DuckDB type, read on its own cursor (never disturbs a running statement)."""
        cur = self._con.cursor()
        try:
            rows = cur.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ?",
                [MART_CATALOG]).fetchall()
        finally:
            cur.close()
        return {(t, c): d for t, c, d in rows}

    # ----------------------------------------------------------------------------------- the friendly check
    def check(self, sql: str) -> Checked:
        """Refuse, with a reason, anything but one SELECT over the mart. Not the boundary (the engine is)."""
        if not sql or not sql.strip():
            raise WorkbenchError("no SQL to run", "refused")
        con = self._con
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise WorkbenchError(f"DuckDB could not parse this SQL: {_first_line(e)}", "error") from None
        if len(statements) != 1:
            raise WorkbenchError(
                f"one statement at a time: this SQL holds {len(statements)} statements; run them one by one"
            )
        stype = statements[0].type.name
        if stype != "SELECT":
            raise WorkbenchError(_TYPE_REASONS.get(
                stype, f"only a single SELECT (or WITH ... SELECT) runs here; this is a {stype} statement"))
        functions = self._table_functions(sql)
        for fn in functions:
            if _FILE_FUNCTION.match(fn):
                raise WorkbenchError(
                    f"{fn}() reads files: the workbench has no file access; everything you may use is in your "
                    "mart (see the schema browser)")
            if fn in ("query", "query_table"):
                raise WorkbenchError(f"{fn}() runs SQL given as a string: write the query itself instead")
            if fn not in _SAFE_TABLE_FUNCTIONS and not fn.startswith(_SAFE_TABLE_FUNCTION_PREFIXES):
                raise WorkbenchError(f"table function {fn}() is not available in the workbench")
        tables = self._referenced_tables(sql)
        return Checked(stype, tables)

    def _table_functions(self, sql: str) -> list[str]:
        try:
            raw = self._con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
            tree = json.loads(raw)
        except (duckdb.Error, ValueError, IndexError):
            return []
        if tree.get("error"):
            return []
        found: list[str] = []
        _walk(tree.get("statements", []), found)
        return found

    def _referenced_tables(self, sql: str) -> tuple[str, ...]:
        try:
            names = self._con.get_table_names(sql, qualified=True)
        except duckdb.PermissionException:
            raise WorkbenchError("this SQL reads files: the workbench has no file access") from None
        except duckdb.Error:
            return ()  # the engine will report the problem when the statement runs
        out = []
        for qualified in sorted(names):
            # DuckDB 2.0 gives "child AS c" for an aliased table: the alias is not part of the name
            qualified = _strip_alias(qualified)
            parts = [p.strip('"') for p in _split_qualified(qualified)]
            name = parts[-1]
            prefix = [p.lower() for p in parts[:-1]]
            if any(p in _META_SCHEMAS for p in prefix):
                continue
            if _PATHLIKE.search(name) and name.lower() not in self._columns:
                raise WorkbenchError(
                    f"'{name}' looks like a file path: the workbench has no file access; use the tables of your "
                    "mart (see the schema browser)")
            if name.lower() not in self._columns or any(p not in (MART_CATALOG, "main") for p in prefix):
                known = ", ".join(sorted(self._columns)) or "none"
                raise WorkbenchError(f"no table {'.'.join(parts)!r} in your mart; its tables are: {known}")
            out.append(name.lower())
        return tuple(dict.fromkeys(out))

    def parser_tables(self, sql: str) -> tuple[str, ...]:
        """Tables DuckDB's parser says the SQL names (CTE names excluded), without judging them."""
        cur = self._con.cursor()  # its own cursor: safe while another statement runs on the session
        try:
            names = cur.get_table_names(sql, qualified=True)
        except duckdb.Error:
            return ()
        finally:
            cur.close()
        out = []
        for qualified in sorted(names):
            name = _split_qualified(_strip_alias(qualified))[-1].strip('"')
            out.append(name.lower() if name.lower() in self._columns else name)
        return tuple(dict.fromkeys(out))

    # ----------------------------------------------------------------------------------- lineage for the audit
    def columns_read(self, sql: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(tables, table.column pairs) the engine's plan reads, from EXPLAIN (FORMAT JSON); None if no plan.

        Projections are the columns each scan produces; a column used only in a filter pushed into the scan is
        not among them, so the scan's Filters text is matched against that table's column names too.
        """
        try:
            stmts = self._con.extract_statements(sql)
        except duckdb.Error:
            return None
        if len(stmts) != 1 or stmts[0].type.name != "SELECT":
            return None  # never EXPLAIN anything else: it would not be a plan of a query
        try:
            rows = self._con.execute("EXPLAIN (FORMAT JSON) " + stmts[0].query).fetchall()
            plan = json.loads(rows[0][1])
        except (duckdb.Error, ValueError, IndexError):
            return None
        tables: list[str] = []
        columns: list[str] = []

        def visit(node) -> None:
            if isinstance(node, list):
                for n in node:
                    visit(n)
                return
            if not isinstance(node, dict):
                return
            info = node.get("extra_info") or {}
            if isinstance(info, dict) and "Table" in info:
                table = str(info["Table"]).split(".")[-1]
                tables.append(table)
                proj = info.get("Projections") or []
                proj = [proj] if isinstance(proj, str) else list(proj)
                filters = info.get("Filters") or ""
                filters = " ".join(filters) if isinstance(filters, list) else str(filters)
                known = self._columns.get(table, ())
                for c in proj:
                    if c in known:
                        columns.append(f"{table}.{c}")
                for c in known:
                    if re.search(rf'(?<![\w"]){re.escape(c)}(?![\w"])|"{re.escape(c)}"', filters):
                        columns.append(f"{table}.{c}")
            visit(node.get("children") or [])

        visit(plan)
        return tuple(dict.fromkeys(tables)), tuple(sorted(set(columns)))

    # ----------------------------------------------------------------------------------- running
    def run(self, sql: str) -> Outcome:
        """Check (unless switched off), run with the time limit, keep at most row_cap rows, count them all."""
        if not self._lock.acquire(blocking=False):
            raise WorkbenchError("one statement at a time: wait for the running statement to finish")
        try:
            return self._run_locked(sql)
        finally:
            self._lock.release()

    def _run_locked(self, sql: str) -> Outcome:
        checked = self.check(sql) if self.precheck else None
        try:
            n_statements = len(self._con.extract_statements(sql))
        except duckdb.Error as e:
            raise WorkbenchError(f"DuckDB could not parse this SQL: {_first_line(e)}", "error") from None
        if n_statements != 1:
            # Not a friendliness check: the runner itself only ever executes one statement per call, so a
            # second statement cannot ride along after a first, whatever the pre-check says.
            raise WorkbenchError(f"one statement at a time: this SQL holds {n_statements} statements")
        lineage = self.columns_read(sql)
        # tables for the audit: those the parser names (even if the optimiser never scans them) and those the
        # plan scans
        tables = tuple(dict.fromkeys((*self.parser_tables(sql), *(lineage[0] if lineage else ()))))
        columns = lineage[1] if lineage else ()
        source = "explain" if lineage else "unknown"
        stype = checked.statement_type if checked else "UNCHECKED"
        cap = self.limits.row_cap
        self._timed_out.clear()
        timer = threading.Timer(self.limits.time_limit_s, self._time_up)
        timer.daemon = True
        started = time.perf_counter()
        timer.start()
        try:
            rel = self._con.sql(sql)
            if rel is None:
                frame, count = pl.DataFrame(), 0
            else:
                reader = rel.to_arrow_reader(2048)
                kept: list[pa.RecordBatch] = []
                count = 0
                # Why stream: the true row count is reported without holding more than row_cap rows in memory.
                for batch in reader:
                    if count < cap:
                        kept.append(batch.slice(0, cap - count))
                    count += batch.num_rows
                frame = _to_frame(pa.Table.from_batches(kept, schema=reader.schema))
        except (duckdb.Error, OSError) as e:
            raise self._explain_failure(e, tables) from None
        finally:
            timer.cancel()
        return Outcome(
            sql=sql, frame=frame, row_count=count, truncated=count > cap, tables=tables, columns=columns,
            columns_source=source, elapsed_s=time.perf_counter() - started, statement_type=stype,
        )

    def _time_up(self) -> None:
        self._timed_out.set()
        self._con.interrupt()

    def interrupt(self) -> None:
        """Stop the running statement (from another thread)."""
        self._con.interrupt()

    def _explain_failure(self, e: BaseException, tables: tuple[str, ...]) -> WorkbenchError:
        msg = _first_line(e)
        if self._timed_out.is_set():
            return WorkbenchError(
                f"stopped: the statement ran past the workbench time limit of {self.limits.time_limit_s:g} s",
                "error", tables=tables)
        if isinstance(e, duckdb.InterruptException) or "INTERRUPT" in msg:
            return WorkbenchError("stopped at your request", "error", tables=tables)
        if isinstance(e, duckdb.OutOfMemoryException):
            return WorkbenchError(
                f"stopped: the statement needed more than the workbench memory limit ({self.limits.memory_limit}); "
                "aggregate first or select fewer columns", "error", tables=tables)
        if isinstance(e, duckdb.PermissionException):
            return WorkbenchError(
                "refused by the locked workbench: it cannot read or write files, attach databases or load "
                f"extensions ({msg})", "refused", tables=tables)
        if "configuration has been locked" in msg:
            return WorkbenchError("refused: settings are fixed in the workbench", "refused", tables=tables)
        if "read-only mode" in msg:
            return WorkbenchError("refused: the mart is read-only; only SELECT runs here", "refused", tables=tables)
        return WorkbenchError(f"DuckDB: {msg}", "error", tables=tables)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _to_frame(table: pa.Table) -> pl.DataFrame:
    """A Polars frame of the kept rows; repeated column names get a suffix (SELECT 1 AS a, 2 AS a)."""
    seen: dict[str, int] = {}
    names = []
    for name in table.column_names:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    try:
        frame = pl.from_arrow(table.rename_columns(names))
    except (pl.exceptions.PolarsError, pa.ArrowException, ValueError, TypeError) as e:
        raise WorkbenchError(
            f"the result has a column type the workbench cannot show ({_first_line(e)[:120]}); "
            "cast it to VARCHAR (col::VARCHAR)", "error") from None
    return frame.to_frame() if isinstance(frame, pl.Series) else frame


def _strip_alias(name: str) -> str:
    quoted = False
    for i, ch in enumerate(name):
        if ch == '"':
            quoted = not quoted
        elif not quoted and name.startswith(" AS ", i):
            return name[:i]
    return name


def _split_qualified(name: str) -> list[str]:
    """Split a.b."c.d" on dots outside double quotes."""
    parts, cur, quoted = [], "", False
    for ch in name:
        if ch == '"':
            quoted = not quoted
            cur += ch
        elif ch == "." and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts
