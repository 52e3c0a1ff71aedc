"""``csc-dashboard sql "SQL" --as ROLE``: the analyst's workbench from the command line.

The statement runs in a locked DuckDB instance that holds only the principal's pseudonymised planning mart
(dashboard/workbench); it is recorded in the audit trail (path 'cli:sql') before anything is printed.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from dashboard.cli import fail, open_gate


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def sql(
    ctx: typer.Context,
    statement: Annotated[str, typer.Argument(metavar="SQL", help="One SELECT (or WITH ... SELECT) over your mart.")],
    role: Annotated[str, typer.Option("--as", help="The role you act in (it needs a pseudonymised tier).")],
    user: Annotated[str | None, typer.Option("--user", envvar="CSC_USER",
                                             help="Who you are, recorded with every statement (default: your login name).")] = None,
    purpose: Annotated[str | None, typer.Option(
        "--purpose", help="The purpose you act under (default: the role's pseudonymised purpose).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.1, max=600,
                                              help="Stop the statement after this many seconds.")] = 30.0,
) -> None:
    """Run one read-only SQL statement over your pseudonymised planning mart (audited, row-capped)."""
    from dashboard.workbench import Limits, Workbench, WorkbenchError, workbench_purpose
    from dashboard.workbench.session import audit_of, record_refusal

    try:
        from dashboard.policy import Principal
    except ImportError as e:
        raise fail(f"the policy gate is not available ({e})") from None
    gate = open_gate(ctx.obj)
    who = user or _default_user()
    try:
        try:
            chosen = workbench_purpose(gate.policy, role, purpose)
        except WorkbenchError as e:
            # a role with no workbench is still recorded: the IG officer sees who tried
            record_refusal(audit_of(gate), gate.policy, Principal(user=who, role=role, purpose=purpose or ""),
                           "cli:sql", e.reason)
            raise
        principal = Principal(user=who, role=role, purpose=chosen)
        with Workbench.open(gate, principal, path="cli:sql", limits=Limits(time_limit_s=time_limit)) as wb:
            result = wb.run(statement, path="cli:sql")
    except WorkbenchError as e:
        raise fail(e.reason) from None
    finally:
        close = getattr(gate, "close", None)
        if close:
            close()
    _print(result, fmt)


def _print(result, fmt: Format) -> None:
    from dashboard.workbench.export import _safe

    frame = result.frame
    if fmt is Format.json:
        typer.echo(json.dumps(result.to_json(), default=str))
        return
    if fmt is Format.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow([_safe(c) for c in frame.columns])
        for row in frame.iter_rows():
            w.writerow([_safe(v) for v in row])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for c in frame.columns:
            table.add_column(c)
        for row in frame.iter_rows():
            table.add_row(*["" if v is None else str(v) for v in row])
        Console(soft_wrap=True).print(table)
    if result.truncated:
        typer.echo(f"Showing {frame.height:,} of {result.row_count:,} rows (the workbench display cap).", err=True)
    else:
        typer.echo(f"{result.row_count:,} row(s).", err=True)
