"""`csc-dashboard build`: load statutory returns and local extracts into a new warehouse file, atomically.

The new warehouse is written beside the target as `<file>.tmp-<pid>` and renamed over the target only when it
is complete, so a failed build (an unreadable file, a crash) leaves the previous warehouse untouched.
Same inputs give the same content: surrogate ids come from sorted keys and nothing time-dependent is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from dashboard.warehouse import db, derived
from dashboard.warehouse.codes import code_sets, ethnicity_group, lookup_rows
from dashboard.warehouse.coldoc import column_docs
from dashboard.warehouse.dq import DQ, BuildError
from dashboard.warehouse.load_903 import Loader903, census_year_of, latest_date
from dashboard.warehouse.load_cin import LoaderCIN, read_fast, read_tree
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

__all__ = ["BuildError", "BuildReport", "build"]

#: files read at once (the machines this runs on have 2 cores; the heavy work releases the interpreter lock)
READERS = 2

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
    stages: dict[str, float] = field(default_factory=dict)   # wall seconds: read, merge, write

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float(self.rows_read)


def build(sources: list[Path], out: Path, progress: bool = True) -> BuildReport:
    """Load every source into a new warehouse at `out`; raise BuildError for a file that cannot be read.

    Files are read (decoded, checked, parsed into text frames) two at a time on worker threads, while a third
    creates the new file's schema; the heavy parts (expat, Polars, DuckDB, hashing) run outside the
    interpreter lock. What depends on file order (return years, surrogate ids) is taken in file order on this
    thread, and the first unreadable file in that order is the one reported. The record rules then run per
    loader side by side, each table going to a writer thread as soon as it is final. Data-quality rows are
    sorted when stored, so the warehouse is the same as a one-file-at-a-time build's."""
    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    out = Path(out)
    files, skipped = discover([Path(s) for s in sources])
    if not files:
        raise BuildError(", ".join(str(s) for s in sources), "no .csv or .xml files to load")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    _remove(tmp)
    dq = DQ()
    l903, lcin, lloc = Loader903(dq), LoaderCIN(dq), LoaderLocal(dq)
    pending_903: dict[Path, list] = defaultdict(list)
    source_rows: list[dict] = []
    rows_read = 0
    pool = ThreadPoolExecutor(max_workers=READERS + 1, thread_name_prefix="build")
    schema = pool.submit(_create, tmp)
    try:
        with _progress(progress, len(files) + 2) as advance:
            # a bounded window of files in flight keeps memory to a few files' bytes beyond the frames kept
            window = 2 * READERS
            futures = [pool.submit(_read_file, path, k) for k, path in enumerate(files[:window])]
            for order, path in enumerate(files):
                sf, payload, file_dq = futures[order].result()
                if order + window < len(files):
                    futures.append(pool.submit(_read_file, files[order + window], order + window))
                futures[order] = None
                dq.extend(file_dq)
                if sf.kind == "903_xml":
                    sf.rows, sf.return_year = l903.read_xml(sf.name, payload, order, year_from_path(path))
                elif sf.kind == "cin_xml":
                    sf.return_year, sf.rows = lcin.add_file(payload)
                elif sf.kind.startswith("903_csv:"):
                    pending_903[path.parent].append((sf, sf.kind.split(":", 1)[1], payload, order))
                else:
                    lloc.add_csv(sf.kind.split(":", 1)[1], payload, order)
                rows_read += sf.rows
                source_rows.append({"file": sf.name, "kind": sf.kind, "return_year": sf.return_year,
                                    "rows": sf.rows, "sha256": sf.sha256, "_sf": sf})
                advance(path.name)
            stages["read"] = time.perf_counter() - t0
            advance("merging returns")
            con = schema.result()
            # one writer thread, tasks in order: the connection is used by one thread at a time
            writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="build-writer")
            inserts: list = []
            try:
                tables, dq_frame, census_years, return_years = _merge(
                    pending_903, source_rows, dq, l903, lcin, lloc,
                    lambda name, frame: inserts.append(writer.submit(_insert, con, name, frame)))
            finally:
                writer.shutdown(wait=True)
            for done in inserts:
                done.result()  # the first failed insert, if any, stops the build here
            stages["merge"] = time.perf_counter() - t0 - stages["read"]
            info = {
                "schema_sha256": hashlib.sha256(db.SCHEMA_SQL.read_bytes()).hexdigest(),
                "codes_sha256": hashlib.sha256(json.dumps(code_sets(), sort_keys=True).encode()).hexdigest(),
                "sources": json.dumps([{"file": r["file"], "sha256": r["sha256"]} for r in source_rows]),
                "census_years": json.dumps(census_years),
                "return_years": json.dumps(return_years),
                "rows_read": str(rows_read),
                "data_quality_rows": str(dq_frame.height),
            }
            advance("writing the warehouse")
            _write(con, tmp, out, tables, dq_frame, source_rows, info)
            stages["write"] = time.perf_counter() - t0 - stages["read"] - stages["merge"]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        if schema.done() and schema.exception() is None:
            with contextlib.suppress(Exception):
                schema.result().close()
        _remove(tmp)
        raise
    pool.shutdown(wait=True)
    seconds = time.perf_counter() - t0
    counts = dq_frame.group_by("rule").len().sort(["len", "rule"], descending=[True, False])
    examples = dq_frame.group_by("rule", maintain_order=True).head(2).head(10).to_dicts()
    return BuildReport(
        out=out, files=[r["file"] for r in source_rows], skipped=[str(s) for s in skipped], rows_read=rows_read,
        seconds=seconds, table_rows={t: tables[t].height for t in DATA_TABLES}, dq_counts=dict(counts.iter_rows()),
        dq_examples=examples, census_years=census_years, return_years=return_years, stages=stages)


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


def _merge(pending_903, source_rows, dq, l903, lcin, lloc, emit):
    """Return years of 903 CSV folders, then every loader's record rules; returns the tables to write, each
    also handed to emit(name, frame) as soon as it is final (the writer stores it while the rest is merged)."""
    # 903 CSVs: a folder is one return; its year is a <YYYY> folder name, else the latest activity date in it
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
        for sf, table, (df, _latest), order in items:
            sf.return_year = year
            l903.add_csv(table, df, order, year)
    for r in source_rows:
        r["return_year"] = r.pop("_sf").return_year

    tables: dict[str, pl.DataFrame] = {}

    def ready(part: dict[str, pl.DataFrame]) -> None:
        for name, frame in part.items():
            if name != "child":
                tables[name] = frame
                emit(name, frame)

    # the three loaders' rules touch nothing in common but the data-quality list, whose rows are sorted when
    # it is turned into a table: run them at once, hand their tables over in a fixed order
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="build-merge") as pool:
        parts = [pool.submit(loader.finish) for loader in (l903, lcin, lloc)]
        t903, tcin, tloc = (f.result() for f in parts)
    ready(t903)
    ready(tcin)
    ready(tloc)
    tables["child"] = merge_children(t903["child"], tcin["child"], tables["disability"])
    emit("child", tables["child"])
    census_years = sorted(lcin.years)
    return_years = sorted({r["return_year"] for r in source_rows if r["kind"].startswith("903") and r["return_year"]})
    return tables, dq.frame(), census_years, return_years


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


def _create(tmp: Path) -> duckdb.DuckDBPyConnection:
    """The new warehouse file with its schema, calendar and macros (on a worker thread while files are read)."""
    code_sets()  # read the code lists here, beside the readers, rather than when the first file is cleaned
    con = duckdb.connect(str(tmp), config={"autoinstall_known_extensions": False,
                                           "autoload_known_extensions": False})
    try:
        db.create_schema(con)
    except BaseException:
        con.close()
        raise
    return con


def _write(con: duckdb.DuckDBPyConnection, tmp: Path, out: Path, tables: dict[str, pl.DataFrame],
           dq_frame: pl.DataFrame, source_rows: list[dict], info: dict[str, str]) -> None:
    """Finish the new file (the data tables are in already), then rename it over `out` (the caller removes
    it if anything fails)."""
    try:
        missing = [t for t in DATA_TABLES if t not in tables]
        if missing:  # a loader that stopped producing a table would otherwise leave it silently empty
            raise BuildError(str(out), f"internal error: no rows prepared for {', '.join(missing)}")
        _insert(con, "data_quality", dq_frame)
        _insert(con, "source_file", pl.DataFrame(
            [{k: r[k] for k in ("file", "kind", "return_year", "rows", "sha256")} for r in source_rows],
            schema={"file": pl.Utf8, "kind": pl.Utf8, "return_year": pl.Int32, "rows": pl.Int64, "sha256": pl.Utf8},
            orient="row"))
        # bulk inserts through Arrow: DuckDB's executemany runs one statement per row
        _insert(con, "code_lookup", pl.DataFrame(lookup_rows(), schema=["code_set", "code", "label"], orient="row"))
        _insert(con, "column_doc", pl.DataFrame(column_docs(con), orient="row",
                                                schema=["table_name", "column_name", "data_type", "meaning"]))
        _insert(con, "build_info", pl.DataFrame(sorted(info.items()), schema=["key", "value"], orient="row"))
        # the measures' derived relations (derived.sql) stored as tables, now that every row is loaded
        derived.materialise(con)
        db.create_planning_views(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, out)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    cols = [c for c in frame.columns if not c.startswith("_")]
    arrow = frame.select(cols).to_arrow()  # noqa: F841 - read by DuckDB's replacement scan below
    con.register("_incoming", arrow)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
    except duckdb.Error as exc:
        raise BuildError(table, f"could not store the cleaned rows ({exc})") from None
    finally:
        con.unregister("_incoming")


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


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
