"""record_many: one page view's entries in one commit, in order, all or nothing, on the same hash chain."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers_audit import entry

from dashboard.audit import AuditError, AuditTrail


def test_a_batch_is_written_in_order_on_the_chain(tmp_path: Path):
    trail = AuditTrail(tmp_path / "audit.duckdb")
    assert trail.record(entry("before")) == 1
    seqs = trail.record_many([entry("a", child_ids=["C1"]), entry("b", outcome="refused"), entry("c")])
    assert seqs == [2, 3, 4]
    f = AuditTrail(trail.path).frame()
    assert f["user"].to_list() == ["before", "a", "b", "c"]
    assert f["outcome"].to_list()[2] == "refused" and f["child_ids"].to_list()[1] == ["C1"]
    assert trail.record(entry("after")) == 5
    assert AuditTrail(trail.path).verify().ok


def test_one_bad_entry_means_none_of_the_batch_is_written(tmp_path: Path):
    trail = AuditTrail(tmp_path / "audit.duckdb")
    trail.record(entry("first"))
    with pytest.raises(AuditError, match="names"):
        trail.record_many([entry("a"), entry("b", child_name="Jane Doe"), entry("c")])
    assert AuditTrail(trail.path).frame()["user"].to_list() == ["first"]
    assert trail.record_many([]) == []


def test_an_unwritable_trail_writes_nothing_of_the_batch(tmp_path: Path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(AuditError):
        AuditTrail(blocker / "audit.duckdb").record_many([entry("a"), entry("b")])


def test_batches_from_many_threads_stay_whole_and_chained(tmp_path: Path):
    trail = AuditTrail(tmp_path / "audit.duckdb")
    errors = []

    def page(k: int) -> None:
        try:
            trail.record_many([entry(f"t{k}", params={"i": i}) for i in range(5)])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=page, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    users = AuditTrail(trail.path).frame()["user"].to_list()
    assert len(users) == 30
    # each thread's five entries are contiguous: a batch is never interleaved with another page's entries
    runs = [users[i:i + 5] for i in range(0, 30, 5)]
    assert all(len(set(r)) == 1 for r in runs) and len({r[0] for r in runs}) == 6
    assert AuditTrail(trail.path).verify().ok
