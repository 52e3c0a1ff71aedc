"""`build`, `protect` and `summary`: load the returns into the warehouse, protect what the pages show, and say
what is in it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("build")(build_cmd)
    app.command("protect")(protect_cmd)
    app.command("summary")(summary_cmd)


def build_cmd(
    ctx: typer.Context,
    source: Annotated[list[Path], typer.Option("--source", "-s", help="A folder (walked recursively for *.csv and "
                                               "*.xml) or a file: 903 CSV/XML, CIN census XML, local extracts. "
                                               "Repeatable.")],
    warehouse: Annotated[Path | None, typer.Option("--warehouse", help="Warehouse file to write (overrides the "
                                                   "global --warehouse / CSC_WAREHOUSE).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    examples: Annotated[int, typer.Option(help="Data-quality examples to print.")] = 5,
) -> None:
    """Build the warehouse from statutory returns and local extracts (atomic: the old file stays on failure)."""
    from dashboard.cli import fail
    from dashboard.warehouse.build import BuildError, build

    out = warehouse or ctx.obj.warehouse
    try:
        report = build(source, out, progress=progress)
    except BuildError as exc:
        raise fail(f"{exc.file}: {exc.reason}") from None
    except OSError as exc:
        raise fail(f"{out}: cannot write the warehouse ({exc.strerror or exc})") from None
    except Exception as exc:  # a bug must still not show users a traceback; the old warehouse is untouched
        raise fail(f"build failed ({type(exc).__name__}: {exc}); {out} was not changed") from None
    typer.echo(f"Built {report.out} from {len(report.files)} files"
               + (f" ({len(report.skipped)} non-data files skipped)" if report.skipped else ""))
    typer.echo(f"Loaded {report.rows_read:,} rows in {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)")
    typer.echo("CIN census years: " + (", ".join(map(str, report.census_years)) or "none")
               + "; 903 return years: " + (", ".join(map(str, report.return_years)) or "none"))
    typer.echo("Rows per table: " + ", ".join(f"{t} {n:,}" for t, n in report.table_rows.items() if n))
    total = sum(report.dq_counts.values())
    typer.echo(f"Data quality: {total:,} notes" + (" (table data_quality)" if total else ""))
    for rule, n in report.dq_counts.items():
        typer.echo(f"  {rule:<24} {n:>8,}")
    shown = report.dq_examples[:examples]
    if shown:
        typer.echo("First examples:")
    for e in shown:
        where = e["file"] + (f" row {e['row_number']}" if e["row_number"] is not None else "")
        field = f" {e['field']}" if e["field"] else ""
        typer.echo(f"  {where}{field}: [{e['rule']}, {e['action']}] {e['message']}")


def protect_cmd(
    ctx: typer.Context,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    policy_dir: Annotated[Path | None, typer.Option("--policies", help="Policy directory.")] = None,
    queries_dir: Annotated[Path | None, typer.Option("--queries", help="Named queries directory.")] = None,
) -> None:
    """Protect every cube the dashboard's pages offer and keep them beside the warehouse (run it after `build`).

    Every aggregate query x census year x (rule-set, population) some role uses, as the server's warm-up does,
    kept in WAREHOUSE.protected/ so that no page, server restart or `query` pays for protecting them. Shows
    nothing to anybody, so it writes no audit record (every answer is recorded when someone is given it)."""
    import sys
    import time

    from dashboard.cli import fail, open_gate

    gate = open_gate(ctx.obj, policy_dir, queries_dir)
    try:
        if gate.disk_store is None:
            raise fail(f"cannot keep protected cubes beside {ctx.obj.warehouse} (is its folder writable?)")
        t0 = time.perf_counter()
        kept_before = gate.disk_store.count()
        if progress and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("protecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("", total=None)
                gate.warm_up(progress=lambda done, total: bar.update(task, completed=done, total=total))
        else:
            gate.warm_up()
        status = dict(gate.warm_status)
        new = gate.disk_store.count() - kept_before
    finally:
        gate.close()
    typer.echo(f"Protected {status['done']:,} cubes in {time.perf_counter() - t0:.1f} s ({new:,} worked out now, "
               f"the rest already kept); kept in {gate.disk_store.folder.parent}")


def summary_cmd(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--as", help="Role to ask as, e.g. service_manager or ig_officer.")],
    user: Annotated[str | None, typer.Option("--user", help="User id recorded in the audit trail.")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Purpose [default: the role's first].")] = None,
) -> None:
    """Row counts per table, census and return years covered, and data-quality counts of the warehouse."""
    from dashboard.cli import cli_principal, fail, open_gate
    from dashboard.policy import Refusal

    # Why through the gate: table counts (how many objections, how many children) are data about children too;
    # like every other path they are decided by the role's purpose and recorded before they are printed.
    gate = open_gate(ctx.obj)
    try:
        try:
            s = gate.data_quality(cli_principal(gate, role, user, purpose=purpose), path="cli:summary")
        except Refusal as exc:
            raise fail(f"refused: {exc.reason}") from None
    finally:
        gate.close()
    typer.echo(f"Warehouse {ctx.obj.warehouse}")
    typer.echo("CIN census years: " + (", ".join(map(str, s["census_years"])) or "none"))
    typer.echo("903 return years: " + (", ".join(map(str, s["return_years"])) or "none"))
    typer.echo("Tables:")
    for t, n in s["tables"].items():
        typer.echo(f"  {t:<22} {n:>10,}")
    typer.echo("Data quality:" + ("" if s["data_quality"] else " none"))
    for rule, n in s["data_quality"].items():
        typer.echo(f"  {rule:<24} {n:>8,}")
