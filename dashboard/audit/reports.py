"""Queries for the information-governance officer: search, subject access report, emergency review queue.

Pure Python returning Polars frames (the IG pages render them). Reading these is itself an access: the caller
(CLI or page) records it in the trail before showing anything.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from dashboard.audit.trail import AuditTrail, _utc_naive

#: columns of a search result an officer reads (hashes and seals are for `verify`, not for people)
SEARCH_COLUMNS = [
    "seq", "ts", "user", "role", "teams", "purpose", "lawful_basis", "path", "event", "outcome", "reason", "query",
    "sql", "params", "rows", "ruleset", "cells_suppressed", "tier", "child_ids", "tables_read", "columns_read",
    "emergency_reason", "expires_at", "review_of", "decision", "note", "extra",
]


def _start(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    return _utc_naive(value if isinstance(value, datetime) else datetime.combine(value, time.min), "since")


def _end(value: date | datetime | None) -> datetime | None:
    """An end date is inclusive (the whole day); an end date-time is exclusive."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc_naive(value, "until")
    return datetime.combine(value + timedelta(days=1), time.min)


def search(trail: AuditTrail, *, user: str | None = None, role: str | None = None, child_id: str | None = None,
           purpose: str | None = None, since: date | datetime | None = None, until: date | datetime | None = None,
           outcome: str | None = None, path: str | None = None, event: str | None = None) -> pl.DataFrame:
    """Entries matching every given filter, oldest first. ``path`` ending in '*' matches a prefix ('export:*')."""
    conds: list[str] = []
    params: list[Any] = []
    for column, value in (("user", user), ("role", role), ("purpose", purpose), ("outcome", outcome),
                          ("event", event)):
        if value is not None:
            conds.append(f'e."{column}" = ?')
            params.append(value)
    if path is not None:
        if path.endswith("*"):
            conds.append("starts_with(e.path, ?)")
            params.append(path[:-1])
        else:
            conds.append("e.path = ?")
            params.append(path)
    if child_id is not None:
        conds.append("e.seq IN (SELECT seq FROM audit_child WHERE child_id = ?)")
        params.append(str(child_id))
    if (start := _start(since)) is not None:
        conds.append("e.ts >= ?")
        params.append(start)
    if (end := _end(until)) is not None:
        conds.append("e.ts < ?")
        params.append(end)
    return trail.frame(" AND ".join(conds), params).select(SEARCH_COLUMNS)


# ------------------------------------------------------------------------------------------ subject access report
SAR_COLUMNS = ["seq", "ts", "user", "role", "purpose", "lawful_basis", "path", "event", "outcome", "reason",
               "emergency_reason"]
SAR_HEADINGS = {
    "seq": "Entry", "ts": "When (UTC)", "user": "By whom", "role": "Role", "purpose": "Purpose",
    "lawful_basis": "Lawful basis", "path": "Where (screen, export, query)", "event": "Kind of access",
    "outcome": "Outcome", "reason": "Reason given by the system", "emergency_reason": "Emergency reason",
}


@dataclass
class SubjectAccessReport:
    """Every recorded access to one child's record: by whom, when, where, under which purpose and basis."""

    child_id: str
    frame: pl.DataFrame
    generated_at: datetime
    generated_by: str | None = None

    def _rows(self) -> list[dict[str, str]]:
        out = []
        for rec in self.frame.iter_rows(named=True):
            out.append({c: _cell(rec[c]) for c in SAR_COLUMNS})
        return out

    def summary(self) -> list[str]:
        f = self.frame
        if f.is_empty():
            return ["No access to this child's record is recorded in the audit trail."]
        allowed = f.filter(pl.col("outcome") == "allowed")
        lines = [
            f"Accesses recorded: {f.height} ({allowed.height} allowed, {f.height - allowed.height} refused).",
            f"People: {f['user'].n_unique()}.",
            f"First: {_cell(f['ts'].min())} UTC. Last: {_cell(f['ts'].max())} UTC.",
        ]
        emergency = f.filter(pl.col("event") == "emergency_access").height
        if emergency:
            lines.append(f"Emergency (break-glass) accesses: {emergency}; each is reviewed by an information "
                         "governance officer.")
        return lines

    def _intro(self) -> list[str]:
        return [
            f"Child identifier: {self.child_id}",
            f"Produced: {_cell(_utc_naive(self.generated_at, 'generated_at'))} UTC"
            + (f" by {self.generated_by}" if self.generated_by else ""),
            "Source: the children's services analytics audit trail (tamper-evident; every access is recorded "
            "before any data is shown).",
        ]

    NOTES = (
        "Each row is one occasion on which someone asked to see information that included this child's record.",
        "'Outcome' is 'allowed' when information was shown and 'refused' when the system declined the request.",
        "'Purpose' is what the person said they were doing (for example direct care); 'Lawful basis' is the "
        "legal ground recorded for that role and purpose.",
        "The audit trail holds identifiers only, never names: the council adds the child's name when sending "
        "this report.",
    )

    def to_text(self) -> str:
        title = "Record of access to a child's social care record"
        lines = [title, "=" * len(title), "", *self._intro(), "", *self.summary(), ""]
        rows = self._rows()
        if rows:
            widths = {c: max(len(SAR_HEADINGS[c]), *(len(r[c]) for r in rows)) for c in SAR_COLUMNS}
            shown = [c for c in SAR_COLUMNS if any(r[c] for r in rows) or c in ("seq", "ts", "user", "outcome")]
            lines.append("  ".join(SAR_HEADINGS[c].ljust(widths[c]) for c in shown).rstrip())
            lines.append("  ".join("-" * widths[c] for c in shown))
            for r in rows:
                lines.append("  ".join(r[c].ljust(widths[c]) for c in shown).rstrip())
            lines.append("")
        lines += ["Notes", "-----", *(f"* {n}" for n in self.NOTES)]
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        lines = ["# Record of access to a child's social care record", "", *(f"- {x}" for x in self._intro()), "",
                 "## Summary", "", *(f"- {x}" for x in self.summary()), ""]
        rows = self._rows()
        if rows:
            lines += ["## Accesses", "", "| " + " | ".join(SAR_HEADINGS[c] for c in SAR_COLUMNS) + " |",
                      "|" + "---|" * len(SAR_COLUMNS)]
            for r in rows:
                lines.append("| " + " | ".join(r[c].replace("|", "\\|") for c in SAR_COLUMNS) + " |")
            lines.append("")
        lines += ["## Notes", "", *(f"- {n}" for n in self.NOTES)]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        e = html.escape
        head = "".join(f"<th scope='col'>{e(SAR_HEADINGS[c])}</th>" for c in SAR_COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{e(r[c])}</td>" for c in SAR_COLUMNS) + "</tr>" for r in self._rows())
        table = (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if body
                 else "<p>No access to this child's record is recorded.</p>")
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Record of access: child {e(self.child_id)}</title>
<style>
body {{ font-family: Arial, Helvetica, sans-serif; margin: 2em; color: #0b0c0c; }}
h1 {{ font-size: 1.6em; }} table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
th, td {{ border: 1px solid #b1b4b6; padding: 4px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f3f2f1; }} .meta li, .summary li {{ margin: 2px 0; }}
</style></head><body>
<h1>Record of access to a child's social care record</h1>
<ul class="meta">{"".join(f"<li>{e(x)}</li>" for x in self._intro())}</ul>
<h2>Summary</h2><ul class="summary">{"".join(f"<li>{e(x)}</li>" for x in self.summary())}</ul>
<h2>Accesses</h2>{table}
<h2>Notes</h2><ul>{"".join(f"<li>{e(n)}</li>" for n in self.NOTES)}</ul>
</body></html>
"""

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(SAR_COLUMNS)
        for r in self._rows():
            w.writerow([_csv_safe(r[c]) for c in SAR_COLUMNS])
        return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _csv_safe(text: str) -> str:
    # a cell starting with = + - @ is run as a formula by spreadsheet programs (CSV injection); the trail holds
    # user-supplied text (reasons, notes), so neutralise it before it reaches an officer's spreadsheet
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def subject_access_report(trail: AuditTrail, child_id: str, *, generated_by: str | None = None,
                          now: datetime | None = None) -> SubjectAccessReport:
    frame = search(trail, child_id=child_id).select(SAR_COLUMNS)
    return SubjectAccessReport(str(child_id), frame, now or datetime.now(UTC), generated_by)


# ------------------------------------------------------------------------------------------ emergency review queue
def emergency_queue(trail: AuditTrail, *, include_reviewed: bool = True) -> pl.DataFrame:
    """Each emergency access: who, when, which children, the reason, expiry, and the review (if any)."""
    grants = search(trail, event="emergency_access").select(
        "seq", "ts", "user", "role", "teams", "child_ids", "emergency_reason", "expires_at", "outcome")
    reviews = search(trail, event="emergency_review").select(
        pl.col("review_of").alias("seq"), pl.col("seq").alias("review_seq"), pl.col("user").alias("reviewer"),
        pl.col("ts").alias("reviewed_at"), "decision", pl.col("note").alias("review_note"),
    ).unique("seq", keep="first")
    queue = grants.join(reviews, on="seq", how="left").with_columns(
        pl.col("review_seq").is_not_null().alias("reviewed")).sort("seq")
    if not include_reviewed:
        queue = queue.filter(~pl.col("reviewed"))
    return queue


def export_frame(frame: pl.DataFrame, fmt: str) -> str:
    """An entries frame as CSV (lists joined with ';', formula-safe) or JSON lines."""
    if fmt == "json":
        return frame.write_ndjson()
    flat = frame.with_columns(
        [pl.col(c).list.join(";") for c, t in frame.schema.items() if isinstance(t, pl.List)]
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(flat.columns)
    for rec in flat.iter_rows():
        w.writerow([_csv_safe(v) if isinstance(v, str) else v.isoformat(sep=" ") if isinstance(v, datetime)
                    else _cell(v) for v in rec])
    return buf.getvalue()
