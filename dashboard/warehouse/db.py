"""Creating and opening warehouse files. Knows DuckDB and the schema; nothing about policy or audit."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
SCHEMA_SQL = HERE / "schema.sql"
MACROS_SQL = HERE / "macros.sql"
DERIVED_SQL = HERE / "derived.sql"

#: tables that hold rows about a child (have a child_id column); the `planning` schema shadows each of them
#: with a view that leaves out children whose families objected to use beyond direct care.
CHILD_TABLES = (
    "child", "disability", "person_identifier", "cin_episode", "assessment", "assessment_factor", "cin_plan",
    "section47", "cp_plan", "cp_review", "episode", "period_of_care", "cla_review", "missing_episode",
    "sw_episode", "oc2", "oc3", "adoption", "placed_adoption", "previous_permanence", "allocation",
    "school_move",
    # derived relations (derived.sql): worked out per child, so filtering them equals deriving from filtered rows
    "stitched_episode", "placement_episode", "team_spell", "referral", "child_census",
    "cin_episode_flow", "child_day", "case_list", "assessment_span",
)

#: population restrictions a caller may ask for (the policy gate chooses; see run_query)
POPULATIONS = {"all": "main", "no_objectors": "planning"}


class WarehouseOutdated(FileNotFoundError):
    """The file was built by another version of the schema or the measures' macros: as good as missing."""


def code_version() -> str:
    """A fingerprint of what a warehouse file bakes in from the code: the schema, the SQL macros and the
    derived relations (a warehouse holds them materialised, so a change to their rules needs a rebuild)."""
    import hashlib

    h = hashlib.sha256(SCHEMA_SQL.read_bytes())
    for extra in (MACROS_SQL, DERIVED_SQL):
        if extra.exists():
            h.update(extra.read_bytes())
    return h.hexdigest()


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table, the bank-holiday calendar, the SQL macros the measures use and the derived relations
    (as views; derived.materialise stores them once the tables are loaded)."""
    con.execute(SCHEMA_SQL.read_text())
    con.execute("INSERT INTO build_info VALUES ('code_version', ?)", [code_version()])
    from dashboard.warehouse.calendar import load_bank_holidays

    load_bank_holidays(con)
    if MACROS_SQL.exists():
        con.execute(MACROS_SQL.read_text())
    if DERIVED_SQL.exists():
        con.execute(DERIVED_SQL.read_text())


def create_planning_views(con: duckdb.DuckDBPyConnection) -> None:
    """Schema `planning`: the same tables, objectors' children left out. Run after loading.

    Why a schema of views rather than a WHERE clause in each query: a measure written once runs unchanged for
    every population, and no query author can forget the objection register.
    """
    db = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute("CREATE SCHEMA IF NOT EXISTS planning")
    for table in CHILD_TABLES:
        con.execute(
            f'CREATE OR REPLACE VIEW planning.{table} AS SELECT * FROM "{db}".main.{table} '
            f'WHERE child_id NOT IN (SELECT child_id FROM "{db}".main.objection)'
        )


def template_key() -> str:
    """A fingerprint of everything create_schema and create_planning_views put in a new file: the SQL files,
    this module's code, the bank-holiday calendar's code and library, and the DuckDB that writes the file."""
    import importlib.util

    h = hashlib.sha256(code_version().encode())
    # the library's version file, found without importing it (the import costs more than the rest of this)
    spec = importlib.util.find_spec("holidays")
    holidays_dir = Path(spec.origin).parent if spec and spec.origin else HERE
    for part in (Path(__file__), HERE / "calendar.py", holidays_dir / "version.py"):
        with contextlib.suppress(OSError):
            h.update(part.read_bytes())
    h.update(f"duckdb {duckdb.__version__}".encode())
    return h.hexdigest()


def new_warehouse(path: Path, config: dict, cache: Path | None, options: str = "") -> duckdb.DuckDBPyConnection:
    """A new warehouse file at `path` (which must not exist) holding what create_schema and
    create_planning_views make, open with `config` and attached with the storage `options` (_open).

    The empty warehouse is the same for every build of one version of the product, and making it is most of a
    small build's fixed cost (DuckDB binds every view and macro), so it is made once into `cache` (named by
    template_key) and copied from there. No `cache`, one that cannot be written, or a copy that does not open:
    the file is made here as before."""
    if cache is not None:
        template = cache / f"empty-warehouse-{template_key()[:32]}.duckdb"
        with contextlib.suppress(OSError, duckdb.Error):
            if not template.exists():
                _make_template(template)
            shutil.copyfile(template, path)
            try:
                con = _open(path, config, options)
                # Why check: the cache sits beside the warehouse files (same trust), but a truncated or foreign
                # file must not become a warehouse; one that does not say it is this version's is discarded
                got = con.execute("SELECT value FROM build_info WHERE key = 'code_version'").fetchall()
                if got == [(code_version(),)]:
                    return con
                con.close()
            except duckdb.Error:
                pass
            remove_file(template)
        remove_file(path)  # whatever a failed copy left (the caller's path did not exist before)
    con = _open(path, config, options)
    try:
        _fill(con)
    except BaseException:
        con.close()
        raise
    return con


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    """What every new warehouse holds before its rows: the schema, calendar, macros, derived and planning views."""
    create_schema(con)
    create_planning_views(con)


def _open(path: Path, config: dict, options: str) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the file at `path`, attached with `options` (storage options
    such as ROW_GROUP_SIZE are ATTACH options only)."""
    if not options:
        return duckdb.connect(str(path), config=config)
    con = duckdb.connect(":memory:", config=config)
    try:
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS warehouse ({options})")
        con.execute("USE warehouse")
    except BaseException:
        con.close()
        raise
    return con


def _make_template(template: Path) -> None:
    """The empty warehouse, written under a name of its own and renamed into place (builds may run at once)."""
    template.parent.mkdir(parents=True, exist_ok=True)
    tmp = template.with_name(f"{template.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    remove_file(tmp)
    try:
        with duckdb.connect(str(tmp), config={"autoinstall_known_extensions": False,
                                              "autoload_known_extensions": False}) as con:
            _fill(con)
        os.replace(tmp, template)
    finally:
        remove_file(tmp)
    for old in template.parent.glob("empty-warehouse-*.duckdb"):  # other versions' (made again if needed)
        if old != template:
            remove_file(old)


def remove_file(path: Path) -> None:
    """A DuckDB file and its log, if there."""
    for p in (path, Path(f"{path}.wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def open_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).exists():
        raise FileNotFoundError(f"No warehouse at {path}: run `csc-dashboard build` first.")
    con = duckdb.connect(str(path), read_only=True, config={
        "autoinstall_known_extensions": False, "autoload_known_extensions": False,
    })
    # Why: macros and tables are baked into the file at build time; a file from another version would answer
    # with old definitions or fail mid-query with a catalog error. Refuse it up front with what to do instead.
    try:
        got = con.execute("SELECT value FROM build_info WHERE key = 'code_version'").fetchall()
    except duckdb.Error:
        got = []
    if not got or got[0][0] != code_version():
        con.close()
        raise WarehouseOutdated(
            f"The warehouse at {path} was built by a different version of the product: run "
            "`csc-dashboard build` again on the same sources.")
    return con


def is_current(path: Path) -> bool:
    """True when `path` is a warehouse this version can open."""
    try:
        open_readonly(path).close()
    except (FileNotFoundError, duckdb.Error):
        return False
    return True
