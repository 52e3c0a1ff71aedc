"""Helpers for the audit-trail tests: a settable clock, entries, copies of a trail, and an attacker's tools.

The attacker works directly on a COPY of the DuckDB file (what someone with file access could do) and knows the
published hash algorithm, but not the HMAC key.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from dashboard.audit import AuditTrail
from dashboard.audit.trail import hash_content


class Clock:
    """A clock the test moves by hand (UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, when: datetime) -> Clock:
        self.now = when if when.tzinfo else when.replace(tzinfo=UTC)
        return self

    def advance(self, **kw: float) -> Clock:
        self.now += timedelta(**kw)
        return self


def entry(user: str = "amy", **kw) -> dict:
    base = {"user": user, "role": "social_worker", "teams": ["T01"], "purpose": "direct_care",
            "lawful_basis": "UK GDPR 6(1)(e); Children Act 1989 s17", "path": "page:child", "outcome": "allowed",
            "event": "access"}
    base.update(kw)
    return base


def copy_trail(src: Path, dst_dir: Path) -> Path:
    """Copy the trail, its write-ahead log, journal, head and key side by side into dst_dir; return the copy's path.

    While a process holds the trail open, its newest entries are in ``<audit>.journal`` (not yet folded into the
    file) and entries folded since the last checkpoint in ``<audit>.wal`` (DuckDB replays it when the copy is
    opened): a copy of the main file alone would look truncated.
    """
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    for suffix in ("", ".wal", ".journal", ".head", ".key"):
        s = Path(f"{src}{suffix}")
        if s.exists():
            shutil.copy2(s, Path(f"{dst}{suffix}"))
    return dst


def sql(path: Path, *statements: str, params: list | None = None) -> list:
    """Run statements directly on a trail file (the attacker's access). Returns the last result's rows."""
    con = duckdb.connect(str(path))
    try:
        out: list = []
        for s in statements:
            out = con.execute(s, params or []).fetchall() if "?" in s else con.execute(s).fetchall()
        return out
    finally:
        con.close()


def row(path: Path, seq: int) -> dict:
    con = duckdb.connect(str(path))
    try:
        cur = con.execute("SELECT * FROM audit_entry WHERE seq = ?", [seq])
        cols = [d[0] for d in cur.description]
        rec = dict(zip(cols, cur.fetchone(), strict=True))
        kids = [r[0] for r in con.execute("SELECT child_id FROM audit_child WHERE seq = ? ORDER BY pos",
                                          [seq]).fetchall()]
    finally:
        con.close()
    rec["child_ids"] = kids
    return rec


def forge(rec: dict, prev_hash: str) -> dict:
    """An entry whose hash is right by the published algorithm (the attacker cannot make its seal)."""
    rec = dict(rec, prev_hash=prev_hash)
    rec["hash"] = hash_content(rec, rec["child_ids"], prev_hash)
    rec["seal"] = "0" * 64
    return rec


def insert_row(path: Path, rec: dict) -> None:
    cols = [c for c in rec if c != "child_ids"]
    con = duckdb.connect(str(path))
    try:
        con.execute(f"INSERT INTO audit_entry ({', '.join(chr(34) + c + chr(34) for c in cols)}) "
                    f"VALUES ({', '.join('?' for _ in cols)})", [rec[c] for c in cols])
        for i, cid in enumerate(rec["child_ids"]):
            con.execute("INSERT INTO audit_child VALUES (?, ?, ?)", [rec["seq"], i, cid])
    finally:
        con.close()


def write_many(path: str, worker: int, count: int) -> list[int]:
    """Process worker for the multi-process test (top level so `spawn` can import it)."""
    trail = AuditTrail(Path(path), lock_timeout=120)
    return [trail.record(entry(f"proc{worker}", query=f"{worker}-{i}", child_ids=[f"P{worker}-{i}"]))
            for i in range(count)]


@contextlib.contextmanager
def spawn_pool(processes: int):
    """A spawn-context Pool that works after Streamlit's AppTest ran in this test process.

    AppTest's script runner leaves sys.modules["__main__"] pointing at the app script; spawn then re-runs that
    script in every worker, which never becomes a worker, so the Pool respawns it forever. Workers need nothing
    from __main__, so start them while a bare module stands in for it.
    """
    import multiprocessing
    import types

    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        pool = multiprocessing.get_context("spawn").Pool(processes)
    finally:
        sys.modules["__main__"] = saved
    with pool:
        yield pool
