"""The IG officer's queries: search, subject access report, emergency queue, unusual activity (worked by hand)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from helpers_audit import Clock, entry

from dashboard.audit import AuditTrail
from dashboard.audit.reports import emergency_queue, search, subject_access_report
from dashboard.audit.unusual import (
    DEFAULT_CONFIG,
    UnusualActivityConfigError,
    detect,
    findings_frame,
    load_thresholds,
)


@pytest.fixture
def small(tmp_path: Path) -> AuditTrail:
    """Five entries (January: UTC is London time).
    1  Mon 6 Jan 09:00 amy  social_worker  page:child  allowed  [C1]
    2  Mon 6 Jan 09:05 amy  social_worker  page:child  allowed  [C1, C10]
    3  Mon 6 Jan 09:10 bob  team_manager   page:child  refused  [C1]   reason: outside scope
    4  Tue 7 Jan 10:00 carol bi_analyst   export:csv  allowed  []     planning, 1200 rows
    5  Wed 8 Jan 16:00 amy  social_worker  cli:query   allowed  [C10]
    """
    clock = Clock(datetime(2025, 1, 6, 9, 0))
    t = AuditTrail(tmp_path / "a.duckdb", clock=clock)
    t.record(entry("amy", child_ids=["C1"]))
    clock.at(datetime(2025, 1, 6, 9, 5))
    t.record(entry("amy", child_ids=["C1", "C10"]))
    clock.at(datetime(2025, 1, 6, 9, 10))
    t.record(entry("bob", role="team_manager", teams=["T02"], child_ids=["C1"], outcome="refused",
                   reason="outside scope"))
    clock.at(datetime(2025, 1, 7, 10, 0))
    t.record(entry("carol", role="bi_analyst", teams=[], purpose="planning", path="export:csv", event="export",
                   rows=1200, lawful_basis="UK GDPR 6(1)(e)"))
    clock.at(datetime(2025, 1, 8, 16, 0))
    t.record(entry("amy", path="cli:query", child_ids=["C10"]))
    return t


def test_search_filters(small):
    assert search(small, user="amy")["seq"].to_list() == [1, 2, 5]
    assert search(small, role="team_manager")["seq"].to_list() == [3]
    assert search(small, child_id="C1")["seq"].to_list() == [1, 2, 3]      # not C10's entry 5
    assert search(small, child_id="C10")["seq"].to_list() == [2, 5]
    assert search(small, purpose="planning")["seq"].to_list() == [4]
    assert search(small, outcome="refused")["seq"].to_list() == [3]
    assert search(small, path="export:*")["seq"].to_list() == [4]
    assert search(small, path="page:child")["seq"].to_list() == [1, 2, 3]
    # dates are whole UTC days, inclusive at both ends
    assert search(small, since=date(2025, 1, 7), until=date(2025, 1, 7))["seq"].to_list() == [4]
    assert search(small, since=date(2025, 1, 7))["seq"].to_list() == [4, 5]
    assert search(small, until=date(2025, 1, 6))["seq"].to_list() == [1, 2, 3]
    assert search(small, user="amy", child_id="C10")["seq"].to_list() == [2, 5]
    assert search(small, user="nobody").is_empty()
    assert "hash" not in search(small).columns


def test_subject_access_report_finds_every_access(small):
    report = subject_access_report(small, "C1", generated_by="ivy", now=datetime(2025, 2, 1, 12, 0))
    assert report.frame["seq"].to_list() == [1, 2, 3]
    assert report.frame["user"].to_list() == ["amy", "amy", "bob"]
    assert report.frame["outcome"].to_list() == ["allowed", "allowed", "refused"]
    text = report.to_text()
    assert "Child identifier: C1" in text and "by ivy" in text
    assert "Accesses recorded: 3 (2 allowed, 1 refused)." in text and "People: 2." in text
    assert "2025-01-06 09:10:00" in text and "outside scope" in text

    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [(r["seq"], r["user"], r["purpose"], r["outcome"]) for r in rows] == [
        ("1", "amy", "direct_care", "allowed"), ("2", "amy", "direct_care", "allowed"),
        ("3", "bob", "direct_care", "refused")]
    assert rows[0]["lawful_basis"] == "UK GDPR 6(1)(e); Children Act 1989 s17"
    html = report.to_html()
    assert html.count("<tr><td>") == 3 and "<th scope='col'>Lawful basis</th>" in html
    assert "| 3 | 2025-01-06 09:10:00 | bob |" in report.to_markdown()


def test_report_for_an_unknown_child_says_nothing_is_recorded(small):
    report = subject_access_report(small, "C999")
    assert report.frame.is_empty()
    assert "No access to this child's record is recorded" in report.to_text()
    assert report.to_csv().count("\n") == 1  # header only


def test_report_escapes_what_users_typed(tmp_path):
    t = AuditTrail(tmp_path / "a.duckdb")
    t.record(entry(child_ids=["C1"], event="emergency_access", emergency_reason="<script>alert(1)</script>",
                   expires_at=datetime(2030, 1, 1)))
    t.record(entry(child_ids=["C1"], outcome="refused", reason="=HYPERLINK(\"http://x\")"))
    report = subject_access_report(t, "C1")
    assert "<script>" not in report.to_html() and "&lt;script&gt;" in report.to_html()
    rows = list(csv.reader(io.StringIO(report.to_csv())))
    assert rows[2][rows[0].index("reason")] == "'=HYPERLINK(\"http://x\")"


def test_emergency_queue_shows_review_state(tmp_path):
    clock = Clock(datetime(2025, 1, 6, 9, 0))
    t = AuditTrail(tmp_path / "a.duckdb", clock=clock)
    g1 = t.record(entry("bob", event="emergency_access", child_ids=["C7"], emergency_reason="police",
                        expires_at=datetime(2025, 1, 6, 13, 0)))
    g2 = t.record(entry("bob", event="emergency_access", child_ids=["C8", "C9"], emergency_reason="A&E",
                        expires_at=datetime(2025, 1, 6, 13, 0)))
    t.record(entry("amy", child_ids=["C7"]))
    clock.advance(hours=1)
    r = t.review_emergency(g1, "ivy", True, "strategy meeting confirmed")
    q = emergency_queue(t)
    assert q["seq"].to_list() == [g1, g2]
    assert q["reviewed"].to_list() == [True, False]
    assert q["decision"].to_list() == ["justified", None]
    assert q["review_seq"].to_list() == [r, None]
    assert q["reviewer"].to_list() == ["ivy", None]
    assert q["child_ids"].to_list() == [["C7"], ["C8", "C9"]]
    assert q["expires_at"].to_list() == [datetime(2025, 1, 6, 13, 0)] * 2
    assert emergency_queue(t, include_reviewed=False)["seq"].to_list() == [g2]


# ------------------------------------------------------------------------------------------------ unusual activity
THRESHOLDS = """
timezone: Europe/London
children_outside_team: {distinct_children_per_day: 3}
large_export: {rows: 1000, children: 3}
out_of_hours_bulk: {working_hours: {start: "08:00", end: "18:00"}, distinct_children: 3, rows: 100}
repeated_refusals: {refusals: 3, window_minutes: 10}
"""

#: K1, K2 with T01 throughout; K3 with T02 (open); K4 with T01 until 31 Dec 2024; K5 never allocated
ALLOCATIONS = {"K1": ["T01"], "K2": ["T01"], "K3": [("T02", date(2024, 1, 1), None)],
               "K4": [("T01", date(2024, 1, 1), date(2024, 12, 31))], "K5": []}


@pytest.fixture
def thresholds(tmp_path):
    p = tmp_path / "unusual.yml"
    p.write_text(THRESHOLDS)
    return load_thresholds(p)


@pytest.fixture
def busy(tmp_path) -> AuditTrail:
    clock = Clock(datetime(2025, 1, 6, 10, 0))
    t = AuditTrail(tmp_path / "busy.duckdb", clock=clock)

    def rec(when: datetime, user: str, teams: list[str], kids: list[str], **kw) -> int:
        clock.at(when)
        return t.record(entry(user, teams=teams, child_ids=kids, **kw))

    mon = datetime(2025, 1, 6)
    rec(mon.replace(hour=10), "dan", ["T01"], ["K1", "K2"])                 # 1 inside his team
    rec(mon.replace(hour=10, minute=5), "dan", ["T01"], ["K3"])             # 2 outside (T02)
    rec(mon.replace(hour=10, minute=10), "dan", ["T01"], ["K4"])            # 3 outside (allocation ended)
    rec(mon.replace(hour=10, minute=15), "dan", ["T01"], ["K5"])            # 4 outside (never allocated)
    rec(mon.replace(hour=10, minute=20), "eve", ["T02"], ["K3"])            # 5 inside
    rec(mon.replace(hour=11), "eve", ["T02"], [], path="export:csv", event="export", rows=1500)     # 6 large
    rec(mon.replace(hour=11, minute=5), "eve", ["T02"], ["K1", "K2"], path="export:csv", event="export",
        rows=999)                                                            # 7 below both export thresholds
    sat = datetime(2025, 1, 11)
    rec(sat.replace(hour=14), "fay", ["T01"], ["K1"])                       # 8 weekend
    rec(sat.replace(hour=14, minute=30), "fay", ["T01"], ["K2"], rows=10)   # 9 weekend
    rec(sat.replace(hour=15), "fay", ["T01"], ["K1"])                       # 10 weekend: 2 children, 10 rows
    rec(datetime(2025, 1, 7, 19, 30), "gus", ["T01"], [], rows=120)          # 11 evening, 120 rows
    rec(datetime(2025, 1, 1, 12, 0), "hal", ["T01"], ["K1", "K2", "K3"])     # 12 New Year's Day: 3 children
    thu = datetime(2025, 1, 9, 10, 0)
    for minutes in (0, 4, 9, 30, 41):                                        # 13-17 ian refused
        rec(thu + timedelta(minutes=minutes), "ian", ["T01"], [], outcome="refused", reason="not in scope")
    for minutes in (0, 11):                                                  # 18-19 jo refused, 11 minutes apart
        rec(thu + timedelta(minutes=minutes), "jo", ["T01"], [], outcome="refused", reason="not in scope")
    # 20: 07:30 UTC on 1 July is 08:30 in London (BST): working hours, though 3 children
    rec(datetime(2025, 7, 1, 7, 30), "kim", ["T01"], ["K1", "K2", "K3"])
    return t


def test_unusual_activity_worked_by_hand(busy, thresholds):
    """Working, rule by rule (thresholds above):
    - children_outside_team (>= 3 a day): dan on 6 Jan saw K3 (T02), K4 (allocation ended), K5 (none) outside
      T01 -> 3, entries 2,3,4. eve saw K1,K2 outside T02 -> 2: no. hal/kim: K3 only -> 1: no.
    - large_export (rows >= 1000 or children >= 3): entry 6 (1500 rows). Entry 7: 999 rows, 2 children: no.
    - out_of_hours_bulk (>= 3 children or >= 100 rows a local day): hal on New Year's Day (bank holiday) 3
      children -> entry 12; gus 19:30 Tue 120 rows -> entry 11; fay Saturday 2 children, 10 rows: no;
      kim 08:30 BST is in hours: no.
    - repeated_refusals (>= 3 within 10 minutes): ian 10:00, 10:04, 10:09 -> entries 13-15; then 10:30 and
      10:41 are 11 minutes apart: no. jo: 2 refusals: no.
    """
    found = detect(busy.frame(), thresholds, ALLOCATIONS)
    got = [(f.rule, f.user, f.count, f.threshold, f.seqs) for f in found]
    assert got == [
        ("out_of_hours_bulk", "hal", 3, 3, [12]),
        ("children_outside_team", "dan", 3, 3, [2, 3, 4]),
        ("large_export", "eve", 1500, 1000, [6]),
        ("out_of_hours_bulk", "gus", 120, 100, [11]),
        ("repeated_refusals", "ian", 3, 3, [13, 14, 15]),
    ]
    by_rule = {f.rule + f.user: f.explanation for f in found}
    assert "dan viewed 3 different children not allocated to their team(s) on 06 January 2025" in by_rule[
        "children_outside_teamdan"]
    assert "Wednesday 01 January 2025" in by_rule["out_of_hours_bulkhal"]
    assert "refused 3 times within 10 minutes" in by_rule["repeated_refusalsian"]
    assert findings_frame(found).height == 5


def test_without_allocations_only_emergency_access_counts_as_outside(busy, thresholds):
    rules = [f.rule for f in detect(busy.frame(), thresholds, None)]
    assert "children_outside_team" not in rules
    clock = Clock(datetime(2025, 1, 6, 12, 0))
    t = AuditTrail(busy.path.with_name("em.duckdb"), clock=clock)
    for k in range(3):
        t.record(entry("lee", child_ids=[f"E{k}"], event="emergency_access", emergency_reason="r",
                       expires_at=datetime(2025, 1, 6, 16, 0)))
    assert [(f.rule, f.count) for f in detect(t.frame(), thresholds, None)] == [("children_outside_team", 3)]


def test_shipped_thresholds_load():
    t = load_thresholds(DEFAULT_CONFIG)
    assert t.timezone == "Europe/London" and t.refusals >= 1


@pytest.mark.parametrize("broken, message", [
    (THRESHOLDS.replace("refusals: 3", "refusalz: 3"), "unknown key"),
    (THRESHOLDS.replace("rows: 1000", "rows: 0"), "large_export.rows must be a positive whole number"),
    (THRESHOLDS.replace("Europe/London", "Mars/Olympus"), "unknown timezone"),
    (THRESHOLDS.replace('end: "18:00"', 'end: "07:00"'), "start must be before end"),
    (THRESHOLDS + "extra_rule: {x: 1}\n", "unknown key"),
])
def test_broken_thresholds_are_refused(tmp_path, broken, message):
    p = tmp_path / "u.yml"
    p.write_text(broken)
    with pytest.raises(UnusualActivityConfigError, match=message):
        load_thresholds(p)
