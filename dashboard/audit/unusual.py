"""Unusual-activity detection over the audit trail, with thresholds from access_policies/unusual_activity.yml.

Each finding says which rule fired, for whom, when, the count against its threshold, the entries behind it, and a
sentence an information-governance officer can act on. Findings are prompts to look, not verdicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import holidays
import polars as pl
import yaml

from dashboard.config import POLICY_DIR

DEFAULT_CONFIG = POLICY_DIR / "unusual_activity.yml"
#: entries that are about the trail itself, not a look at a child's record
NOT_VIEWS = ("emergency_review", "sign_in")

_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "children_outside_team": {"distinct_children_per_day": int},
    "large_export": {"rows": int, "children": int},
    "out_of_hours_bulk": {"working_hours": dict, "distinct_children": int, "rows": int},
    "repeated_refusals": {"refusals": int, "window_minutes": int},
}


class UnusualActivityConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Thresholds:
    timezone: str
    outside_team_children: int
    export_rows: int
    export_children: int
    work_start: dtime
    work_end: dtime
    ooh_children: int
    ooh_rows: int
    refusals: int
    refusal_window: timedelta


def load_thresholds(path: Path | None = None) -> Thresholds:
    """Read and check the thresholds file; any missing, unknown or non-positive value is an error naming it."""
    path = Path(path or DEFAULT_CONFIG)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UnusualActivityConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise UnusualActivityConfigError(f"{path}: expected a mapping of rules")
    unknown = set(doc) - set(_SCHEMA) - {"timezone"}
    if unknown:
        raise UnusualActivityConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for rule, fields in _SCHEMA.items():
        section = doc.get(rule)
        if not isinstance(section, dict):
            raise UnusualActivityConfigError(f"{path}: section {rule!r} is missing")
        extra = set(section) - set(fields)
        if extra:
            raise UnusualActivityConfigError(f"{path}: {rule}: unknown key(s) {', '.join(sorted(extra))}")
        for name, typ in fields.items():
            value = section.get(name)
            if not isinstance(value, typ) or isinstance(value, bool) or (typ is int and value < 1):
                raise UnusualActivityConfigError(f"{path}: {rule}.{name} must be a positive whole number"
                                                 if typ is int else f"{path}: {rule}.{name} is missing or invalid")
    tz = str(doc.get("timezone", "Europe/London"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnusualActivityConfigError(f"{path}: unknown timezone {tz!r}") from exc
    hours = doc["out_of_hours_bulk"]["working_hours"]
    try:
        start, end = dtime.fromisoformat(str(hours["start"])), dtime.fromisoformat(str(hours["end"]))
    except (KeyError, ValueError) as exc:
        raise UnusualActivityConfigError(f"{path}: out_of_hours_bulk.working_hours needs start and end as "
                                         "HH:MM") from exc
    if start >= end:
        raise UnusualActivityConfigError(f"{path}: out_of_hours_bulk.working_hours: start must be before end")
    return Thresholds(
        timezone=tz,
        outside_team_children=doc["children_outside_team"]["distinct_children_per_day"],
        export_rows=doc["large_export"]["rows"], export_children=doc["large_export"]["children"],
        work_start=start, work_end=end,
        ooh_children=doc["out_of_hours_bulk"]["distinct_children"], ooh_rows=doc["out_of_hours_bulk"]["rows"],
        refusals=doc["repeated_refusals"]["refusals"],
        refusal_window=timedelta(minutes=doc["repeated_refusals"]["window_minutes"]),
    )


@dataclass
class Finding:
    rule: str
    user: str
    start: datetime          # UTC
    end: datetime            # UTC
    count: int
    threshold: int
    explanation: str
    seqs: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "user": self.user, "start": self.start, "end": self.end, "count": self.count,
                "threshold": self.threshold, "explanation": self.explanation, "seqs": self.seqs}


#: child id -> its allocations: a team id (allocated throughout) or (team_id, start_date, end_date or None)
ChildTeams = Mapping[str, Iterable[str | tuple[str, date, date | None]]]


def child_teams_from_warehouse(warehouse: Path) -> dict[str, list[tuple[str, date, date | None]]]:
    """Allocations read from a built warehouse (read-only), for the children_outside_team rule."""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            rows = con.execute("SELECT child_id, team_id, start_date, end_date FROM allocation").fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise ValueError(f"cannot read team allocations from the warehouse {warehouse}: {exc}") from exc
    out: dict[str, list[tuple[str, date, date | None]]] = defaultdict(list)
    for cid, team, start, end in rows:
        out[str(cid)].append((str(team), start, end))
    return dict(out)


def _in_team(child: str, teams: set[str], on: date, child_teams: ChildTeams) -> bool:
    for alloc in child_teams.get(child, ()):
        if isinstance(alloc, str):
            if alloc in teams:
                return True
        else:
            team, start, end = alloc
            if team in teams and start <= on and (end is None or on <= end):
                return True
    return False


def detect(entries: pl.DataFrame, thresholds: Thresholds | None = None,
           child_teams: ChildTeams | None = None) -> list[Finding]:
    """Findings over an entries frame (``AuditTrail.frame()`` or ``reports.search``), oldest first.

    children_outside_team needs ``child_teams`` (allocations); without it, only children reached through emergency
    access count as outside the user's team.
    """
    t = thresholds or load_thresholds()
    tz = ZoneInfo(t.timezone)
    bank = holidays.country_holidays("GB", subdiv="ENG")
    recs = sorted(entries.iter_rows(named=True), key=lambda r: r["seq"])

    def local(ts: datetime) -> datetime:
        return ts.replace(tzinfo=UTC).astimezone(tz)

    findings: list[Finding] = []
    views = [r for r in recs if r["outcome"] == "allowed" and r["event"] not in NOT_VIEWS
             and not str(r["event"]).startswith("audit")]

    # 1. many children outside the user's team on one local day
    outside: dict[tuple[str, date], dict[str, int]] = defaultdict(dict)   # (user, day) -> child -> first seq
    outside_seqs: dict[tuple[str, date], list[dict]] = defaultdict(list)
    for r in views:
        day = local(r["ts"]).date()
        teams = set(r["teams"] or [])
        hit = False
        for cid in r["child_ids"] or []:
            if child_teams is None:
                is_outside = r["event"] == "emergency_access"
            else:
                is_outside = not _in_team(cid, teams, day, child_teams)
            if is_outside:
                outside[(r["user"], day)].setdefault(cid, r["seq"])
                hit = True
        if hit:
            outside_seqs[(r["user"], day)].append(r)
    for (user, day), kids in outside.items():
        if len(kids) >= t.outside_team_children:
            rs = outside_seqs[(user, day)]
            findings.append(Finding(
                "children_outside_team", user, rs[0]["ts"], rs[-1]["ts"], len(kids), t.outside_team_children,
                f"{user} viewed {len(kids)} different children not allocated to their team(s) on {day:%d %B %Y} "
                f"(threshold {t.outside_team_children}).", [r["seq"] for r in rs]))

    # 2. large exports, one finding per export
    for r in views:
        if not (r["event"] == "export" or str(r["path"]).startswith("export:")):
            continue
        n_rows, n_kids = r["rows"] or 0, len(r["child_ids"] or [])
        why = []
        if n_rows >= t.export_rows:
            why.append(f"{n_rows} rows (threshold {t.export_rows})")
        if n_kids >= t.export_children:
            why.append(f"{n_kids} identifiable children (threshold {t.export_children})")
        if why:
            findings.append(Finding(
                "large_export", r["user"], r["ts"], r["ts"], max(n_rows, n_kids),
                t.export_rows if n_rows >= t.export_rows else t.export_children,
                f"{r['user']} exported {' and '.join(why)} via {r['path']} at {local(r['ts']):%H:%M on %d %B %Y}.",
                [r["seq"]]))

    # 3. bulk access out of hours, per user per local day
    ooh: dict[tuple[str, date], list[dict]] = defaultdict(list)
    for r in views:
        lt = local(r["ts"])
        working = lt.weekday() < 5 and lt.date() not in bank and t.work_start <= lt.time() < t.work_end
        if not working:
            ooh[(r["user"], lt.date())].append(r)
    for (user, day), rs in ooh.items():
        kids = {c for r in rs for c in (r["child_ids"] or [])}
        n_rows = sum(r["rows"] or 0 for r in rs)
        why = []
        if len(kids) >= t.ooh_children:
            why.append(f"{len(kids)} different children (threshold {t.ooh_children})")
        if n_rows >= t.ooh_rows:
            why.append(f"{n_rows} rows (threshold {t.ooh_rows})")
        if why:
            findings.append(Finding(
                "out_of_hours_bulk", user, rs[0]["ts"], rs[-1]["ts"],
                len(kids) if len(kids) >= t.ooh_children else n_rows,
                t.ooh_children if len(kids) >= t.ooh_children else t.ooh_rows,
                f"{user} saw {' and '.join(why)} outside working hours on {day:%A %d %B %Y} "
                f"({len(rs)} accesses between {local(rs[0]['ts']):%H:%M} and {local(rs[-1]['ts']):%H:%M}).",
                [r["seq"] for r in rs]))

    # 4. repeated refusals within a sliding window (greedy: each refusal belongs to at most one finding)
    refused: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        if r["outcome"] == "refused":
            refused[r["user"]].append(r)
    for user, rs in refused.items():
        i = 0
        while i < len(rs):
            j = i
            while j + 1 < len(rs) and rs[j + 1]["ts"] - rs[i]["ts"] <= t.refusal_window:
                j += 1
            if j - i + 1 >= t.refusals:
                group = rs[i:j + 1]
                minutes = int(t.refusal_window.total_seconds() // 60)
                findings.append(Finding(
                    "repeated_refusals", user, group[0]["ts"], group[-1]["ts"], len(group), t.refusals,
                    f"{user} was refused {len(group)} times within {minutes} minutes "
                    f"({local(group[0]['ts']):%H:%M}-{local(group[-1]['ts']):%H:%M} on "
                    f"{local(group[0]['ts']):%d %B %Y}; threshold {t.refusals}): possibly probing for data "
                    "outside their access.", [r["seq"] for r in group]))
                i = j + 1
            else:
                i += 1

    findings.sort(key=lambda f: (f.start, f.rule, f.user))
    return findings


def findings_frame(findings: list[Finding]) -> pl.DataFrame:
    schema = {"rule": pl.String, "user": pl.String, "start": pl.Datetime("us"), "end": pl.Datetime("us"),
              "count": pl.Int64, "threshold": pl.Int64, "explanation": pl.String, "seqs": pl.List(pl.Int64)}
    return pl.DataFrame([f.as_dict() for f in findings], schema=schema)
