"""A process keeps the trail open between writes: other processes still get their turn, nothing is lost.

The trail keeps its DuckDB connection and flock while writes keep coming and lets go when idle, when another
process waits, on close() and at exit. These tests run real processes against real trail files.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from helpers_audit import Clock, entry, spawn_pool, write_many

import dashboard.audit.trail as trail_module
from dashboard.audit import AuditError, AuditTrail

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

# A second process: record one entry as `user`, verify, print both as JSON. lock_timeout bounds its wait.
OTHER = """
import json, sys
from pathlib import Path
from dashboard.audit import AuditTrail
t = AuditTrail(Path(sys.argv[1]), lock_timeout=float(sys.argv[3]))
seq = t.record({"user": sys.argv[2], "path": "cli:other", "outcome": "allowed", "event": "access"})
r = t.verify()
print(json.dumps({"seq": seq, "ok": r.ok, "entries": r.entries}))
"""


def other_process(path: Path, user: str, timeout: float = 30.0) -> dict:
    done = subprocess.run([sys.executable, "-c", OTHER, str(path), user, str(timeout)], capture_output=True,
                          text=True, timeout=timeout + 60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def head(path: Path) -> dict:
    return json.loads(Path(f"{path}.head").read_text())


@pytest.fixture
def never_idle(monkeypatch):
    """The holder would keep the trail for an hour if idleness alone decided: only a waiter can make it let go."""
    monkeypatch.setattr(trail_module, "IDLE_RELEASE", 3600.0)


def test_second_process_writes_while_the_first_holds_the_trail_open(tmp_path, never_idle):
    trail = AuditTrail(tmp_path / "a.duckdb")
    assert trail.record(entry("server1")) == 1
    assert trail.record(entry("server2")) == 2   # this process now holds the file and the lock, idle
    # the CLI in another process waits (bounded), is let in, writes entry 3 after ours and verifies the chain
    assert other_process(trail.path, "cli") == {"seq": 3, "ok": True, "entries": 3}
    # and the first process takes the trail back, continuing the chain after the other process's entry
    assert trail.record(entry("server3")) == 4
    f = trail.frame()
    assert f["user"].to_list() == ["server1", "server2", "cli", "server3"]
    assert AuditTrail(trail.path).verify().ok


def test_revocation_by_another_process_is_seen_at_once(tmp_path, never_idle):
    clock = Clock(T0)
    trail = AuditTrail(tmp_path / "a.duckdb", clock=clock)
    grant = trail.record(entry("bob", event="emergency_access", child_ids=["C7"], emergency_reason="police call",
                               expires_at=T0 + timedelta(hours=4)))
    at = T0 + timedelta(hours=1)
    assert trail.active_emergency_grants("bob", at) == [("C7", datetime(2025, 3, 3, 13, 0))]
    # an officer, in another process, judges the access not justified while the server holds the trail
    script = ("import sys; from dashboard.audit import AuditTrail; "
              "print(AuditTrail(sys.argv[1], lock_timeout=30).review_emergency(int(sys.argv[2]), 'ivy', False))")
    done = subprocess.run([sys.executable, "-c", script, str(trail.path), str(grant)], capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    # the grant ends at once for the server too (it asked before, so a stale answer would still list C7)
    assert trail.active_emergency_grants("bob", at) == []


def _threads_writing(path: Path, threads: int, each: int, out: list[int], errors: list[BaseException]) -> None:
    trail = AuditTrail(path, lock_timeout=120)
    guard = threading.Lock()

    def work(t: int) -> None:
        try:
            got = [trail.record(entry(f"thread{t}", query=f"t{t}-{i}", child_ids=[f"t{t}-{i}"]))
                   for i in range(each)]
            with guard:
                out.extend(got)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()


@pytest.mark.slow
def test_processes_and_threads_interleaved_lose_nothing(tmp_path):
    """2 processes x 12 entries and 4 threads x 8 entries of this process, all at once: 56 entries, each once."""
    path = tmp_path / "a.duckdb"
    seqs: list[int] = []
    errors: list[BaseException] = []
    with spawn_pool(2) as pool:
        pending = pool.starmap_async(write_many, [(str(path), w, 12) for w in range(2)])
        _threads_writing(path, 4, 8, seqs, errors)
        from_processes = pending.get(timeout=300)
    assert errors == []
    seqs += [s for r in from_processes for s in r]
    assert sorted(seqs) == list(range(1, 57))   # 2*12 + 4*8 = 56, no number twice, none skipped
    result = AuditTrail(path).verify()
    assert result.ok and result.entries == 56
    f = AuditTrail(path).frame()
    expected = [f"{w}-{i}" for w in range(2) for i in range(12)] + [f"t{t}-{i}" for t in range(4) for i in range(8)]
    assert sorted(f["query"].to_list()) == sorted(expected)
    # the child ids written with each entry are that entry's (no interleaving between writers); process entries
    # carry P<query>, thread entries their own query
    for q, kids in zip(f["query"].to_list(), f["child_ids"].to_list(), strict=True):
        assert kids == ([q] if q.startswith("t") else [f"P{q}"])


def test_close_releases_the_file_and_the_lock_and_confirms_the_head(tmp_path, never_idle):
    trail = AuditTrail(tmp_path / "a.duckdb")
    for k in range(3):
        trail.record(entry(f"u{k}"))
    # while held, the head announces entry 3 and confirms entry 2 (one head write per append)
    h = head(trail.path)
    assert (h["seq"], h["pending"][0]) == (2, 3)
    trail.close()
    h = head(trail.path)
    assert (h["seq"], h["pending"]) == (3, None)  # confirmed: dropping entry 3 would now be caught
    fd = os.open(trail.lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if the lock were still held
    finally:
        os.close(fd)
    con = duckdb.connect(str(trail.path), read_only=True)  # another configuration: fails while still open
    try:
        assert con.execute("SELECT count(*) FROM audit_entry").fetchall() == [(3,)]
    finally:
        con.close()
    assert trail.record(entry("after")) == 4  # the next use simply reopens
    assert trail.verify().ok


def test_idle_hold_is_let_go_for_a_process_that_does_not_ask(tmp_path):
    """A tool that only takes the flock (no 'want' signal) still gets it once this process is idle."""
    trail = AuditTrail(tmp_path / "a.duckdb")
    trail.record(entry())
    trail.record(entry())
    script = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); end = time.monotonic() + 60\n"
              "while True:\n"
              "    try:\n        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('locked'); break\n"
              "    except BlockingIOError:\n"
              "        if time.monotonic() > end: print('never'); break\n        time.sleep(0.01)\n")
    done = subprocess.run([sys.executable, "-c", script, str(trail.lock_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "locked", done.stderr


EXITS = """
import os, sys
from dashboard.audit import AuditTrail
t = AuditTrail(sys.argv[1])
for k in range(3):
    t.record({"user": f"u{k}", "path": "cli:x", "outcome": "allowed", "event": "access"})
if sys.argv[2] == "crash":
    os._exit(0)  # no atexit, no close: as if killed right after the third commit
"""


@pytest.mark.parametrize("how", ["exit", "crash"])
def test_exit_leaves_a_head_that_verifies(tmp_path, how):
    path = tmp_path / "a.duckdb"
    done = subprocess.run([sys.executable, "-c", EXITS, str(path), how], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    h = head(path)
    if how == "exit":
        assert (h["seq"], h["pending"]) == (3, None)   # confirmed at exit
    else:
        assert (h["seq"], h["pending"][0]) == (2, 3)   # entry 3 committed and announced, not yet confirmed
    trail = AuditTrail(path)
    r = trail.verify()
    assert r.ok and r.entries == 3
    assert trail.record(entry()) == 4
    assert trail.verify().ok


def test_head_rolled_back_while_held_refuses_the_next_append(tmp_path, never_idle):
    """Someone puts back an older (genuinely sealed) head while this process holds the trail."""
    trail = AuditTrail(tmp_path / "a.duckdb")
    trail.record(entry())
    trail.close()
    old = Path(f"{trail.path}.head").read_text()   # confirms entry 1
    trail.record(entry())
    trail.record(entry())                            # head: confirms 2, announces 3
    Path(f"{trail.path}.head").write_text(old)
    with pytest.raises(AuditError, match="does not match its head"):
        trail.record(entry())
    r = AuditTrail(trail.path).verify()
    assert not r.ok and r.kind == "appended" and r.first_bad_seq == 2


def test_threads_that_give_up_waiting_are_never_written_later(tmp_path):
    """Waiting threads' entries are written together by whoever holds the lock (one commit for all). If the lock
    is not obtained in time every one of them gets AuditError, and none of those entries turns up afterwards."""
    path = tmp_path / "a.duckdb"
    AuditTrail(path).record(entry("first"))                       # entry 1, then let go (object gone)
    fd = os.open(f"{path}.lock", os.O_RDWR)
    errors: list[BaseException] = []
    got: list[int] = []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # an outside process holding the trail for longer than anyone waits
        trail = AuditTrail(path, lock_timeout=0.5)

        def work(k: int) -> None:
            try:
                got.append(trail.record(entry(f"late{k}")))
            except AuditError as exc:
                errors.append(exc)

        pool = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    finally:
        os.close(fd)
    assert got == [] and len(errors) == 4
    assert all("locked" in str(e) for e in errors)
    later = AuditTrail(path)
    assert later.record(entry("after")) == 2
    assert later.frame()["user"].to_list() == ["first", "after"]
    assert later.verify().ok
