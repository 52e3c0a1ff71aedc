"""`csc-dashboard build`: load statutory returns and local extracts into a new warehouse file, atomically.

The new warehouse is written beside the target as `<file>.tmp-<pid>` and renamed over the target only when it
is complete, so a failed build (an unreadable file, a crash) leaves the previous warehouse untouched.
Same inputs give the same content: surrogate ids come from sorted keys and nothing time-dependent is stored.

Speed (docs/benchmarks.md): files are read on two threads, CIN censuses last; the SSDA903 and local returns'
record rules run, and their tables and derived relations are stored (storing.py), while the censuses are still
being read; the CIN tables go to the writers one by one as the CIN rules finish them. The work done is the same
as one file, one loader, one table after another; only when it happens differs, so the content does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from dashboard.config import cache_dir
from dashboard.warehouse import db, derived
from dashboard.warehouse.codes import code_sets, ethnicity_group, lookup_rows
from dashboard.warehouse.coldoc import column_docs
from dashboard.warehouse.dq import DQ, BuildError
from dashboard.warehouse.load_903 import Loader903, census_year_of, latest_date
from dashboard.warehouse.load_cin import LoaderCIN, clean_file, read_fast, read_tree
from dashboard.warehouse.load_local import LoaderLocal
from dashboard.warehouse.safexml import check_xml, local, parse_xml
from dashboard.warehouse.sources import (
    TABLES_903,
    TABLES_LOCAL,
    SourceFile,
    discover,
    read_csv,
    read_source,
    year_from_path,
)
from dashboard.warehouse.storing import Storer, derived_needs

__all__ = ["BuildError", "BuildReport", "build"]

#: files read at once (the machines this runs on have 2 cores; the heavy work releases the interpreter lock)
READERS = 2

#: the build's DuckDB settings (why each one: _create)
BUILD_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False, "fsync_mode": "none",
                "threads": 1, "checkpoint_threshold": "4MB"}
#: how the warehouse file stores its tables. Why 16,384-row groups (DuckDB's default 122,880): DuckDB compresses
#: and writes a table's full row groups to the file while the statement that fills it runs (on the thread that
#: runs it, two at a time here); rows short of a full group go through the log and are compressed by a
#: checkpoint, which runs on one thread and holds up every commit meanwhile. At authority scale almost every
#: table is smaller than 122,880 rows, so the build ended with one long checkpoint on one core; with 16,384 the
#: build takes 12% less wall time and 7% less CPU. The file is about 20% larger (less to share a dictionary in
#: each group), and the named queries run as fast or faster (finer row groups are skipped by census year and
#: split better between threads): docs/benchmarks.md. Same rows and order: only the file's layout differs.
STORAGE = "ROW_GROUP_SIZE 16384"

#: the opening of a CIN census: optional byte-order mark and XML declaration, white space, then the <Message> root
_CIN_HEAD = re.compile(rb"""(?:\xef\xbb\xbf)?(<\?xml(?:[^>?]|\?(?!>))*\?>)?[ \t\r\n]*<Message[ \t\r\n/>]""")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
#: declared encodings in which those bytes are those characters (ASCII-compatible)
_ASCII_COMPATIBLE = re.compile(rb"(?i)(utf-?8|(us-)?ascii|iso[-_]?8859-\d+|latin-?1|(windows|cp)-?125\d)")

#: tables the build fills after the data tables (anything else the schema holds is filled when it is created)
END_TABLES = ("data_quality", "source_file", "code_lookup", "column_doc", "build_info")

#: warehouse tables filled from loader output, in load order
DATA_TABLES = (
    "child", "disability", "person_identifier", "cin_episode", "assessment", "assessment_factor", "cin_plan",
    "section47", "cp_plan", "cp_review", "episode", "period_of_care", "cla_review", "missing_episode", "sw_episode",
    "oc2", "oc3", "adoption", "placed_adoption", "previous_permanence", "team", "allocation", "objection",
    "school_move", "population",
)


@dataclass
class BuildReport:
    out: Path
    files: list[str]
    skipped: list[str]
    rows_read: int
    seconds: float
    table_rows: dict[str, int]
    dq_counts: dict[str, int]
    dq_examples: list[dict]
    census_years: list[int]
    return_years: list[int]
    warnings: list[str] = field(default_factory=list)
    #: wall seconds of each stage: read (every file read; meanwhile the other returns' rules run and their
    #: tables and derived relations are stored), merge (the CIN rules, the rest of the tables stored), write
    #: (the remaining derived relations, checkpoint, rename)
    stages: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the process (every thread) in each stage, and over the build
    stages_cpu: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float(self.rows_read)


def build(sources: list[Path], out: Path, progress: bool = True) -> BuildReport:
    """Load every source into a new warehouse at `out`; raise BuildError for a file that cannot be read.

    Files are read (decoded, checked, parsed into text frames) two at a time on worker threads, while a third
    creates the new file's schema; the heavy parts (libxml2's check, NumPy, Polars, DuckDB, hashing) run outside the
    interpreter lock. CIN censuses (known from their first bytes) are read last, so the SSDA903 and local
    returns' record rules run, and their tables and derived relations are stored (storing.Storer), while the
    censuses are still being read. What depends on file order (return years, surrogate ids) is taken in file
    order within each kind of return, and the first unreadable file in file order is the one reported.
    Data-quality rows are sorted when stored, so the warehouse is the same as a one-file-at-a-time build's."""
    t0, c0 = time.perf_counter(), time.process_time()
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    out = Path(out)
    files, skipped = discover([Path(s) for s in sources])
    if not files:
        raise BuildError(", ".join(str(s) for s in sources), "no .csv or .xml files to load")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    db.remove_file(tmp)
    dq = DQ()
    l903, lcin, lloc = Loader903(dq), LoaderCIN(dq), LoaderLocal(dq)
    pending_903: dict[Path, list] = defaultdict(list)
    source_rows: dict[int, dict] = {}
    rows_read = 0
    census = {k for k, path in enumerate(files) if _looks_like_cin(path)}
    order = [*(k for k in range(len(files)) if k not in census), *sorted(census)]
    pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="build-read")
    # the new file is created first, then the loaders' record rules run here
    merging = ThreadPoolExecutor(max_workers=3, thread_name_prefix="build-merge")
    schema = merging.submit(_create, tmp)
    others = False
    parts: dict[str, Future] = {}
    try:
        with _progress(progress, len(files) + 2) as advance:
            # every read queued at once, the other returns first; a worker holds one file's bytes at a time
            futures: dict[int, Future | None] = {k: pool.submit(_read_file, files[k], k) for k in order}
            for k in order:
                if not others and k in census:
                    others = True
                    _start_others(schema, pending_903, dq, l903, lloc, merging, parts)
                sf, payload, file_dq = _result(futures, k)
                futures[k] = None
                dq.extend(file_dq)
                if k in census and sf.kind != "cin_xml":  # _looks_like_cin only says yes to a Message root
                    raise BuildError(sf.name, f"internal error: read as {sf.kind}, expected a CIN census")
                if sf.kind == "903_xml":
                    sf.rows, sf.return_year = l903.read_xml(sf.name, payload, k, year_from_path(files[k]))
                elif sf.kind == "cin_xml":
                    sf.return_year, sf.rows = lcin.add_file(payload)
                elif sf.kind.startswith("903_csv:"):
                    pending_903[files[k].parent].append((sf, sf.kind.split(":", 1)[1], payload, k))
                else:
                    lloc.add_csv(sf.kind.split(":", 1)[1], payload, k)
                rows_read += sf.rows
                source_rows[k] = {"file": sf.name, "kind": sf.kind, "return_year": sf.return_year, "rows": sf.rows,
                                  "sha256": sf.sha256, "_sf": sf}
                advance(files[k].name)
            if not others:
                _start_others(schema, pending_903, dq, l903, lloc, merging, parts)
            stages["read"], cpu["read"] = time.perf_counter() - t0, time.process_time() - c0
            advance("merging returns")
            parts["cin"] = merging.submit(_finish_cin, lcin, schema, parts["903"])
            storer = schema.result()
            t903, (tcin, child), tloc = (parts[n].result() for n in ("903", "cin", "local"))
            tables: dict[str, pl.DataFrame] = {**t903, **tcin, **tloc, "child": child}
            rows = [source_rows[k] for k in range(len(files))]
            for r in rows:
                r["return_year"] = r.pop("_sf").return_year
            dq_frame = dq.frame()
            census_years = sorted(lcin.years)
            return_years = sorted({r["return_year"] for r in rows if r["kind"].startswith("903") and r["return_year"]})
            storer.wait_inserts()
            stages["merge"] = time.perf_counter() - t0 - stages["read"]
            cpu["merge"] = time.process_time() - c0 - cpu["read"]
            info = {
                "schema_sha256": hashlib.sha256(db.SCHEMA_SQL.read_bytes()).hexdigest(),
                "codes_sha256": hashlib.sha256(json.dumps(code_sets(), sort_keys=True).encode()).hexdigest(),
                "sources": json.dumps([{"file": r["file"], "sha256": r["sha256"]} for r in rows]),
                "census_years": json.dumps(census_years),
                "return_years": json.dumps(return_years),
                "rows_read": str(rows_read),
                "data_quality_rows": str(dq_frame.height),
            }
            advance("writing the warehouse")
            _write(storer, tmp, out, tables, dq_frame, rows, info)
            stages["write"] = time.perf_counter() - t0 - stages["read"] - stages["merge"]
            cpu["write"] = time.process_time() - c0 - cpu["read"] - cpu["merge"]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        merging.shutdown(wait=True, cancel_futures=True)
        if schema.done() and schema.exception() is None:
            with contextlib.suppress(Exception):
                schema.result().close()
                schema.result().con.close()
        db.remove_file(tmp)
        raise
    pool.shutdown(wait=True)
    merging.shutdown(wait=True)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    counts = dq_frame.group_by("rule").len().sort(["len", "rule"], descending=[True, False])
    examples = dq_frame.group_by("rule", maintain_order=True).head(2).head(10).to_dicts()
    return BuildReport(
        out=out, files=[r["file"] for r in rows], skipped=[str(s) for s in skipped], rows_read=rows_read,
        seconds=seconds, table_rows={t: tables[t].height for t in DATA_TABLES}, dq_counts=dict(counts.iter_rows()),
        dq_examples=examples, census_years=census_years, return_years=return_years, stages=stages,
        stages_cpu=cpu, cpu_seconds=cpu_seconds)


def _start_others(schema: Future, pending_903: dict, dq: DQ, l903: Loader903, lloc: LoaderLocal,
                  merging: ThreadPoolExecutor, parts: dict[str, Future]) -> None:
    """Every SSDA903 and local file is in: their record rules start while the censuses are still being read
    (a failure, such as a 903 folder whose year cannot be told, is raised once every file is read)."""
    parts["local"] = _start(merging, lloc, schema)
    parts["903"] = _start(merging, l903, schema, before=lambda: _years_903(pending_903, dq, l903))


def _start(merging: ThreadPoolExecutor, loader, schema: Future, before=None) -> Future:
    """A loader's record rules on a merge thread; its tables (but `child`, merged later) go to the writers once
    the new file exists."""
    def run():
        if before is not None:
            before()
        tables = loader.finish()
        storer = schema.result()
        for name, frame in tables.items():
            if name != "child":
                storer.insert(name, frame)
        return tables
    return merging.submit(run)


def _finish_cin(lcin: LoaderCIN, schema: Future, part_903: Future) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The CIN record rules; each table goes to the writers as soon as it is final, and `child` (both returns
    merged) as soon as the CIN children and disabilities are. Returns (CIN tables, merged children)."""
    storer: Storer = schema.result()
    got: dict[str, pl.DataFrame] = {}

    def emit(name: str, frame: pl.DataFrame) -> None:
        got[name] = frame
        if name != "child":
            storer.insert(name, frame)
        if name == "disability":  # comes right after the CIN children
            got["_merged"] = merge_children(part_903.result()["child"], got["child"], frame)
            storer.insert("child", got["_merged"])

    tables = lcin.finish(emit)
    if "_merged" not in got:  # a loader that no longer hands its tables over one by one
        got["_merged"] = merge_children(part_903.result()["child"], tables["child"], tables["disability"])
        storer.insert("child", got["_merged"])
    return tables, got["_merged"]


def _result(futures: dict[int, Future | None], k: int):
    """File k's read; if it failed, the failure of the first file in file order that failed (files are read
    in another order, but the file reported is the one a one-at-a-time build would stop at)."""
    try:
        return futures[k].result()
    except BaseException:
        for j in sorted(futures):
            if j >= k:
                break
            f = futures[j]
            if f is not None and f.exception() is not None:
                raise f.exception() from None
        raise


def _looks_like_cin(path: Path) -> bool:
    """True when the file's first bytes open a CIN census (a <Message> root after at most an XML declaration).
    Only decides when the file is read; what it is comes from reading it (checked against this)."""
    if path.suffix.lower() != ".xml":
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False  # reported when it is read, in file order
    m = _CIN_HEAD.match(head)
    if m is None:
        return False
    enc = _ENCODING.search(m.group(1) or b"")
    return enc is None or _ASCII_COMPATIBLE.fullmatch(enc.group(1)) is not None


def _storer(con: duckdb.DuckDBPyConnection) -> Storer:
    """The writer and derived-relation scheduler over the new file; the tables nothing in the build fills
    (bank holidays) count as stored already."""
    tables = {n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                        "current_database() AND schema_name = 'main'").fetchall()}
    storer = Storer(con, derived_needs(con), tables - set(DATA_TABLES) - set(END_TABLES))
    # the column list as a one-pass build records it: every table, the derived relations still views
    storer.column_docs = column_docs(con)
    return storer


def _read_file(path: Path, order: int) -> tuple[SourceFile, object, DQ]:
    """One file, read on a worker thread with its own data-quality notes: (source, what was read, notes).
    The payload is a text frame (CSV), a CinFile (CIN census) or a parsed tree (903 XML)."""
    dq = DQ()
    sf = read_source(path, dq)
    payload: object
    if sf.kind == "xml":
        raw = check_xml(sf.name, sf.data)  # refuses unsafe or malformed XML before anything reads it
        # a prefixed root: the tree reader resolves (or refuses) the namespace exactly as before
        root = raw if ":" not in raw else local(parse_xml(sf.name, sf.data).root.tag)
        if root == "EXPSSDA903":
            sf.kind = "903_xml"
            payload = parse_xml(sf.name, sf.data)
        elif root == "Message":
            sf.kind = "cin_xml"
            try:
                payload = read_fast(sf.name, sf.data, order)
            except BuildError:
                raise
            except Exception:  # the fast reader is an optimisation: on anything unforeseen the tree reader decides
                payload = None
            if payload is None:
                payload = read_tree(sf.name, parse_xml(sf.name, sf.data), order)
            payload = clean_file(payload, dq)  # the column rules here, beside the other readers
        else:
            raise BuildError(sf.name, f"XML root <{root}> is neither an SSDA903 return (EXPSSDA903) nor a "
                                      "CIN census (Message)")
    elif sf.kind.startswith("903_csv:"):
        table = sf.kind.split(":", 1)[1]
        raw = read_csv(sf, TABLES_903[table], table, dq, upper=True)
        # the dates that tell a return's year, for a folder not named after its year (see _merge)
        latest = (None, None) if year_from_path(path) else (latest_date(table, raw),
                                                            latest_date(table, raw, any_date=True))
        payload = (raw, latest)
    else:
        table = sf.kind.split(":", 1)[1]
        payload = read_csv(sf, TABLES_LOCAL[table], table, dq, upper=False)
    sf.text = None
    sf.data = b""
    return sf, payload, dq


def _years_903(pending_903: dict[Path, list], dq: DQ, l903: Loader903) -> None:
    """Return years of 903 CSV folders, then their rows to the 903 loader in file order: a folder is one return;
    its year is a <YYYY> folder name, else the latest activity date in it."""
    for folder, items in sorted(pending_903.items()):
        year = year_from_path(items[0][0].path)
        if year is None:
            events = [d for _sf, _t, (_df, (d, _a)), _o in items if d is not None]
            dates = [a for _sf, _t, (_df, (_d, a)), _o in items if a is not None]
            year = census_year_of(max(events)) if events else None
            what = ("the latest activity date (DECOM, DEC, REVIEW, MIS_START/END, SW_DECOM/DEC, adoption dates) in "
                    "the folder's 903 files")
            if year is None:
                year = census_year_of(max(dates)) if dates else None
                what = "the latest date of any kind (the folder's 903 files have no activity dates)"
            if year is None:
                raise BuildError(str(folder), "cannot tell the 903 return year: no <YYYY> folder in the path and no "
                                              "dates in its files (put the files in a folder named after "
                                              "the year ending 31 March)")
            for sf, table, _df, _o in items:
                dq.add(sf.name, None, table, None, "return_year_inferred", year, "kept",
                       f"no <YYYY> folder in the path: return year {year} inferred from {what}")
        for sf, table, (df, _latest), order in sorted(items, key=lambda item: item[3]):
            sf.return_year = year
            l903.add_csv(table, df, order, year)


def merge_children(c903: pl.DataFrame, ccin: pl.DataFrame, disability: pl.DataFrame) -> pl.DataFrame:
    """One row per child known to any return. Shared characteristics come from the return with the later year
    (CIN on a tie), falling back to the other return where that one is blank (rule child_merge)."""
    a = c903.rename({c: f"{c}_903" for c in c903.columns if c != "child_id"}).with_columns(pl.lit(True).alias("_in903"))
    b = ccin.rename({c: f"{c}_cin" for c in ccin.columns if c != "child_id"}).with_columns(pl.lit(True).alias("_incin"))
    m = a.join(b, on="child_id", how="full", coalesce=True)
    cin_first = pl.col("year_cin_cin").fill_null(-1) >= pl.col("year903_903").fill_null(-1)
    shared = {}
    for c in ("sex", "dob", "ethnicity", "upn"):
        shared[c] = pl.when(cin_first).then(pl.coalesce(f"{c}_cin", f"{c}_903")).otherwise(
            pl.coalesce(f"{c}_903", f"{c}_cin")).alias(c)
    disabled = disability.filter(pl.col("disability") != "NONE")["child_id"].unique()
    eth_map = {code: ethnicity_group(code) for code in code_sets()["ethnicity"]}
    out = m.select(
        "child_id", shared["sex"], shared["dob"], shared["ethnicity"],
        shared["upn"], pl.col("former_upn_cin").alias("former_upn"), pl.col("upn_unknown_cin").alias("upn_unknown"),
        pl.col("death_date_cin").alias("death_date"), pl.col("expected_dob_cin").alias("expected_dob"),
        pl.col("mother_903").alias("mother"), pl.col("mc_dob_903").alias("mc_dob"),
        pl.col("uasc_duc_903").alias("uasc_duc"),
        pl.when(pl.col("_in903").fill_null(False) & pl.col("_incin").fill_null(False)).then(pl.lit("cin+903"))
        .when(pl.col("_incin").fill_null(False)).then(pl.lit("cin")).otherwise(pl.lit("903")).alias("source"),
    )
    return out.with_columns(
        pl.col("ethnicity").replace_strict(eth_map, default="Not known", return_dtype=pl.Utf8).alias("ethnicity_group"),
        pl.col("child_id").is_in(disabled.implode()).alias("is_disabled"),
    ).sort("child_id")


def _create(tmp: Path) -> Storer:
    """The new warehouse file with its schema, calendar, macros and planning views (copied from the cached empty
    warehouse, db.new_warehouse), and what stores into it (on a worker thread while files are read). The
    planning schema's views refer to the derived relations by name, so they can be made before anything is
    stored (derived.py): one thing fewer at the end of the build."""
    code_sets()  # read the code lists here, beside the readers, rather than when the first file is cleaned
    # fsync_mode none: the file is private to this build until it is renamed over the warehouse, so nothing
    # depends on it surviving a crash half-way (a failed build removes it); syncing each of the build's many
    # commits only made it wait on the disk. _write syncs the finished file once before the rename, so what is
    # published is as durable as before.
    # threads 1: the build already runs two inserts and two derived relations at once beside the readers; a
    # second DuckDB thread per statement only added coordination (about 6% more CPU, no shorter wall time).
    # checkpoint_threshold 4MB (DuckDB's default 16MB): an automatic checkpoint runs on the commit that finds the
    # log past it with no other write under way, and holds up every other commit meanwhile; smaller and more
    # often, they are done while the censuses are read instead of in the middle of the CIN tables' inserts
    # (the build's longest chain), about 0.05 s sooner at authority scale. The file holds the same either way.
    con = db.new_warehouse(tmp, BUILD_CONFIG, cache_dir(), STORAGE)
    try:
        return _storer(con)
    except BaseException:
        con.close()
        raise


def _write(storer: Storer, tmp: Path, out: Path, tables: dict[str, pl.DataFrame], dq_frame: pl.DataFrame,
           source_rows: list[dict], info: dict[str, str]) -> None:
    """Finish the new file (the data tables are in already, the derived relations stored or on their way),
    then rename it over `out` (the caller removes it if anything fails)."""
    con = storer.con
    try:
        missing = [t for t in DATA_TABLES if t not in tables]
        if missing:  # a loader that stopped producing a table would otherwise leave it silently empty
            raise BuildError(str(out), f"internal error: no rows prepared for {', '.join(missing)}")
        storer.insert("data_quality", dq_frame)
        storer.insert("source_file", pl.DataFrame(
            [{k: r[k] for k in ("file", "kind", "return_year", "rows", "sha256")} for r in source_rows],
            schema={"file": pl.Utf8, "kind": pl.Utf8, "return_year": pl.Int32, "rows": pl.Int64, "sha256": pl.Utf8},
            orient="row"))
        storer.insert("code_lookup", pl.DataFrame(lookup_rows(), schema=["code_set", "code", "label"], orient="row"))
        storer.insert("column_doc", pl.DataFrame(storer.column_docs, orient="row",
                                                 schema=["table_name", "column_name", "data_type", "meaning"]))
        storer.insert("build_info", pl.DataFrame(sorted(info.items()), schema=["key", "value"], orient="row"))
        storer.finish()
        # the measures' derived relations (derived.sql) not stored yet, if any, and what materialise adds after them
        derived.materialise(con)
        con.execute("CHECKPOINT")
    finally:
        storer.close()
        con.close()
    _sync(tmp)
    os.replace(tmp, out)


def _sync(path: Path) -> None:
    """Flush the finished file to disk (the build's connection does not sync its commits; see _create)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _progress(enabled: bool, total: int):
    """A rich progress bar on stderr, only for a person watching a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda _name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("loading {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)
        yield lambda name: bar.update(task, advance=1, description=name)
