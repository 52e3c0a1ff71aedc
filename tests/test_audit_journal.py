"""The journal: committed entries waiting to be folded into the DuckDB file, after crashes and under attack.

A record is durable once its line is in ``<audit>.journal`` (fdatasync); the entries reach the DuckDB file in bulk
later. These tests crash real processes at the awkward moments (mid-write, between folding and clearing the
journal), let another process write between two records of this one, and tamper with the journal as someone with
file access but no key could. Expectations are worked out by hand from the entries each test writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from helpers_audit import entry

import dashboard.audit.trail as trail_module
from dashboard.audit import AuditError, AuditTrail
from dashboard.audit.trail import _read_journal, hash_content

PRELUDE = """
import os, sys
import dashboard.audit.trail as tm
from dashboard.audit import AuditTrail
t = AuditTrail(sys.argv[1])
def e(user, **kw):
    return dict({"user": user, "path": "cli:x", "outcome": "allowed", "event": "access"}, **kw)
"""

#: records entries and dies without letting go (no fold, no confirmation): as if killed
CRASH_AFTER = PRELUDE + """
for k, user in enumerate(sys.argv[2:]):
    t.record(e(user, child_ids=[f"K{k}"]))
os._exit(0)
"""

#: two records, then a batch of three whose journal line is only half written when the process dies
CRASH_MID_BATCH = PRELUDE + """
t.record(e("a"))
t.record(e("b"))
def half(self, line):
    os.pwrite(self.jfd, line[: len(line) // 2], self.joff)
    os.fdatasync(self.jfd)
    os._exit(0)
tm._Session.journal = half
t.record_many([e("batch1"), e("batch2", child_ids=["C1", "C2"]), e("batch3")])
os._exit(3)  # not reached
"""

#: three records, then letting go: the fold commits to the DuckDB file and the process dies before the journal
#: is cleared
CRASH_BEFORE_CLEAR = PRELUDE + """
for user in ("a", "b", "c"):
    t.record(e(user))
def die(fd, upto):
    os._exit(0)
tm._clear_journal = die
t.close()
os._exit(3)  # not reached
"""


def run(script: str, *args: str) -> None:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def journal_lines(path: Path) -> list[bytes]:
    data = Path(f"{path}.journal").read_bytes()
    return [ln for ln in data.split(b"\0", 1)[0].split(b"\n") if ln]


@pytest.fixture
def never_idle(monkeypatch):
    """Only a waiting process (or a full journal) makes the holder let go (or fold): not the clock."""
    monkeypatch.setattr(trail_module, "IDLE_RELEASE", 3600.0)
    monkeypatch.setattr(trail_module, "FOLD_IDLE", 3600.0)


def test_another_process_writing_between_two_records_is_chained(tmp_path, never_idle):
    path = tmp_path / "a.duckdb"
    trail = AuditTrail(path)
    assert trail.record(entry("server1")) == 1
    assert trail.record(entry("server2")) == 2   # held by this process, entries 1-2 in its journal
    # another process asks for the trail (this one lets go: folds, confirms), writes 3-5 and is killed before it
    # folds its own entries: they are only in the journal
    run(CRASH_AFTER, path, "cli1", "cli2", "cli3")
    assert [len(json.loads(ln)) for ln in journal_lines(path)] == [1, 1, 1]
    # this process takes the trail back: the killed process's entries are folded in and ours continue after them
    assert trail.record(entry("server3")) == 6
    f = trail.frame()
    assert f["user"].to_list() == ["server1", "server2", "cli1", "cli2", "cli3", "server3"]
    assert f["seq"].to_list() == [1, 2, 3, 4, 5, 6]
    # each entry is chained to the one before it: 6 to the killed process's last entry, 3 to our entry 2
    hashes, prevs = f["hash"].to_list(), f["prev_hash"].to_list()
    assert prevs[1:] == hashes[:-1]
    assert f["child_ids"].to_list()[2:5] == [["K0"], ["K1"], ["K2"]]
    r = trail.verify()
    assert r.ok and r.entries == 6


def test_crash_mid_batch_leaves_a_trail_that_verifies_without_the_batch(tmp_path):
    path = tmp_path / "a.duckdb"
    run(CRASH_MID_BATCH, path)
    # on disk: entries 1-2 committed, the head confirming 2 and announcing 5 (the batch's last), and half a line
    head = json.loads(Path(f"{path}.head").read_text())
    assert (head["seq"], head["pending"][0]) == (2, 5)
    trail = AuditTrail(path)
    r = trail.verify()
    assert r.ok and r.entries == 2   # the batch was never returned to its caller: none of it is in the trail
    # the next writer drops the torn line and continues the chain at 3
    assert trail.record(entry("after")) == 3
    f = trail.frame()
    assert f["user"].to_list() == ["a", "b", "after"]
    assert f["child_ids"].to_list() == [[], [], []]
    trail.close()
    assert trail.verify().ok and trail.verify().entries == 3


def test_crash_between_folding_and_clearing_the_journal_counts_each_entry_once(tmp_path):
    path = tmp_path / "a.duckdb"
    run(CRASH_BEFORE_CLEAR, path)
    assert len(journal_lines(path)) == 3        # still in the journal, and also committed in the file
    trail = AuditTrail(path)
    r = trail.verify()
    assert r.ok and r.entries == 3              # not 6
    assert trail.record(entry("d")) == 4
    assert trail.frame()["user"].to_list() == ["a", "b", "c", "d"]
    assert trail.verify().entries == 4


def edit_journal(path: Path, old: bytes, new: bytes) -> None:
    jp = Path(f"{path}.journal")
    data = jp.read_bytes()
    assert data.count(old) == 1
    jp.write_bytes(data.replace(old, new))


def test_edited_journal_entry_is_named_by_verify(tmp_path):
    path = tmp_path / "a.duckdb"
    run(CRASH_AFTER, path, "amy", "bob", "cat", "dan")   # four entries, all in the journal
    edit_journal(path, b'"user":"bob"', b'"user":"eve"')  # same length: the attacker hides the change
    r = AuditTrail(path).verify()
    assert not r.ok and (r.kind, r.first_bad_seq) == ("edited", 2)


def test_rehashed_newest_journal_entry_refuses_the_next_record(tmp_path):
    path = tmp_path / "a.duckdb"
    run(CRASH_AFTER, path, "amy", "bob", "cat")
    # the attacker edits entry 3 and recomputes its hash by the published algorithm (the seal they cannot make)
    jp = Path(f"{path}.journal")
    lines = journal_lines(path)
    doc = json.loads(lines[2])[0]
    forged = dict(doc, child_ids=["K9"])
    row = dict(forged, ts=datetime.fromisoformat(forged["ts"]))
    forged["hash"] = hash_content(row, forged["child_ids"], forged["prev_hash"])
    new_line = json.dumps([forged]).encode()
    data = jp.read_bytes()
    jp.write_bytes(data.replace(lines[2], new_line.ljust(len(lines[2]))))
    trail = AuditTrail(path)
    # entry 3 no longer has the hash the head announced: appending would write a new head over the evidence
    with pytest.raises(AuditError, match="does not match its head"):
        trail.record(entry())
    r = trail.verify()
    assert not r.ok and (r.kind, r.first_bad_seq) == ("forged", 3)


def test_damaged_journal_line_is_reported_and_refuses(tmp_path):
    path = tmp_path / "a.duckdb"
    run(CRASH_AFTER, path, "amy", "bob", "cat")
    edit_journal(path, b'"child_ids":["K1"]', b'"child_ids":["K1"')  # line 2 is no longer JSON
    trail = AuditTrail(path)
    r = trail.verify()
    # entry 1 reads fine; line 2 (entry 2) onwards cannot be read
    assert not r.ok and (r.kind, r.first_bad_seq) == ("edited", 2) and "journal" in r.problem
    with pytest.raises(AuditError, match="journal"):
        trail.record(entry())


def test_deleted_journal_is_caught_by_the_head(tmp_path):
    path = tmp_path / "a.duckdb"
    run(CRASH_AFTER, path, "amy", "bob", "cat")      # head: confirmed 2, announced 3
    Path(f"{path}.journal").unlink()
    trail = AuditTrail(path)
    r = trail.verify()
    assert not r.ok and (r.kind, r.first_bad_seq) == ("truncated", 1)
    with pytest.raises(AuditError, match="head"):
        trail.record(entry())


def test_read_only_copy_with_unfolded_entries_refuses_reports_but_verifies(tmp_path, monkeypatch):
    path = tmp_path / "a.duckdb"
    run(CRASH_AFTER, path, "amy", "bob")
    # a copy in a place this process cannot write (root ignores file modes, so say so directly): it cannot fold
    monkeypatch.setattr(AuditTrail, "_writable", lambda self: False)
    trail = AuditTrail(path)
    with pytest.raises(AuditError, match="journal"):
        trail.frame()   # a subject access report from the file alone would miss amy's and bob's entries
    r = trail.verify()
    assert r.ok and r.entries == 2


def test_journal_is_folded_into_the_file_as_it_grows(tmp_path, monkeypatch, never_idle):
    monkeypatch.setattr(trail_module, "FOLD_ENTRIES", 3)
    path = tmp_path / "a.duckdb"
    trail = AuditTrail(path)
    for k in range(7):
        trail.record(entry(f"u{k}"))
    # folded after entries 3 and 6: only entry 7 is still in the journal
    assert [r["seq"] for r in _read_journal(Path(f"{path}.journal"))[0]] == [7]
    f = trail.frame()   # reading folds the rest
    assert f["user"].to_list() == [f"u{k}" for k in range(7)]
    assert _read_journal(Path(f"{path}.journal"))[0] == []
    assert trail.verify().ok


def test_idle_holder_folds_the_journal_between_page_views(tmp_path, monkeypatch):
    monkeypatch.setattr(trail_module, "IDLE_RELEASE", 3600.0)   # keeps holding, so only the fold empties it
    path = tmp_path / "a.duckdb"
    trail = AuditTrail(path)
    trail.record_many([entry("a"), entry("b")])
    deadline = time.monotonic() + 30
    while _read_journal(Path(f"{path}.journal"))[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _read_journal(Path(f"{path}.journal"))[0] == []
    assert trail.record(entry("c")) == 3
    assert trail.frame()["user"].to_list() == ["a", "b", "c"]


def test_emergency_grant_in_the_journal_is_seen_at_once(tmp_path, never_idle):
    from datetime import UTC, datetime, timedelta
    now = datetime.now(UTC)
    trail = AuditTrail(tmp_path / "a.duckdb")
    trail.record(entry("bob"))
    assert trail.active_emergency_grants("bob") == []
    trail.record(entry("bob", event="emergency_access", child_ids=["C7"], emergency_reason="police call",
                       expires_at=now + timedelta(hours=4)))
    got = trail.active_emergency_grants("bob")
    assert [cid for cid, _ in got] == ["C7"]


def test_value_the_file_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    trail = AuditTrail(tmp_path / "a.duckdb")
    with pytest.raises(AuditError, match="rows"):
        trail.record(entry(rows=2 ** 63))            # beyond BIGINT
    with pytest.raises(AuditError, match="params"):
        trail.record(entry(params={"q": "\ud800"}))  # not encodable as UTF-8
    assert trail.record(entry(note="nul \x00 inside")) == 1
    trail.close()
    assert AuditTrail(trail.path).frame()["note"].to_list() == ["nul \x00 inside"]
    assert trail.verify().entries == 1


def test_head_written_by_an_earlier_version_is_taken_over(tmp_path):
    """Earlier versions wrote the head as compact JSON of any length; this one keeps a 512-byte record in place."""
    path = tmp_path / "a.duckdb"
    trail = AuditTrail(path)
    trail.record(entry("a"))
    trail.record(entry("b"))
    trail.close()
    head_path = Path(f"{path}.head")
    doc = json.loads(head_path.read_text())
    assert (doc["seq"], doc["pending"]) == (2, None)
    head_path.write_text(json.dumps(doc))     # the same sealed head, as the earlier version wrote it
    assert trail.record(entry("c")) == 3
    assert trail.record(entry("d")) == 4
    trail.close()
    assert head_path.stat().st_size == 512
    assert json.loads(head_path.read_text())["seq"] == 4
    r = trail.verify()
    assert r.ok and r.entries == 4
