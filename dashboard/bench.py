"""Benchmark figures (`csc-dashboard bench`): printed, never asserted in tests.

Two scales: a mid-size authority generated in the statutory file formats and loaded by the real build, and a
national-scale data set (about 2.5 million children) simulated in chunks and written straight to a warehouse,
because writing and parsing 2.5 million children's XML would measure the file formats, not the product.

For each scale: build throughput, and for every named query the median time of DuckDB alone beside the median
time through the policy gate (decision, population, protection, audit record), the gate's overhead as a ratio,
the time to protect the largest cube, each dashboard page's queries through the gate, the analyst workbench,
and the audit trail's write latency.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dashboard.config import Settings

#: surrogate-key columns made per generated chunk; offset so chunks never collide
ID_COLUMNS = ("episode_id", "period_id", "cin_episode_id", "assessment_id", "cin_plan_id", "s47_id", "cp_plan_id")
#: tables that describe the authority rather than children: taken from the first chunk only
SHARED_TABLES = ("team", "population")


@dataclass
class ScaleResult:
    name: str
    children: int = 0
    build_rows: int = 0
    build_seconds: float = 0.0
    build_kind: str = ""
    queries: list[dict] = field(default_factory=list)
    largest_cube: dict = field(default_factory=dict)
    pages: list[dict] = field(default_factory=list)
    workbench: dict = field(default_factory=dict)
    audit: dict = field(default_factory=dict)


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: first run pays for plan caches and page faults
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------------------------------ data sets
def build_from_files(children: int, seed: int, years: range, workdir: Path) -> tuple[Path, int, float, int]:
    """Generate an authority in the statutory formats, then time the real build over those files."""
    from dashboard.generate import write_dataset
    from dashboard.warehouse.build import build

    src = workdir / "authority"
    frames = write_dataset(src, children, seed, years)
    out = workdir / "authority.duckdb"
    report = build([src], out, progress=False)
    return out, report.rows_read, report.seconds, frames["child"].height


def build_direct(children: int, seed: int, years: range, workdir: Path, chunk: int = 400_000,
                 progress: Callable[[str], None] = lambda _m: None) -> tuple[Path, int, float, int]:
    """Simulate `children` in chunks and write the frames straight into a new warehouse (national scale)."""
    from dashboard.config import cache_dir
    from dashboard.generate import generate_frames
    from dashboard.warehouse import db, derived
    from dashboard.warehouse.build import DATA_TABLES, STORAGE
    from dashboard.warehouse.codes import lookup_rows
    from dashboard.warehouse.coldoc import column_docs
    from dashboard.warehouse.storing import insert_frame

    out = workdir / "national.duckdb"
    # the file laid out as `build` lays it out (row group size), so the queries are timed on what a build makes
    con = db.new_warehouse(out, {"autoinstall_known_extensions": False, "autoload_known_extensions": False},
                           cache_dir(), STORAGE)
    rows = kept = 0
    insert_seconds = 0.0
    offsets = dict.fromkeys(ID_COLUMNS, 0)
    n_chunks = max(1, -(-children // chunk))
    for k in range(n_chunks):
        size = min(chunk, children - k * chunk)
        progress(f"chunk {k + 1}/{n_chunks}: simulating {size:,} children")
        frames = generate_frames(size, seed + k, years)
        t0 = time.perf_counter()
        for table in DATA_TABLES:
            if table not in frames or (k and table in SHARED_TABLES):
                continue
            f = frames[table]
            if "child_id" in f.columns:  # ids are unique within a chunk only
                f = f.with_columns((pl.lit(f"N{k:02d}") + pl.col("child_id")).alias("child_id"))
            f = f.with_columns([(pl.col(c) + offsets[c]).alias(c) for c in ID_COLUMNS if c in f.columns])
            insert_frame(con, table, f)
            rows += f.height
        insert_seconds += time.perf_counter() - t0
        kept += frames["child"].height
        for c in ID_COLUMNS:
            for f in frames.values():
                if c in f.columns and f.height:
                    offsets[c] = max(offsets[c], int(f[c].max()) + offsets[c] + 1)
                    break
        del frames
    # one authority made of many chunks: scale the population so rates per 10,000 stay meaningful
    con.execute(f"UPDATE population SET population = population * {n_chunks}")
    insert_frame(con, "code_lookup", pl.DataFrame(lookup_rows(), schema=["code_set", "code", "label"], orient="row"))
    insert_frame(con, "column_doc", pl.DataFrame(column_docs(con), orient="row",
                                            schema=["table_name", "column_name", "data_type", "meaning"]))
    derived.materialise(con)   # the measures' derived tables (dashboard/warehouse/derived.sql), as a build stores them
    con.execute("CHECKPOINT")
    con.close()
    return out, rows, insert_seconds, kept


# ------------------------------------------------------------------------------------------ measurements
def principal_for(spec, gate):
    """Who asks: a service manager for aggregates, a team manager in direct care for row-level lists."""
    from dashboard.policy import Principal

    if spec.shape == "rows":
        team = sorted(gate.policy.teams)[0] if getattr(gate.policy, "teams", None) else "T01"
        return Principal(user="bench-tm", role="team_manager", teams=(team,), purpose="direct_care")
    return Principal(user="bench-sm", role="service_manager", purpose="service_management")


@contextmanager
def bench_gate(warehouse: Path, store_size: int = 0, persist: bool = False) -> Iterator:
    """A gate on `warehouse` with its result cache off and (by default) no protected-cube store, in memory or on
    disk, so every call does the full work, and a throw-away trail."""
    from dashboard.policy import Gate

    with tempfile.TemporaryDirectory(prefix="csc-bench-audit-") as tmp:
        gate = Gate.open(Settings(warehouse=warehouse, audit=Path(tmp) / "audit.duckdb"), cache_size=0,
                         store_size=store_size, persist=persist)
        try:
            yield gate
        finally:
            gate.con.close()
            gate.trail.close()


def time_queries(warehouse: Path, repeat: int) -> tuple[list[dict], dict]:
    """Each named query: DuckDB alone beside a first ask through the gate (query, protection, audit record), and,
    for aggregates, an ask whose protected cube is kept on disk beside the warehouse (dashboard/policy/store.py:
    what a restarted server or a one-shot CLI call gets once any process has protected that cube; the timed call
    reads the kept cube and writes the audit record, the gate's memory store being off).

    Why clear_memo in every timed call: with the gate's store off, suppression's own memo of protect() would
    otherwise answer the repeats, and the median would time a memo hit instead of the protection a first ask pays.
    """
    from dashboard.policy.gate import protect_frame
    from dashboard.policy.suppression import clear_memo
    from dashboard.warehouse.queries import load_queries, run_query

    results = []
    largest = {}
    with bench_gate(warehouse) as gate, bench_gate(warehouse, persist=True) as disk:
        for name, spec in sorted(load_queries(gate.queries_dir).items()):
            p = principal_for(spec, gate)
            raw = median_seconds(lambda spec=spec: run_query(gate.con, spec, {}), repeat)
            try:
                gated = median_seconds(lambda name=name, p=p: (clear_memo(), gate.query(p, name, {}, path="bench")),
                                       repeat)
            except Exception as exc:  # a refusal is a figure too: say why instead of stopping the benchmark
                results.append({"query": name, "raw_ms": raw * 1e3, "gate_ms": None, "ratio": None,
                                "note": str(exc)[:80]})
                continue
            frame = run_query(gate.con, spec, {})
            kept = None
            if spec.shape == "aggregate":
                disk.query(p, name, {}, path="bench")           # kept on disk now (if not by an earlier run)
                kept = median_seconds(lambda name=name, p=p: (clear_memo(), disk.query(p, name, {}, path="bench")),
                                      repeat)
            results.append({"query": name, "raw_ms": raw * 1e3, "gate_ms": gated * 1e3, "ratio": gated / raw,
                            "kept_ms": None if kept is None else kept * 1e3,
                            "kept_ratio": None if kept is None else kept / raw,
                            "cells": frame.height, "note": ""})
            if spec.shape == "aggregate" and frame.height > largest.get("cells", -1):
                largest = {"query": name, "cells": frame.height, "spec": spec, "frame": frame, "principal": p}
        if largest:
            spec, frame, p = largest.pop("spec"), largest.pop("frame"), largest.pop("principal")
            grant, purpose = gate.grant_for(p)
            rs = gate.policy.rulesets[grant.ruleset]
            bound = spec.bind({})
            largest["protect_ms"] = median_seconds(
                lambda: (clear_memo(), protect_frame(frame, spec, rs, p, grant, purpose, bound, "all")), repeat) * 1e3
    return results, largest


def time_pages(warehouse: Path, repeat: int) -> list[dict]:
    """Each report page's gate calls as a service manager's page view makes them (one `query_many`: decisions,
    protected cubes, one audit commit), timed from request to data ready to render:

    - cold: the protected-cube store emptied before every run (each cube queried and protected again);
    - warm: after the store's warm-up (`Gate.warm_up`, what `csc-dashboard serve` starts in the background),
      so the page costs its decisions, the per-principal copies and one audit commit;
    - render: slicing every card, chart and table's view out of the answers (cube.py), per page;
    beside them the whole page in Streamlit's AppTest (script, gate, charts), first run cold and after warm-up.
    """
    from dashboard.app.pagebench import page_calls
    from dashboard.policy import Principal
    from dashboard.policy.suppression import clear_memo

    pages = page_calls(warehouse)
    out = []
    with bench_gate(warehouse, store_size=100_000) as gate:
        plans = []
        for page, role, purpose, all_calls, apptest_cold, apptest_warm in pages:
            p = Principal(user="bench-page", role=role, purpose=purpose)
            # a page asks for each distinct (measure, parameters) once per view
            calls = list({(n, repr(sorted(a.items()))): (n, a) for n, a in all_calls}.values())
            plans.append((page, role, p, calls, apptest_cold, apptest_warm))

        def run(p, calls, cold: bool):
            if cold:
                gate.clear_store()
                clear_memo()        # and suppression's own memo, so each cube is protected again
            return gate.query_many(p, calls, path="bench")

        cold = {page: median_seconds(lambda p=p, c=calls: run(p, c, True), repeat)
                for page, _, p, calls, _, _ in plans}
        t0 = time.perf_counter()
        gate.warm_up()
        warm_up_s = time.perf_counter() - t0
        for page, role, p, calls, apptest_cold, apptest_warm in plans:
            warm = median_seconds(lambda p=p, c=calls: run(p, c, False), repeat)
            answers = run(p, calls, False)
            out.append({"page": page, "role": role, "queries": len(calls), "ms": cold[page] * 1e3,
                        "warm_ms": warm * 1e3, "render_ms": median_seconds(lambda a=answers: _slice_all(a), repeat)
                        * 1e3, "apptest_ms": apptest_cold * 1e3, "apptest_warm_ms": apptest_warm * 1e3,
                        "warm_up_s": warm_up_s, "store_entries": gate.store_info()["entries"]})
    return out


def _slice_all(answers: list) -> int:
    """What a page's render phase does with its answers: every total and every one-dimension series (cube.py)."""
    from dashboard.app import cube

    n = 0
    for res in answers:
        if isinstance(res, Exception):
            continue
        count = next((c.name for c in res.columns if c.kind == "count"), None)
        if count is None:
            continue
        n += cube.total_row(res, {}) is not None
        for d in cube.dimensions(res):
            n += len(cube.series(res, {}, d, count))
    return n


def page_table(pages: list[dict], goal_ms: float):
    """The pages' figures as a rich Table (for `csc-dashboard bench`)."""
    from rich.table import Table

    t = Table(title=f"pages: request to data ready to render, service manager (goal < {goal_ms} ms)")
    for col in ("page", "gate calls", "cold ms", "warm ms", "slicing ms", "AppTest cold ms", "AppTest warm ms"):
        # page names are what readers look for: never cut them short on a narrow terminal
        t.add_column(col, justify="left" if col == "page" else "right", no_wrap=col == "page",
                     min_width=16 if col == "page" else None)
    for pg in pages:
        t.add_row(pg["page"], str(pg["queries"]), f"{pg['ms']:.1f}", f"{pg.get('warm_ms', float('nan')):.1f}",
                  f"{pg.get('render_ms', float('nan')):.1f}", f"{pg['apptest_ms']:.0f}",
                  f"{pg.get('apptest_warm_ms', float('nan')):.0f}")
    if pages and "warm_up_s" in pages[0]:
        t.caption = (f"warm-up: {pages[0]['store_entries']} protected cubes in {pages[0]['warm_up_s']:.1f} s "
                     "(background, at server start)")
    return t


def run_scale(name: str, warehouse: Path, children: int, rows: int, seconds: float, kind: str,
              repeat: int, log: Callable[[str], None]) -> ScaleResult:
    res = ScaleResult(name=name, children=children, build_rows=rows, build_seconds=seconds, build_kind=kind)
    log(f"[{name}] timing every named query, raw and through the gate")
    res.queries, res.largest_cube = time_queries(warehouse, repeat)
    try:
        log(f"[{name}] timing each page's queries through the gate")
        res.pages = time_pages(warehouse, repeat)
    except ImportError as exc:
        log(f"[{name}] pages skipped: {exc}")
    try:
        from dashboard.workbench.bench import bench_workbench

        log(f"[{name}] opening an analyst's workbench")
        res.workbench = bench_workbench(warehouse)
    except Exception as exc:  # report, don't hide: the figure is missing and why
        res.workbench = {"error": str(exc)[:120]}
    return res
