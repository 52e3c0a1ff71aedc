"""The audit trail: hash chain, head, seals, tamper detection, concurrency, fail-closed writes, emergency access."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers_audit import Clock, copy_trail, entry, forge, insert_row, row, spawn_pool, sql, write_many

from dashboard.audit import AuditError, AuditTrail

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def six(tmp_path: Path) -> Path:
    """A trail of six entries, one minute apart; entry k is by user u<k> and shows child C<k>."""
    clock = Clock(T0)
    trail = AuditTrail(tmp_path / "orig" / "audit.duckdb", clock=clock)
    for k in range(1, 7):
        assert trail.record(entry(f"u{k}", child_ids=[f"C{k}"], params={"k": k})) == k
        clock.advance(minutes=1)
    return trail.path


def tampered(six: Path, tmp_path: Path) -> AuditTrail:
    return AuditTrail(copy_trail(six, tmp_path / "copy"))


# ------------------------------------------------------------------------------------------------ basics
def test_intact_trail_verifies(six):
    result = AuditTrail(six).verify()
    assert result.ok and result.entries == 6
    assert result.message() == "6 entries, chain intact"


def test_entries_keep_what_was_recorded(six):
    f = AuditTrail(six).frame()
    assert f["seq"].to_list() == [1, 2, 3, 4, 5, 6]
    assert f["user"].to_list() == [f"u{k}" for k in range(1, 7)]
    assert f["child_ids"].to_list()[2] == ["C3"]
    # the trail sets the time (UTC), one minute apart as the clock said
    assert f["ts"].to_list()[1] == datetime(2025, 3, 3, 9, 1)
    assert json.loads(f["params"][3]) == {"k": 4}


def test_missing_required_field_or_bad_outcome_is_refused(tmp_path):
    trail = AuditTrail(tmp_path / "a.duckdb")
    with pytest.raises(AuditError, match="user"):
        trail.record({"path": "page:x", "outcome": "allowed", "event": "access"})
    with pytest.raises(AuditError, match="outcome"):
        trail.record(entry(outcome="maybe"))
    with pytest.raises(AuditError, match="names"):
        trail.record(entry(child_name="Jane Doe", child_ids=["C1"]))
    assert not trail.path.exists() or AuditTrail(trail.path).frame().is_empty()


def test_trail_schema_has_no_name_column(six):
    """Child ids only: no column anywhere in the trail could hold a person's name or contact details."""
    cols = sql(six, "SELECT table_name, column_name FROM information_schema.columns")
    names = [c for _, c in cols]
    assert "child_id" in names and "user" in names
    for _, c in cols:
        assert not any(w in c.lower() for w in ("name", "address", "postcode", "dob", "nhs", "upn")), c


def test_key_from_environment_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("CSC_AUDIT_KEY", "a-long-secret-held-outside-the-data-dir")
    trail = AuditTrail(tmp_path / "a.duckdb")
    trail.record(entry())
    assert not Path(f"{trail.path}.key").exists()
    assert trail.verify().ok
    monkeypatch.setenv("CSC_AUDIT_KEY", "a-different-secret")
    result = AuditTrail(trail.path).verify()
    assert not result.ok and result.kind == "key" and "not this trail's key" in result.problem


# ------------------------------------------------------------------------------------------------ tampering
def test_edited_field_is_named(six, tmp_path):
    t = tampered(six, tmp_path)
    sql(t.path, "UPDATE audit_entry SET \"user\" = 'someone_else' WHERE seq = 3")
    r = t.verify()
    assert not r.ok and r.first_bad_seq == 3 and r.kind == "edited"
    assert "entry 3 was edited" in r.message()
    assert AuditTrail(six).verify().ok  # the original is untouched


def test_removed_child_id_is_an_edit(six, tmp_path):
    """Child ids live in their own table but are covered by the entry hash."""
    t = tampered(six, tmp_path)
    sql(t.path, "DELETE FROM audit_child WHERE seq = 2")
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 2, "edited")


def test_deleted_entry_is_named(six, tmp_path):
    t = tampered(six, tmp_path)
    sql(t.path, "DELETE FROM audit_entry WHERE seq = 4", "DELETE FROM audit_child WHERE seq = 4")
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 4, "deleted")
    assert "entry 4 is missing" in r.problem


def test_deleted_entry_with_renumbering_is_named(six, tmp_path):
    t = tampered(six, tmp_path)
    sql(t.path, "DELETE FROM audit_entry WHERE seq = 4", "DELETE FROM audit_child WHERE seq = 4",
        "UPDATE audit_child SET seq = seq - 1 WHERE seq > 4")
    for s in (5, 6):  # one at a time: the primary key
        sql(t.path, f"UPDATE audit_entry SET seq = {s - 1} WHERE seq = {s}")
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 4, "deleted")


def test_inserted_entry_is_named(six, tmp_path):
    """The attacker slips an entry in after entry 2, renumbers the rest and computes a valid hash."""
    t = tampered(six, tmp_path)
    original_2 = row(t.path, 2)
    for s in range(6, 2, -1):
        sql(t.path, f"UPDATE audit_entry SET seq = {s + 1} WHERE seq = {s}",
            f"UPDATE audit_child SET seq = {s + 1} WHERE seq = {s}")
    fake = forge(dict(original_2, seq=3, user="framed", child_ids=["C9"]), original_2["hash"])
    insert_row(t.path, fake)
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 3, "inserted")


def test_reordered_entries_are_named(six, tmp_path):
    t = tampered(six, tmp_path)
    sql(t.path, "UPDATE audit_entry SET seq = 100 WHERE seq = 3", "UPDATE audit_entry SET seq = 3 WHERE seq = 4",
        "UPDATE audit_entry SET seq = 4 WHERE seq = 100", "UPDATE audit_child SET seq = 100 WHERE seq = 3",
        "UPDATE audit_child SET seq = 3 WHERE seq = 4", "UPDATE audit_child SET seq = 4 WHERE seq = 100")
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 3, "reordered")
    assert "swapped" in r.problem


def test_dropped_newest_entries_are_caught_by_the_head(six, tmp_path):
    """Deleting the last entries leaves a perfectly valid chain: only the head shows it."""
    t = tampered(six, tmp_path)
    sql(t.path, "DELETE FROM audit_entry WHERE seq >= 5", "DELETE FROM audit_child WHERE seq >= 5")
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 5, "truncated")
    assert "ends at entry 4" in r.problem and "entry 6" in r.problem
    # and the trail refuses to grow over the evidence
    with pytest.raises(AuditError, match="does not match its head"):
        t.record(entry())


def test_appended_forgery_lacks_the_seal(six, tmp_path):
    t = tampered(six, tmp_path)
    last = row(t.path, 6)
    insert_row(t.path, forge(dict(last, seq=7, user="framed"), last["hash"]))
    r = t.verify()
    assert (r.ok, r.first_bad_seq, r.kind) == (False, 7, "forged")


def test_rewritten_head_is_detected(six, tmp_path):
    t = tampered(six, tmp_path)
    sql(t.path, "DELETE FROM audit_entry WHERE seq = 6", "DELETE FROM audit_child WHERE seq = 6")
    doc = json.loads(t.head_path.read_text())
    doc["seq"], doc["hash"] = 5, row(t.path, 5)["hash"]  # the attacker cannot recompute the MAC
    t.head_path.write_text(json.dumps(doc))
    r = t.verify()
    assert not r.ok and r.kind == "head" and "altered" in r.problem


def test_missing_head_is_detected(six, tmp_path):
    t = tampered(six, tmp_path)
    t.head_path.unlink()
    r = t.verify()
    assert not r.ok and r.kind == "head" and "missing" in r.problem
    with pytest.raises(AuditError, match="head"):
        t.record(entry())


def test_crash_between_announcing_and_committing_is_not_tampering(six, tmp_path):
    """The head announces an entry before it is committed: a crash in between leaves a trail that verifies."""
    t = tampered(six, tmp_path)
    trail = AuditTrail(t.path)
    key = trail._load_key(create=False)
    trail._write_head(key, 6, row(t.path, 6)["hash"], (7, "f" * 64))
    assert trail.verify().ok
    assert trail.record(entry()) == 7
    assert trail.verify().ok


# ------------------------------------------------------------------------------------------------ concurrency
@pytest.mark.slow
def test_many_threads_lose_nothing(tmp_path):
    trail = AuditTrail(tmp_path / "a.duckdb", lock_timeout=120)
    threads, each = 16, 12
    seqs: list[int] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def work(t: int) -> None:
        try:
            got = [trail.record(entry(f"thread{t}", query=f"{t}-{i}", child_ids=[f"T{t}-{i}"]))
                   for i in range(each)]
            with guard:
                seqs.extend(got)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    n = threads * each  # 192
    assert sorted(seqs) == list(range(1, n + 1))
    result = AuditTrail(trail.path).verify()
    assert result.ok and result.entries == n
    f = trail.frame()
    assert sorted(f["query"].to_list()) == sorted(f"{t}-{i}" for t in range(threads) for i in range(each))
    # each entry's child id belongs to that entry (no interleaving between writers)
    assert all(kids == [f"T{q}"] for q, kids in zip(f["query"].to_list(), f["child_ids"].to_list(), strict=True))


@pytest.mark.slow
def test_many_processes_lose_nothing(tmp_path):
    path = tmp_path / "a.duckdb"
    with spawn_pool(3) as pool:
        results = pool.starmap(write_many, [(str(path), w, 20) for w in range(3)])
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(1, 61))
    result = AuditTrail(path).verify()
    assert result.ok and result.entries == 60
    f = AuditTrail(path).frame()
    assert sorted(f["query"].to_list()) == sorted(f"{w}-{i}" for w in range(3) for i in range(20))


# ------------------------------------------------------------------------------------------------ fail closed
def test_path_that_cannot_be_created_raises(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(AuditError):
        AuditTrail(blocker / "audit.duckdb").record(entry())


def test_directory_in_place_of_the_file_raises(tmp_path):
    (tmp_path / "audit.duckdb").mkdir()
    with pytest.raises(AuditError):
        AuditTrail(tmp_path / "audit.duckdb").record(entry())


def test_corrupt_file_raises(tmp_path):
    path = tmp_path / "audit.duckdb"
    path.write_bytes(b"this is not a duckdb database" * 200)
    with pytest.raises(AuditError):
        AuditTrail(path).record(entry())


def test_lock_held_too_long_raises_and_writes_nothing(six):
    fd = os.open(f"{six}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another writer that never lets go
        with pytest.raises(AuditError, match="locked"):
            AuditTrail(six, lock_timeout=0.3).record(entry())
    finally:
        os.close(fd)
    r = AuditTrail(six).verify()
    assert r.ok and r.entries == 6


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_file_raises(six):
    for p in (six, Path(f"{six}.head")):
        p.chmod(0o444)
    six.parent.chmod(0o555)
    try:
        with pytest.raises(AuditError):
            AuditTrail(six).record(entry())
    finally:
        six.parent.chmod(0o755)


def test_duckdb_held_open_by_another_process_raises(six, tmp_path):
    """Someone holds the DuckDB file open for writing outside the trail's lock: the record fails, loudly."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(60)"),
        str(six)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(AuditError):
            AuditTrail(six, lock_timeout=0.5).record(entry())
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


# ------------------------------------------------------------------------------------------------ emergency access
def test_emergency_grants_expire_and_reviews_are_recorded(tmp_path):
    clock = Clock(T0)
    trail = AuditTrail(tmp_path / "a.duckdb", clock=clock)
    expires = T0 + timedelta(hours=4)
    g1 = trail.record(entry("bob", event="emergency_access", child_ids=["C7"], emergency_reason="police call",
                            expires_at=expires))
    trail.record(entry("bob", event="emergency_access", child_ids=["C8"], emergency_reason="hospital",
                       expires_at=expires, outcome="refused"))
    trail.record(entry("carol", event="emergency_access", child_ids=["C9"], emergency_reason="x",
                       expires_at=expires))
    assert trail.active_emergency_grants("bob", T0 + timedelta(hours=1)) == [("C7", expires.replace(tzinfo=None))]
    assert trail.active_emergency_grants("bob", T0 + timedelta(hours=4)) == []  # expiry is exclusive

    with pytest.raises(AuditError, match="no audit entry 4"):
        trail.review_emergency(4, "ivy", True)
    with pytest.raises(AuditError, match="cannot be reviewed by the person"):
        trail.review_emergency(g1, "bob", True)
    r = trail.review_emergency(g1, "ivy", False, "no open case")
    rec = AuditTrail(trail.path).frame().filter(seq=r).row(0, named=True)
    assert (rec["event"], rec["user"], rec["review_of"], rec["decision"], rec["note"]) == (
        "emergency_review", "ivy", g1, "not_justified", "no open case")
    # judged not justified: the grant ends at once
    assert trail.active_emergency_grants("bob", T0 + timedelta(hours=1)) == []
    with pytest.raises(AuditError, match="already reviewed"):
        trail.review_emergency(g1, "ivy2", True)
    with pytest.raises(AuditError, match="not an emergency"):
        trail.review_emergency(r, "ivy2", True)
    assert trail.verify().ok


def test_grants_on_a_missing_trail_are_empty(tmp_path):
    assert AuditTrail(tmp_path / "none.duckdb").active_emergency_grants("bob") == []


def test_reading_a_trail_that_does_not_exist_fails_clearly(tmp_path):
    with pytest.raises(AuditError, match="no audit trail"):
        AuditTrail(tmp_path / "none.duckdb").verify()



def test_a_trail_file_never_written_to_verifies_empty(tmp_path):
    import duckdb

    duckdb.connect(str(tmp_path / "a.duckdb")).close()
    r = AuditTrail(tmp_path / "a.duckdb").verify()
    assert r.ok and r.message() == "0 entries, chain intact"


# ------------------------------------------------------------------------------------------------ property
@pytest.fixture(scope="module")
def varied(tmp_path_factory) -> Path:
    """Eight entries using every kind of column, so any column can be tampered with."""
    clock = Clock(T0)
    trail = AuditTrail(tmp_path_factory.mktemp("varied") / "audit.duckdb", clock=clock)
    for k in range(1, 9):
        trail.record(entry(f"u{k}", child_ids=[f"C{k}", f"D{k}"], params={"year": 2020 + k}, query=f"q{k}",
                           sql=f"SELECT {k}", rows=k, cells_suppressed=k % 3, tables_read=["child"],
                           columns_read=["child.sex"], ruleset="dfe", tier="aggregate", reason=f"r{k}",
                           event="emergency_access" if k % 2 else "access", emergency_reason=f"e{k}",
                           expires_at=T0 + timedelta(hours=k), review_of=None, decision=None, note=f"n{k}",
                           custom_key=k))
        clock.advance(minutes=1)
    return trail.path


EDITS = {
    "VARCHAR": "'x' || coalesce({c}, '')", "BIGINT": "coalesce({c}, 0) + 1",
    "TIMESTAMP": "coalesce({c}, TIMESTAMP '2020-01-01') + INTERVAL 1 SECOND",
    "VARCHAR[]": "list_append(coalesce({c}, []::VARCHAR[]), 'X')",
}


@pytest.mark.property
def test_any_single_edit_is_named(varied):
    import shutil
    import tempfile

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cols = [(c, t) for c, t in sql(varied, "SELECT column_name, data_type FROM information_schema.columns "
                                           "WHERE table_name = 'audit_entry' AND column_name <> 'seq'")]
    targets = [("audit_entry", c, t) for c, t in cols] + [("audit_child", "child_id", "VARCHAR")]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(seq=st.integers(1, 8), target=st.sampled_from(targets))
    def check(seq, target):
        table, column, typ = target
        work = Path(tempfile.mkdtemp(dir=varied.parent.parent))
        try:
            t = AuditTrail(copy_trail(varied, work))
            extra = " AND pos = 1" if table == "audit_child" else ""
            sql(t.path, f'UPDATE {table} SET "{column}" = {EDITS[typ].format(c=chr(34) + column + chr(34))} '
                        f"WHERE seq = {seq}{extra}")
            r = t.verify()
            assert not r.ok and r.first_bad_seq == seq, (target, r)
            assert r.kind == ("forged" if column == "seal" else "edited")
        finally:
            shutil.rmtree(work)

    check()


def test_an_entry_listing_a_whole_authority_of_children_keeps_every_id_once_in_order(tmp_path):
    """An analyst's mart lists every child it holds (hundreds of thousands at national scale): each id is kept,
    in the order given, duplicates once, and the chain still verifies."""
    trail = AuditTrail(tmp_path / "a.duckdb")
    ids = [f"C{i:07d}" for i in range(200_000)]
    trail.record({"user": "u", "path": "workbench", "outcome": "allowed", "event": "access",
                  "child_ids": ids + ids[:10]})
    got = trail.frame()["child_ids"].to_list()[0]
    assert got == ids
    assert trail.verify().ok
