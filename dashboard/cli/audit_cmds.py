"""``csc-dashboard audit ...``: verify the trail, export it, subject access reports, emergency reviews, findings.

Every command that shows entries first records the officer's own reading in the trail (event 'audit_read'):
whoever reads the audit trail is audited too. If that record cannot be written, nothing is shown.

The reader acts under the purpose ``audit``: ``--role``/``--as`` must be a role granted that purpose in
access_policies/roles.yml (``ig_officer``); any other role is refused, and the refusal is recorded, as the gate
does for queries. The reading is recorded with that grant's tier and the purpose's lawful basis.
"""

from __future__ import annotations

import getpass
import os
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dashboard.audit import AuditError, AuditTrail
from dashboard.audit.reports import emergency_queue, export_frame, search, subject_access_report
from dashboard.audit.unusual import (
    UnusualActivityConfigError,
    child_teams_from_warehouse,
    detect,
    load_thresholds,
)
from dashboard.cli import fail
from dashboard.config import POLICY_DIR
from dashboard.policy import PolicyError, load_policy

AUDIT_PURPOSE = "audit"

audit_app = typer.Typer(help="The audit trail: verify it, export it, subject access reports, emergency reviews.",
                        no_args_is_help=True)


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


class ReportFormat(StrEnum):
    text = "text"
    html = "html"
    markdown = "markdown"
    csv = "csv"


OfficerOpt = Annotated[str | None, typer.Option(
    "--officer", envvar="CSC_USER", help="Who is reading the trail (recorded; default: your login name).")]
RoleOpt = Annotated[str, typer.Option("--role", "--as", help="The reader's role: one granted the audit purpose "
                                      "(access_policies/roles.yml); recorded with the entry.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")]


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


def _trail(ctx: typer.Context, head: Path | None = None) -> AuditTrail:
    # every audit command reads an existing trail: a mistyped --audit must not quietly start a new, empty trail
    # (a subject access report from it would wrongly say nobody looked at the child's record)
    path = Path(ctx.obj.audit)
    if not path.is_file():
        raise fail(f"no audit trail at {path} (set --audit or CSC_AUDIT)")
    return AuditTrail(path, head)


def _officer(officer: str | None) -> str:
    if officer:
        return officer
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


def _authorise(trail: AuditTrail, officer: str, role: str, path: str, params: dict, *,
               event: str = "audit_read", child_ids: list[str] | None = None) -> dict:
    """The reader's grant under the audit purpose, as audit-entry fields; else a recorded refusal (fail closed).

    Why: the trail names children and what was done to them; only a role the policy grants the audit purpose may
    read it, however the command was typed. An unknown role or policy problem is a refusal, never a default.
    """
    try:
        policy = load_policy(POLICY_DIR)
    except PolicyError as exc:
        raise fail(f"the access policy cannot be read, so the audit trail is not shown: {exc}") from None
    grant = policy.roles[role].grants.get(AUDIT_PURPOSE) if role in policy.roles else None
    purpose = policy.purposes.get(AUDIT_PURPOSE)
    if grant is None or purpose is None:
        readers = sorted(r.name for r in policy.roles.values() if AUDIT_PURPOSE in r.grants)
        what = "is not a role" if role not in policy.roles else "is not granted the audit purpose"
        reason = (f"{role!r} {what} in access_policies/roles.yml, so it may not read the audit trail "
                  f"(roles that may: {', '.join(readers) or 'none'}); use --role {readers[0] if readers else '...'}")
        try:
            trail.record({"user": officer, "role": role, "teams": [], "purpose": AUDIT_PURPOSE, "path": path,
                          "event": event, "outcome": "refused", "reason": reason, "params": params,
                          "child_ids": child_ids or []})
        except AuditError as exc:
            raise fail(f"{reason} (and the audit trail could not record this: {exc})") from None
        raise fail(reason)
    # an officer acting for the whole authority has no team; recorded as such, not left blank
    return {"role": role, "teams": [], "purpose": AUDIT_PURPOSE, "lawful_basis": purpose.lawful_basis.text(),
            "tier": grant.tier}


def _record_read(trail: AuditTrail, officer: str, role: str, path: str, params: dict, *, rows: int | None = None,
                 child_ids: list[str] | None = None, query: str | None = None) -> None:
    """Check the reader's role, then record the reading BEFORE it is shown; if it cannot be recorded, stop."""
    grant = _authorise(trail, officer, role, path, params, child_ids=child_ids)
    try:
        trail.record({"user": officer, **grant, "path": path, "event": "audit_read",
                      "outcome": "allowed", "query": query, "params": params, "rows": rows,
                      "child_ids": child_ids or []})
    except AuditError as exc:
        raise fail(f"not shown, because the reading could not be recorded: {exc}") from None


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    typer.echo(f"Wrote {output}", err=True)


@audit_app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    head: Annotated[Path | None, typer.Option("--head", help="Chain head file (default: <audit>.head).")] = None,
) -> None:
    """Check the trail: name the first entry edited, deleted, inserted or reordered, or a truncation.

    Walks the hash chain and compares it with its head. Exit 0 when intact, 1 when tampered.

    Not itself recorded: it shows no personal data, and it must run on a damaged or read-only copy.
    """
    try:
        result = _trail(ctx, head).verify()
    except AuditError as exc:
        raise fail(str(exc)) from None
    if not result.ok:
        typer.echo(f"{ctx.obj.audit}: {result.message()}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{ctx.obj.audit}: {result.message()}")


@audit_app.command("export")
def export_cmd(
    ctx: typer.Context,
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD, UTC), inclusive.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD, UTC), inclusive.")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or json (one entry per line).")] = ExportFormat.csv,
    user: Annotated[str | None, typer.Option("--user", help="Only entries by this user.")] = None,
    role: Annotated[str | None, typer.Option("--by-role", help="Only entries by this role.")] = None,
    child: Annotated[str | None, typer.Option("--child", help="Only entries showing this child id.")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Only entries under this purpose.")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="allowed or refused.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="Only this path; a trailing * matches a prefix.")] = None,
    officer: OfficerOpt = None,
    reader_role: RoleOpt = "ig_officer",
    output: OutputOpt = None,
) -> None:
    """Export entries (filtered) as CSV or JSON lines. The export is recorded first."""
    since, until = _date(from_, "--from"), _date(to, "--to")
    if outcome is not None and outcome not in ("allowed", "refused"):
        raise fail("--outcome must be 'allowed' or 'refused'")
    trail = _trail(ctx)
    try:
        frame = search(trail, user=user, role=role, child_id=child, purpose=purpose, since=since, until=until,
                       outcome=outcome, path=path)
    except AuditError as exc:
        raise fail(str(exc)) from None
    params = {k: v for k, v in {"from": from_, "to": to, "format": fmt.value, "user": user, "role": role,
                                "child": child, "purpose": purpose, "outcome": outcome, "path": path}.items()
              if v is not None}
    _record_read(trail, _officer(officer), reader_role, "cli:audit export", params, rows=frame.height,
                 child_ids=[child] if child else None, query="audit_export")
    _emit(export_frame(frame, fmt.value), output)


@audit_app.command("child")
def child_cmd(
    ctx: typer.Context,
    child_id: Annotated[str, typer.Argument(help="The council's child identifier.")],
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text, html, markdown or csv.")] = ReportFormat.text,
    officer: OfficerOpt = None,
    reader_role: RoleOpt = "ig_officer",
    output: OutputOpt = None,
) -> None:
    """Subject access report: every recorded access to one child's record (who, when, where, purpose, basis)."""
    trail = _trail(ctx)
    who = _officer(officer)
    # recorded first, so the report lists its own production: the child has a right to know it was made
    _record_read(trail, who, reader_role, "cli:audit child", {"child_id": child_id, "format": fmt.value},
                 child_ids=[child_id], query="subject_access_report")
    try:
        report = subject_access_report(trail, child_id, generated_by=who)
    except AuditError as exc:
        raise fail(str(exc)) from None
    text = {"text": report.to_text, "html": report.to_html, "markdown": report.to_markdown,
            "csv": report.to_csv}[fmt.value]()
    _emit(text, output)


@audit_app.command("review")
def review_cmd(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include emergency accesses already reviewed.")] = False,
    officer: OfficerOpt = None,
    reader_role: RoleOpt = "ig_officer",
) -> None:
    """List the emergency-access review queue (not yet reviewed, unless --all)."""
    trail = _trail(ctx)
    try:
        queue = emergency_queue(trail, include_reviewed=all_)
    except AuditError as exc:
        raise fail(str(exc)) from None
    kids = sorted({c for ids in queue["child_ids"].to_list() for c in ids})
    _record_read(trail, _officer(officer), reader_role, "cli:audit review", {"all": all_}, rows=queue.height,
                 child_ids=kids, query="emergency_queue")
    if queue.is_empty():
        typer.echo("No emergency accesses" + ("." if all_ else " awaiting review."))
        return
    for r in queue.iter_rows(named=True):
        status = (f"reviewed by {r['reviewer']}: {r['decision']}" if r["reviewed"] else "AWAITING REVIEW")
        typer.echo(f"#{r['seq']}  {r['ts']:%Y-%m-%d %H:%M} UTC  {r['user']} ({r['role'] or '-'})  children "
                   f"{', '.join(r['child_ids']) or '-'}  expires {r['expires_at'] or '-'}  [{status}]")
        typer.echo(f"      reason: {r['emergency_reason'] or '(none given)'}")
    typer.echo("Record a decision with: csc-dashboard audit decide SEQ --justified|--not-justified --note TEXT")


@audit_app.command("decide")
def decide_cmd(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="The emergency access entry number (from `audit review`).")],
    justified: Annotated[bool | None, typer.Option("--justified/--not-justified",
                                                   help="Your decision (required).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why; kept with the decision.")] = None,
    officer: OfficerOpt = None,
    reader_role: RoleOpt = "ig_officer",
) -> None:
    """Record a review decision on one emergency access (its own entry in the trail)."""
    if justified is None:
        raise fail("say --justified or --not-justified")
    trail, who = _trail(ctx), _officer(officer)
    grant = _authorise(trail, who, reader_role, "cli:audit decide", {"seq": seq}, event="emergency_review")
    try:
        rseq = trail.review_emergency(seq, who, justified, note, role=reader_role, path="cli:audit decide",
                                      lawful_basis=grant["lawful_basis"], tier=grant["tier"])
    except AuditError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"Recorded review of emergency access {seq} as entry {rseq}: "
               f"{'justified' if justified else 'not justified'}.")


@audit_app.command("unusual")
def unusual_cmd(
    ctx: typer.Context,
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD, UTC), inclusive.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD, UTC), inclusive.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Thresholds file "
                                                "(default: access_policies/unusual_activity.yml).")] = None,
    officer: OfficerOpt = None,
    reader_role: RoleOpt = "ig_officer",
) -> None:
    """Unusual activity: children outside a team, large exports, out-of-hours bulk, repeated refusals.

    Thresholds come from access_policies/unusual_activity.yml; team allocations from the warehouse when it exists.
    """
    since, until = _date(from_, "--from"), _date(to, "--to")
    try:
        thresholds = load_thresholds(config)
    except UnusualActivityConfigError as exc:
        raise fail(str(exc)) from None
    trail = _trail(ctx)
    warehouse = ctx.obj.warehouse
    try:
        allocations = child_teams_from_warehouse(warehouse) if Path(warehouse).is_file() else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        findings = detect(search(trail, since=since, until=until), thresholds, allocations)
    except AuditError as exc:
        raise fail(str(exc)) from None
    _record_read(trail, _officer(officer), reader_role, "cli:audit unusual",
                 {k: v for k, v in {"from": from_, "to": to}.items() if v}, rows=len(findings),
                 query="unusual_activity")
    if allocations is None:
        typer.echo(f"Note: no warehouse at {warehouse}; only emergency accesses count as outside a team.", err=True)
    if not findings:
        typer.echo("No unusual activity found.")
        return
    for f in findings:
        typer.echo(f"[{f.rule}] {f.explanation} Entries: {', '.join(map(str, f.seqs[:20]))}"
                   + (" ..." if len(f.seqs) > 20 else ""))
