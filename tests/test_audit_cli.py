"""``csc-dashboard audit ...`` end to end on real trail files."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from helpers_audit import Clock, copy_trail, entry, sql
from typer.testing import CliRunner

from dashboard.audit import AuditTrail
from dashboard.cli import app

pytestmark = pytest.mark.functional
runner = CliRunner()


def run(audit: Path, *args: str, warehouse: Path | None = None):
    opts = ["--audit", str(audit), "--warehouse", str(warehouse or audit.with_name("no-warehouse.duckdb"))]
    return runner.invoke(app, [*opts, "audit", *args], env={"CSC_USER": "ivy"})


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    clock = Clock(datetime(2025, 1, 6, 9, 0))
    t = AuditTrail(tmp_path / "audit.duckdb", clock=clock)
    t.record(entry("amy", child_ids=["C1"]))                                           # 1
    clock.at(datetime(2025, 1, 7, 9, 0))
    t.record(entry("bob", child_ids=["C2"], event="emergency_access", emergency_reason="police strategy call",
                   expires_at=datetime(2025, 1, 7, 13, 0)))                             # 2
    clock.at(datetime(2025, 1, 8, 9, 0))
    t.record(entry("amy", child_ids=["C1", "C2"], outcome="refused", reason="not allocated"))  # 3
    return AuditTrail(t.path)


def entries(path: Path):
    return AuditTrail(path).frame()


def test_every_command_has_help(trail):
    for cmd in ("verify", "export", "child", "review", "decide", "unusual"):
        r = runner.invoke(app, ["audit", cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, cmd


def test_verify_intact_and_tampered(trail, tmp_path):
    r = run(trail.path, "verify")
    assert r.exit_code == 0 and r.output.strip().endswith("3 entries, chain intact")
    copy = copy_trail(trail.path, tmp_path / "copy")
    sql(copy, "UPDATE audit_entry SET reason = 'allocated' WHERE seq = 3")
    r = run(copy, "verify")
    assert r.exit_code == 1
    assert "entry 3 was edited" in r.stderr
    assert len(entries(copy)) == 3  # verify itself writes nothing


def test_verify_without_a_trail_is_a_clear_error(tmp_path):
    r = run(tmp_path / "missing.duckdb", "verify")
    assert r.exit_code != 0 and r.stderr.startswith("Error: no audit trail at")
    assert "Traceback" not in r.output


def test_subject_access_report_is_itself_recorded(trail):
    r = run(trail.path, "child", "C1")
    assert r.exit_code == 0, r.output
    assert "Child identifier: C1" in r.stdout
    # entries 1 and 3 show C1; entry 4 is this report being produced (recorded before it was shown)
    assert "Accesses recorded: 3 (2 allowed, 1 refused)." in r.stdout
    last = entries(trail.path).row(-1, named=True)
    assert (last["seq"], last["user"], last["event"], last["path"], last["child_ids"]) == (
        4, "ivy", "audit_read", "cli:audit child", ["C1"])
    assert json.loads(last["params"]) == {"child_id": "C1", "format": "text"}
    assert AuditTrail(trail.path).verify().ok


def test_child_report_formats(trail, tmp_path):
    out = tmp_path / "sar.html"
    r = run(trail.path, "child", "C2", "--format", "html", "--output", str(out))
    assert r.exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>") and "police strategy call" in out.read_text()
    r = run(trail.path, "child", "C2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    # entries 2 (emergency), 3 (refused), and the two reports for C2 (entry 4 for html, this one entry 5)
    assert [x["seq"] for x in rows] == ["2", "3", "4", "5"]
    r = run(trail.path, "child", "C2", "--format", "pdf")
    assert r.exit_code != 0


def test_export_by_date_and_format(trail):
    r = run(trail.path, "export", "--from", "2025-01-07", "--to", "2025-01-07")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["seq"], x["user"], x["child_ids"]) for x in rows] == [("2", "bob", "C2")]
    r = run(trail.path, "export", "--format", "json", "--outcome", "refused")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["seq"], x["child_ids"]) for x in lines] == [(3, ["C1", "C2"])]
    # both exports were recorded, with what was asked and how many entries were shown
    recorded = entries(trail.path).filter(path="cli:audit export")
    assert recorded["rows"].to_list() == [1, 1]
    assert json.loads(recorded["params"][0]) == {"from": "2025-01-07", "to": "2025-01-07", "format": "csv"}


def test_export_rejects_a_bad_date(trail):
    r = run(trail.path, "export", "--from", "7/1/2025")
    assert r.exit_code != 0 and "Error: --from must be a date YYYY-MM-DD" in r.stderr
    assert len(entries(trail.path)) == 3


def test_review_queue_and_decision(trail):
    r = run(trail.path, "review")
    assert r.exit_code == 0 and "#2" in r.stdout and "AWAITING REVIEW" in r.stdout
    assert "police strategy call" in r.stdout
    r = run(trail.path, "decide", "2", "--not-justified", "--note", "no open case")
    assert r.exit_code == 0, r.output
    decision = entries(trail.path).filter(event="emergency_review").row(0, named=True)
    assert (decision["user"], decision["review_of"], decision["decision"], decision["note"]) == (
        "ivy", 2, "not_justified", "no open case")
    # the decision is itself an audited act under the audit purpose: its lawful basis and tier are kept with it
    assert decision["purpose"] == "audit" and decision["tier"] == "aggregate"
    assert "UK GDPR Art 6(1)" in decision["lawful_basis"]
    r = run(trail.path, "review")
    assert "No emergency accesses awaiting review." in r.stdout
    r = run(trail.path, "decide", "2", "--justified")
    assert r.exit_code != 0 and "already reviewed" in r.stderr
    r = run(trail.path, "decide", "1", "--justified")
    assert r.exit_code != 0 and "not an emergency access" in r.stderr


def test_reading_refuses_when_the_reading_cannot_be_recorded(trail, tmp_path):
    copy = copy_trail(trail.path, tmp_path / "copy")
    Path(f"{copy}.head").unlink()  # the trail can no longer be extended safely
    r = run(copy, "child", "C1")
    assert r.exit_code != 0 and "not shown" in r.stderr
    assert "C1" not in r.stdout


def test_unusual_lists_findings(trail, tmp_path):
    yml = tmp_path / "u.yml"
    yml.write_text("""
children_outside_team: {distinct_children_per_day: 1}
large_export: {rows: 1000, children: 50}
out_of_hours_bulk: {working_hours: {start: "08:00", end: "18:30"}, distinct_children: 5, rows: 500}
repeated_refusals: {refusals: 5, window_minutes: 60}
""")
    r = run(trail.path, "unusual", "--config", str(yml))
    assert r.exit_code == 0, r.output
    # without a warehouse only emergency access counts as outside a team: bob's entry 2 (C2)
    assert "[children_outside_team] bob viewed 1 different children" in r.stdout
    assert "Entries: 2" in r.stdout


def test_reading_commands_do_not_create_a_trail(tmp_path):
    missing = tmp_path / "typo.duckdb"
    for args in (["child", "C1"], ["export"], ["review"], ["decide", "1", "--justified"]):
        r = run(missing, *args)
        assert r.exit_code != 0 and "Error: no audit trail at" in r.stderr, args
    assert not missing.exists()


# ------------------------------------------------------------------------------------------ who may read
# access_policies: only ig_officer is granted the purpose `audit` (tier aggregate); its lawful basis names
# "Art 15 subject access" (purposes.yml).
def test_reading_is_recorded_with_the_audit_grant_and_its_lawful_basis(trail):
    r = run(trail.path, "child", "C1", "--as", "ig_officer")
    assert r.exit_code == 0, r.output
    last = entries(trail.path).row(-1, named=True)
    assert (last["role"], last["purpose"], last["tier"], last["outcome"]) == ("ig_officer", "audit", "aggregate",
                                                                              "allowed")
    assert "Art 15 subject access" in last["lawful_basis"]
    assert list(last["teams"]) == []


@pytest.mark.parametrize(("args", "says"), [
    (["child", "C1", "--role", "social_worker"], "'social_worker' is not granted the audit purpose"),
    (["child", "C1", "--as", "nobody"], "'nobody' is not a role"),
    (["export", "--as", "bi_analyst"], "'bi_analyst' is not granted the audit purpose"),
    (["review", "--role", "team_manager"], "'team_manager' is not granted the audit purpose"),
    (["unusual", "--role", "partner"], "'partner' is not granted the audit purpose"),
])
def test_a_role_without_the_audit_purpose_is_refused_and_recorded(trail, args, says):
    r = run(trail.path, *args)
    assert r.exit_code != 0 and r.stdout == ""
    assert r.stderr.startswith("Error: ") and says in r.stderr and "ig_officer" in r.stderr
    assert "Traceback" not in r.output
    # recorded as refused (the trail held 3 entries), and the trail still verifies
    rows = entries(trail.path)
    assert rows.height == 4
    last = rows.row(-1, named=True)
    assert (last["user"], last["role"], last["outcome"], last["purpose"]) == ("ivy", args[-1], "refused", "audit")
    assert AuditTrail(trail.path).verify().ok


def test_a_decision_by_a_role_without_the_audit_purpose_is_refused(trail):
    r = run(trail.path, "decide", "2", "--justified", "--note", "fine", "--role", "service_manager")
    assert r.exit_code != 0 and "'service_manager' is not granted the audit purpose" in r.stderr
    rows = entries(trail.path)
    assert rows.filter(event="emergency_review", outcome="allowed").is_empty()
    assert rows.row(-1, named=True)["outcome"] == "refused"
