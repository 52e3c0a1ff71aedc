"""Benchmark of small-cell protection alone: `python -m dashboard.policy.bench_protect --warehouse FILE`.

For every aggregate named query, run it once through DuckDB (as a service manager's gate would: same rule-set,
same population), then time `gate.protect_frame` on that frame: the cells of the cube, the rows published, the
median CPU time and wall time of a first ask (the protection memo is cleared before every run, so what is
measured is the real work, never a cache hit), the same with the per-structure search tables cleared too (cold:
as a fresh process), and the median of a repeat ask (the memo answering). Prints figures; asserts nothing (speed
is never a test). `CSC_QUERIES=DIR` runs another set of named queries (say, the ones an older warehouse fits).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import typer

from dashboard.config import Settings


def _median_ms(fn, repeat: int, clear) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        clear()
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3


def main(
    warehouse: Path = typer.Option(..., help="A built warehouse (DuckDB file); opened read-only."),
    repeat: int = typer.Option(7, min=1, help="Runs per query; the median is printed."),
    query: list[str] = typer.Option([], help="Only these named queries (repeatable); default every aggregate."),
    role: str = typer.Option("service_manager", help="Whose rule-set and population to use."),
    purpose: str = typer.Option("service_management", help="The purpose the role asks under."),
) -> None:
    """Print, per aggregate named query, its cells and the median protect_frame time."""
    import duckdb

    from dashboard.cli import fail
    from dashboard.policy import Gate, Principal, Refusal
    from dashboard.policy.gate import protect_frame
    from dashboard.policy.suppression import clear_memo
    from dashboard.warehouse.queries import load_queries, run_query

    with tempfile.TemporaryDirectory(prefix="csc-bench-protect-") as tmp:
        try:
            gate = Gate.open(Settings(warehouse=warehouse, audit=Path(tmp) / "audit.duckdb"), cache_size=0)
        except (FileNotFoundError, duckdb.Error) as exc:      # no warehouse, or one this version cannot read
            raise fail(str(exc)) from None
        try:
            p = Principal(user="bench-protect", role=role, purpose=purpose)
            try:
                grant, purp = gate.grant_for(p)
            except Refusal as r:
                raise fail(r.reason) from None
            if grant.ruleset is None:
                raise fail(f"{role} under {purpose} gets no rule-set (no aggregate tier)")
            rs = gate.policy.rulesets[grant.ruleset]
            population = "no_objectors" if purp.exclude_objectors else "all"
            specs = sorted(load_queries(gate.queries_dir).items())
            names = set(query)
            print(f"rule-set {rs.name}, population {population}, median of {repeat} "
                  "(first ask: protection memo cleared before each run)")
            print(f"{'query':<28}{'cells':>7}{'rows':>7}{'hidden':>8}{'cold ms':>9}{'cpu ms':>9}{'wall ms':>9}"
                  f"{'repeat ms':>11}")
            totals = []
            for name, spec in specs:
                if spec.shape != "aggregate" or (names and name not in names):
                    continue
                bound = spec.bind({})
                try:
                    frame = run_query(gate.con, spec, bound, population=population)
                except Exception as exc:  # noqa: BLE001 - a warehouse too old for a query: say so and go on
                    print(f"{name:<28}  not run: {str(exc).splitlines()[0][:70]}")
                    continue

                def run(frame=frame, spec=spec, bound=bound):
                    return protect_frame(frame, spec, rs, p, grant, purp, bound, population)

                try:
                    res = run()
                except Exception as exc:  # noqa: BLE001 - a refusal is a figure too: say why and go on
                    print(f"{name:<28}{frame.height:>7}  refused: {str(exc)[:70]}")
                    continue
                cold, _ = _median_ms(run, repeat, lambda: clear_memo(structures=True))
                cpu, wall = _median_ms(run, repeat, clear_memo)
                _, warm = _median_ms(run, repeat, lambda: None)
                totals.append(cpu)
                print(f"{name:<28}{frame.height:>7}{len(res.rows):>7}{res.cells_suppressed:>8}"
                      f"{cold:>9.1f}{cpu:>9.1f}{wall:>9.1f}{warm:>11.2f}")
            if totals:
                print(f"{'all (' + str(len(totals)) + ' queries)':<28}{'':>31}{sum(totals):>9.1f}  "
                      f"median {statistics.median(totals):.1f} ms, max {max(totals):.1f} ms")
        finally:
            gate.con.close()
            gate.trail.close()


if __name__ == "__main__":
    typer.run(main)
