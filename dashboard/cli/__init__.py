"""The ``csc-dashboard`` command line (typer). Each area registers its commands from its own module.

No command here prints raw warehouse results: everything a user sees comes through the policy gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboard.config import Settings

app = typer.Typer(
    name="csc-dashboard",
    help="Children's social care analytics: build the warehouse, ask questions through the policy gate, serve the dashboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    warehouse: Annotated[
        Path | None,
        typer.Option("--warehouse", envvar="CSC_WAREHOUSE", help="Warehouse DuckDB file (default: data/warehouse.duckdb)."),
    ] = None,
    audit: Annotated[
        Path | None,
        typer.Option("--audit", envvar="CSC_AUDIT", help="Audit trail DuckDB file (default: data/audit.duckdb)."),
    ] = None,
) -> None:
    ctx.obj = Settings.from_env(warehouse, audit)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear message on stderr and return the Exit to raise (no traceback for users)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _register() -> None:
    # each module owns one area's commands; order is the order shown in --help
    from dashboard.cli import app_cmds, audit_cmds, bench_cmds, data_cmds, gen_cmds, policy_cmds, sql_cmds

    for module in (gen_cmds, data_cmds, policy_cmds, audit_cmds, sql_cmds, app_cmds, bench_cmds):
        module.register(app)


_register()


def main() -> None:
    app()
