"""`csc-dashboard bench`: print benchmark figures at authority and national scale (docs/benchmarks.md)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

GOALS = {
    "authority": {"query_ms": 100, "page_ms": 150},
    "national": {"query_ms": 1000, "page_ms": 1500},
}


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        scale: Annotated[str, typer.Option(help="authority, national or both.")] = "both",
        authority_children: Annotated[int, typer.Option(help="Children simulated for the mid-size authority.")] = 60_000,
        national_children: Annotated[
            int, typer.Option(help="Children simulated for the national data set (about 40% appear in the returns).")
        ] = 6_000_000,
        years: Annotated[str, typer.Option(help="Census years, FIRST-LAST.")] = "2020-2025",
        repeat: Annotated[int, typer.Option(help="Timed runs per figure (the median is printed).")] = 5,
        seed: Annotated[int, typer.Option(help="Generator seed.")] = 7,
        workdir: Annotated[Path | None, typer.Option(help="Keep the generated warehouses here.")] = None,
        national_warehouse: Annotated[
            Path | None, typer.Option(help="Time this existing national-scale warehouse instead of generating one.")
        ] = None,
    ) -> None:
        """Generate data sets, build them, and print build throughput and the median time of every named query
        (DuckDB alone beside the policy gate), each page, the analyst workbench and the audit trail."""
        from rich.console import Console
        from rich.table import Table

        from dashboard import bench as b
        from dashboard.cli import fail

        if scale not in ("authority", "national", "both"):
            raise fail("--scale must be authority, national or both")
        try:
            first, last = (int(x) for x in years.split("-"))
        except ValueError:
            raise fail("--years must look like 2020-2025") from None
        yrs = range(first, last + 1)
        # written to a file or a log, the tables keep their rows on one line each (rich would squeeze them to 80)
        con = Console() if sys.stdout.isatty() else Console(width=160)
        log = lambda m: con.print(f"[dim]{m}[/dim]")  # noqa: E731
        con.print(f"bench on {os.cpu_count()} cores")
        tmp = tempfile.TemporaryDirectory(prefix="csc-bench-")
        work = Path(workdir or tmp.name)
        work.mkdir(parents=True, exist_ok=True)
        # the benchmark's own pseudonym key: throw-away, never a real one
        os.environ.setdefault("CSC_PSEUDONYM_KEY_PLANNING", "bench-only-" + os.urandom(16).hex())
        results = []
        if scale in ("authority", "both"):
            log(f"[authority] generating {authority_children:,} children in the statutory formats and building")
            wh, rows, secs, kids = b.build_from_files(authority_children, seed, yrs, work)
            results.append(b.run_scale("authority", wh, kids, rows, secs, "files -> build", repeat, log))
        if scale in ("national", "both") and national_warehouse:
            import duckdb

            if not national_warehouse.exists():
                raise fail(f"{national_warehouse}: no such warehouse")
            with duckdb.connect(str(national_warehouse), read_only=True) as c:
                kids = c.execute("SELECT count(*) FROM child").fetchall()[0][0]
            results.append(b.run_scale("national", national_warehouse, kids, 0, 0.0, "existing warehouse", repeat, log))
        elif scale in ("national", "both"):
            log(f"[national] simulating {national_children:,} children in chunks, straight to a warehouse")
            wh, rows, secs, kids = b.build_direct(national_children, seed, yrs, work, progress=log)
            results.append(b.run_scale("national", wh, kids, rows, secs, "frames -> warehouse", repeat, log))
        try:
            from dashboard.audit.bench import bench_audit

            audit = bench_audit(work / "bench-audit.duckdb")
        except Exception as exc:  # the figure is missing: say why
            audit = {"error": str(exc)[:120]}

        for r in results:
            goal = GOALS[r.name]
            con.rule(f"{r.name}: {r.children:,} children")
            if r.build_rows:
                con.print(f"build ({r.build_kind}): {r.build_rows:,} rows in {r.build_seconds:.1f} s = "
                          f"{r.build_rows / max(r.build_seconds, 1e-9):,.0f} rows/s (goal >= 300,000)")
            t = Table(title=f"named queries, median of {repeat} (goal < {goal['query_ms']} ms through the gate)")
            for col in ("query", "cells", "DuckDB ms", "gate ms", "gate / DuckDB", "kept ms", "kept / DuckDB",
                        "note"):
                t.add_column(col, justify="right" if col not in ("query", "note") else "left")
            for q in r.queries:
                t.add_row(q["query"], str(q.get("cells", "")), f"{q['raw_ms']:.1f}",
                          "" if q["gate_ms"] is None else f"{q['gate_ms']:.1f}",
                          "" if q["ratio"] is None else f"{q['ratio']:.2f}x",
                          "" if q.get("kept_ms") is None else f"{q['kept_ms']:.1f}",
                          "" if q.get("kept_ratio") is None else f"{q['kept_ratio']:.2f}x", q["note"])
            t.caption = ("gate: a first ask (the query, protection, the audit record); kept: the same ask once the "
                         "protected cube is kept on disk beside the warehouse (any earlier process protected it)")
            con.print(t)
            if r.largest_cube:
                lc = r.largest_cube
                con.print(f"largest cube: {lc['query']} ({lc['cells']:,} cells) protected in {lc['protect_ms']:.1f} ms")
            if r.pages:
                con.print(b.page_table(r.pages, goal["page_ms"]))
            if r.workbench:
                con.print("workbench: " + ", ".join(
                    f"{k} {v:.3f}" + (" s" if k.endswith("_s") else "") if isinstance(v, float) else f"{k} {v}"
                    for k, v in r.workbench.items()))
        con.rule("audit trail")
        con.print("audit record: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in audit.items()))
        tmp.cleanup()
