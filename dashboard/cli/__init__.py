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


def open_gate(settings: Settings, policy_dir: Path | None = None, queries_dir: Path | None = None):
    """The policy gate every command that shows data asks, or a clean `Error:` exit (no traceback) when the
    policy, the named queries or the warehouse cannot be opened."""
    from dashboard.config import POLICY_DIR, QUERIES_DIR
    from dashboard.policy import Gate, PolicyError
    from dashboard.warehouse.queries import QueryError

    try:
        return Gate.open(settings, policy_dir=policy_dir or POLICY_DIR, queries_dir=queries_dir or QUERIES_DIR)
    except (PolicyError, QueryError, FileNotFoundError) as e:   # FileNotFoundError includes WarehouseOutdated
        raise fail(str(e)) from None
    except Exception as e:  # noqa: BLE001 - e.g. a file that is not a warehouse: say so, no traceback
        raise fail(f"{settings.warehouse}: cannot open the warehouse ({e})") from None


def cli_principal(gate, role: str, user: str | None = None, teams: tuple[str, ...] = (), purpose: str | None = None,
                  worker: str | None = None):
    """Who a command acts as: `--as ROLE` under `--purpose` (default: the role's first granted purpose; an unknown
    role keeps an empty purpose, so the gate refuses it by name and records the refusal)."""
    import getpass

    from dashboard.policy import Principal

    if purpose is None:
        r = gate.policy.roles.get(role)
        purpose = next(iter(r.grants), "") if r else ""
    return Principal(user or getpass.getuser(), role, tuple(teams), purpose, worker)


def _register() -> None:
    # each module owns one area's commands; order is the order shown in --help
    from dashboard.cli import app_cmds, audit_cmds, bench_cmds, data_cmds, gen_cmds, policy_cmds, sql_cmds

    for module in (gen_cmds, data_cmds, policy_cmds, audit_cmds, sql_cmds, app_cmds, bench_cmds):
        module.register(app)


_register()


def main() -> None:
    app()
