"""The audit trail: an append-only DuckDB file, hash-chained, sealed, with a chain head kept in a separate file.

Every decision of the policy gate is written here BEFORE anything is shown. If it cannot be written durably,
``record`` raises ``AuditError`` and the gate refuses (fail closed). See docs/audit.md for the threat model.

Layout on disk (beside each other by default):
  <audit>          DuckDB file: tables audit_entry (one row per entry) and audit_child (child ids per entry)
  <audit>.journal  entries committed but not yet folded into the DuckDB file (one line per commit, then zeros)
  <audit>.head     JSON: the seq and hash of the newest entry, HMAC'd; one 512-byte record written in place
  <audit>.key      the HMAC key (created on first write with mode 0600) unless CSC_AUDIT_KEY is set
  <audit>.wal      DuckDB's write-ahead log (entries folded since the last checkpoint, while a process holds it)
  <audit>.lock     the OS-level lock file: one writer at a time across processes
  <audit>.lock.want  held shared by a process waiting for the trail, so that the holder lets go

A process keeps the DuckDB connection and the flock between writes (see ``_Session``) and lets go when idle, when
another process waits, on ``close()`` and at exit. An append (``record``/``record_many``) is one in-place head
write and one journal line, each made durable with fdatasync; the entries reach the DuckDB file in bulk (``_fold``)
when the journal grows, before anything reads the file, and when the process lets go.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import hmac
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

GENESIS = "0" * 64
FORMAT_VERSION = 1
KEY_ENV = "CSC_AUDIT_KEY"

#: (column, SQL type, kind) in hash order. kind: str | int | ts | strlist | json. Names of people or children
#: are never a column: child ids only (a subject access request finds them; the name stays in the case system).
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("seq", "BIGINT", "int"),
    ("ts", "TIMESTAMP", "ts"),
    ("user", "VARCHAR", "str"),
    ("role", "VARCHAR", "str"),
    ("teams", "VARCHAR[]", "strlist"),
    ("purpose", "VARCHAR", "str"),
    ("lawful_basis", "VARCHAR", "str"),
    ("path", "VARCHAR", "str"),
    ("query", "VARCHAR", "str"),
    ("sql", "VARCHAR", "str"),
    ("params", "VARCHAR", "json"),
    ("outcome", "VARCHAR", "str"),
    ("reason", "VARCHAR", "str"),
    ("rows", "BIGINT", "int"),
    ("ruleset", "VARCHAR", "str"),
    ("cells_suppressed", "BIGINT", "int"),
    ("tier", "VARCHAR", "str"),
    ("tables_read", "VARCHAR[]", "strlist"),
    ("columns_read", "VARCHAR[]", "strlist"),
    ("event", "VARCHAR", "str"),
    ("emergency_reason", "VARCHAR", "str"),
    ("expires_at", "TIMESTAMP", "ts"),
    ("review_of", "BIGINT", "int"),
    ("decision", "VARCHAR", "str"),
    ("note", "VARCHAR", "str"),
    ("extra", "VARCHAR", "json"),
)
KINDS = {name: kind for name, _, kind in FIELDS}
#: keys a caller may pass (everything in FIELDS except what the trail sets itself, plus child_ids)
CALLER_KEYS = (set(KINDS) - {"seq", "ts", "extra"}) | {"child_ids"}
REQUIRED = ("user", "path", "outcome", "event")
OUTCOMES = ("allowed", "refused")
#: keys that would put a person's identity (rather than an id) into the trail. Refused outright, so a caller's
#: mistake fails loudly in tests instead of quietly copying names into a file kept for years.
FORBIDDEN_KEYS = frozenset({
    "name", "names", "child_name", "given_name", "family_name", "full_name", "address", "postcode",
    "nhs_number", "upn", "dob", "date_of_birth",
})

_COLS = ", ".join(f'"{n}" {t}' + (" PRIMARY KEY" if n == "seq" else "") for n, t, _ in FIELDS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit_entry ({_COLS}, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL,
                                        seal VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS audit_child (seq BIGINT NOT NULL, pos INTEGER NOT NULL, child_id VARCHAR NOT NULL);
CREATE INDEX IF NOT EXISTS audit_child_by_id ON audit_child (child_id);
CREATE TABLE IF NOT EXISTS audit_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
INSERT OR IGNORE INTO audit_meta VALUES ('format_version', '{FORMAT_VERSION}');
"""
_SELECT_COLS = ", ".join(f'e."{n}"' for n, _, _ in FIELDS)
#: every entry with its child ids as a list, in seq order (the verify walk and the IG queries read this)
ENTRIES_SQL = f"""
SELECT {_SELECT_COLS},
       coalesce((SELECT list(c.child_id ORDER BY c.pos) FROM audit_child c WHERE c.seq = e.seq),
                []::VARCHAR[]) AS child_ids,
       e.prev_hash, e.hash, e.seal
FROM audit_entry e
"""


class AuditError(RuntimeError):
    """The trail cannot be written (or read) safely. Callers must refuse to show data."""


# ----------------------------------------------------------------------------------------------------- helpers
def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _utc_naive(value: Any, key: str) -> datetime:
    """Datetimes are stored as naive UTC; an aware value is converted, a naive one is taken to be UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise AuditError(f"audit entry field {key!r}: not an ISO date-time: {value!r}") from exc
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise AuditError(f"audit entry field {key!r}: expected a date-time, got {type(value).__name__}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _ts_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


def _json_text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    try:
        # default=str: dates and Paths in params become their text; the stored text is what gets hashed
        return canonical_json(json.loads(json.dumps(value, default=str, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit entry field {key!r} cannot be stored as JSON: {exc}") from exc


def _strlist(value: Any, key: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise AuditError(f"audit entry field {key!r}: expected a list, got {type(value).__name__}")
    items = sorted(value) if isinstance(value, set | frozenset) else list(value)
    return [str(v) for v in items]


def normalise(entry: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The storable form of a caller's entry (without seq/ts) and its child ids, or AuditError."""
    if not isinstance(entry, Mapping):
        raise AuditError("an audit entry must be a dict")
    bad = sorted(k for k in entry if str(k).lower() in FORBIDDEN_KEYS)
    if bad:
        raise AuditError(f"audit entries never hold names or contact details; remove {', '.join(bad)} "
                         "(record child_ids instead)")
    missing = [k for k in REQUIRED if entry.get(k) in (None, "")]
    if missing:
        raise AuditError(f"audit entry lacks required field(s): {', '.join(missing)}")
    if entry["outcome"] not in OUTCOMES:
        raise AuditError(f"audit entry outcome must be one of {OUTCOMES}, got {entry['outcome']!r}")
    out: dict[str, Any] = {}
    for key, kind in KINDS.items():
        if key in ("seq", "ts", "extra"):
            continue
        value = entry.get(key)
        if value is None:
            out[key] = None
        elif kind == "str":
            out[key] = str(value)
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
                raise AuditError(f"audit entry field {key!r}: expected a whole number, got {value!r}")
            if not -(2 ** 63) <= int(value) < 2 ** 63:  # BIGINT: refused now, not when the journal is folded
                raise AuditError(f"audit entry field {key!r}: {value!r} is out of range")
            out[key] = int(value)
        elif kind == "ts":
            out[key] = _utc_naive(value, key)
        elif kind == "strlist":
            out[key] = _strlist(value, key)
        else:
            out[key] = _json_text(value, key)
    extra = {k: v for k, v in entry.items() if k not in CALLER_KEYS and k != "ts"}
    out["extra"] = _json_text(extra, "extra") if extra else None
    # first occurrence order, duplicates dropped, in linear time: an analyst's mart lists every child it holds
    children = list(dict.fromkeys(_strlist(entry.get("child_ids"), "child_ids") or []))
    # Text that cannot be written as UTF-8 (a lone surrogate) is refused here, for this caller alone: found only
    # when the commit is written, it would fail every entry of a group commit with it.
    for key, value in [*out.items(), ("child_ids", children)]:
        text = "".join(value) if isinstance(value, list) else value  # strlists hold str only (_strlist)
        if isinstance(text, str) and not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError as exc:
                raise AuditError(f"audit entry field {key!r} holds text that cannot be stored: {exc.reason}") \
                    from None
    return out, children


def hashed_text(row: Mapping[str, Any], child_ids: list[str], prev_hash: str) -> str:
    """The canonical JSON of every stored field, the child ids and the previous entry's hash: what is hashed."""
    doc = {}
    for key, kind in KINDS.items():
        value = row.get(key)
        doc[key] = _ts_text(value) if kind == "ts" else value
    doc["child_ids"] = list(child_ids)
    doc["prev_hash"] = prev_hash
    return canonical_json(doc)


def hash_content(row: Mapping[str, Any], child_ids: list[str], prev_hash: str) -> str:
    """SHA-256 over a canonical JSON of every stored field, the child ids and the previous entry's hash."""
    return hashlib.sha256(hashed_text(row, child_ids, prev_hash).encode()).hexdigest()


# ----------------------------------------------------------------------------------------------------- sessions
#: A process keeps its DuckDB connection and the flock while writes keep coming (opening and closing the file
#: dominated the cost of an append), and lets go after this long without use, when the last AuditTrail object
#: for the path is gone, at exit, or as soon as another process signals that it is waiting.
IDLE_RELEASE = 0.5
WATCH_EVERY = 0.02
#: the watcher folds the journal into the file after this long without use (see _Session.journal)
FOLD_IDLE = 0.1


def _try_flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _nobody_waiting(wfd: int) -> bool:
    """True if no other process holds the 'want' lock (i.e. nobody is waiting for the trail)."""
    if not _try_flock(wfd, fcntl.LOCK_EX):
        return False
    fcntl.flock(wfd, fcntl.LOCK_UN)
    return True


def _open_quiet(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


#: The head is one fixed-size record, written in place. Kept within one 512-byte disk sector so that a single
#: write of it is atomic on power loss (the assumption PostgreSQL makes for pg_control, PG_CONTROL_MAX_SAFE_SIZE):
#: a crash leaves the old head or the new one. (If a device ever tore it, the MAC would fail: a false alarm that
#: refuses, never a silently accepted head.) Write-to-temp + rename + directory fsync cost ~8 ms a commit here, the
#: in-place write + fdatasync ~0.2 ms.
HEAD_SIZE = 512


def _write_head_file(head_path: Path, key: bytes, seq: int, hash_: str,
                     pending: tuple[int, str] | None) -> os.stat_result:
    body = {"version": FORMAT_VERSION, "seq": seq, "hash": hash_, "pending": list(pending) if pending else None}
    doc = dict(body, mac=AuditTrail._mac(key, canonical_json(body)))
    text = json.dumps(doc).encode()
    if len(text) >= HEAD_SIZE:  # cannot happen: seqs are int64, hashes 64 hex digits
        raise AuditError(f"the audit head for entry {seq} does not fit in {HEAD_SIZE} bytes")
    data = text.ljust(HEAD_SIZE - 1) + b"\n"  # JSON allows the trailing blanks; the size never changes
    try:
        fd = os.open(head_path, os.O_WRONLY)
    except FileNotFoundError:
        fd = None
    if fd is not None and os.fstat(fd).st_size == HEAD_SIZE:
        try:
            # one write within one sector, then one data flush: on disk before the entry it announces
            if os.pwrite(fd, data, 0) != HEAD_SIZE:
                raise AuditError(f"short write to the audit head {head_path}")
            os.fdatasync(fd)
            return os.fstat(fd)
        finally:
            os.close(fd)
    if fd is not None:
        os.close(fd)
    # A new head file, or one of another size (written by an earlier version): write-to-temp, fsync, rename,
    # fsync the directory, so that even this once a crash leaves the old head or the new one, never half of one.
    tmp = head_path.with_name(f"{head_path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, head_path)
    _fsync_dir(head_path.parent)
    return os.stat(head_path)


# ----------------------------------------------------------------------------------------------------- journal
#: Committed entries not yet folded into the DuckDB file (see docs/audit.md, "The journal"). One line per commit
#: (one record, or one group commit / record_many batch): a JSON array of the entries' hashed documents plus hash
#: and seal. A line is the unit of atomicity: a crash mid-write leaves a torn last line, which readers drop (that
#: commit never returned, and its head still confirms the entry before it).
FOLD_ENTRIES = 512
FOLD_BYTES = 1 << 20
#: the size a new journal is created with (zeros): room for FOLD_BYTES and a large last commit
JOURNAL_SIZE = 2 << 20


def _journal_entry_text(doc_text: str, digest: str, seal: str) -> str:
    # the canonical text that was hashed, with hash and seal added: serialised once, also for 100,000s of children
    return f'{doc_text[:-1]},"hash":"{digest}","seal":"{seal}"}}'


def _row_from_journal(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    row: dict[str, Any] = {}
    for key, kind in KINDS.items():
        value = doc[key]
        row[key] = datetime.fromisoformat(value) if kind == "ts" and value is not None else value
    for key in ("child_ids", "prev_hash", "hash", "seal"):
        row[key] = doc[key]
    if not isinstance(row["seq"], int) or not isinstance(row["child_ids"], list):
        raise ValueError("bad seq or child ids")
    return row


def _open_journal(path: Path) -> int:
    """The journal's fd; a new journal is first filled with zeros (see _Session.journal for why)."""
    if path.exists():
        return os.open(path, os.O_RDWR)
    tmp = path.with_name(f"{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, bytes(JOURNAL_SIZE))
        os.fsync(fd)
        os.replace(tmp, path)  # never a half-zeroed journal under the real name
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return fd


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, off = [], 0
    while off < size:
        chunk = os.pread(fd, min(size - off, 1 << 24), off)
        if not chunk:
            break
        chunks.append(chunk)
        off += len(chunk)
    return b"".join(chunks)


def _clear_journal(fd: int, upto: int) -> None:
    """Zero the journal's first ``upto`` bytes (after their entries are committed in the DuckDB file)."""
    if upto > JOURNAL_SIZE:
        # after a record listing 100,000s of children: back to the usual size rather than tens of MB of zeros
        # that every take-over would read (a crash in between leaves a shorter journal of zeros: also empty)
        os.ftruncate(fd, 0)
        os.pwrite(fd, bytes(JOURNAL_SIZE), 0)
        os.fsync(fd)
        return
    off = 0
    while off < upto:
        n = min(upto - off, 1 << 20)
        os.pwrite(fd, bytes(n), off)
        off += n
    if upto:
        # a crash part way leaves some old lines among the zeros: entries the file already holds, which the
        # next fold recognises (same seq, same hash) and skips
        os.fdatasync(fd)


def _parse_journal(data: bytes, path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The journal's entries in order, and a description of damage if a line other than a torn last one is bad.

    The journal ends at its first zero byte (JSON text never holds one: json.dumps escapes control characters).
    """
    end = data.find(0)
    if end >= 0:
        data = data[:end]
    rows: list[dict[str, Any]] = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            docs = json.loads(line)
            if not isinstance(docs, list) or not docs:
                raise ValueError("not a list of entries")
            rows.extend(_row_from_journal(d) for d in docs)
        except (ValueError, KeyError, TypeError) as exc:
            if i == len(lines) - 1:
                break  # no newline after it: a write cut short by a crash, never returned to its caller
            return rows, f"line {i + 1} of the audit journal {path} is damaged ({exc})"
    return rows, None


def _read_journal(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], None
    return _parse_journal(data, path)


def _stat_sig(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class _Slot:
    """One record() call waiting to be written (by its own thread or by the thread that holds the lock)."""

    def __init__(self, trail: AuditTrail, row: dict[str, Any], children: list[str]) -> None:
        self.trail, self.row, self.children = trail, row, children
        self.seq: int | None = None
        self.error: str | None = None
        self.done = threading.Event()

    def result(self, path: Path) -> int:
        if self.error is not None:
            raise AuditError(self.error)
        if self.seq is None:
            raise AuditError(f"the audit entry was not written to {path}")
        return self.seq

    def fits(self, other: _Slot) -> bool:
        return (self.trail.head_path == other.trail.head_path and self.trail._key == other.trail._key
                and self.trail.key_path == other.trail.key_path)


class _Session:
    """This process's hold on one trail file: the thread lock, and while held the flock + DuckDB connection.

    Every field below ``tlock`` is read and written only with ``tlock`` held.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = Path(f"{path}.lock")
        self.want_path = Path(f"{path}.lock.want")
        self.journal_path = Path(f"{path}.journal")
        self.tlock = threading.Lock()
        self.refs = 0
        self.con: duckdb.DuckDBPyConnection | None = None
        self.fd: int | None = None
        self.wfd: int | None = None
        self.jfd: int | None = None  # the journal, open while held
        #: entries this hold appended to the journal and not yet folded into DuckDB (exactly the journal's content)
        self.pending: list[dict[str, Any]] = []
        #: where the next journal line goes, and how far anything may have been written since the last clearing
        self.joff = 0
        self.jhigh = 0
        #: (seq, hash) of the newest entry while held: nobody else can append while we hold the flock
        self.tail: tuple[int, str] | None = None
        #: (head path, key) the tail was last checked against, and the head file's stat as we left it
        self.checked: tuple[str, bytes] | None = None
        self.head_sig: tuple[int, int, int] | None = None
        self.unconfirmed = False  # the head announces the newest entry but does not yet confirm it
        self.last_use = 0.0
        #: active_emergency_grants per user, valid while held (cleared on appending an emergency entry)
        self.grants: dict[str, list[tuple[str, datetime]]] = {}
        self.stop: threading.Event | None = None
        #: records waiting for the lock (guarded by qlock): whoever gets the lock writes all compatible ones in one
        #: transaction with one head write (group commit), so N waiting threads cost ~one append, not N
        self.qlock = threading.Lock()
        self.queue: list[_Slot] = []

    # ------------------------------------------------------------------ the OS lock
    def flock(self, mode: int, deadline: float, timeout: float, required: bool) -> int | None:
        """The lock file's fd with ``mode`` held, waiting until ``deadline``. None if not required and unusable."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if required:
                raise AuditError(f"cannot create the audit lock file {self.lock_path}: {exc.strerror}") from exc
            return None  # reading a copy in a read-only place: nobody else can be writing it through us
        try:
            # Someone holding the trail is told on the 'want' lock (a holder that keeps the file open between
            # writes checks it and lets go). Processes that were already waiting go first, even if the lock is free
            # this instant: a busy server that just let go must not take the lock straight back and starve a CLI.
            wfd = _open_quiet(self.want_path)
            try:
                if (wfd is None or _nobody_waiting(wfd)) and _try_flock(fd, mode):
                    return fd
                if wfd is not None:
                    fair_until = min(deadline, time.monotonic() + 1.0)
                    while not _nobody_waiting(wfd) and time.monotonic() < fair_until:
                        time.sleep(0.002)
                    while not _try_flock(wfd, fcntl.LOCK_SH) and time.monotonic() < deadline:
                        time.sleep(0.001)
                while not _try_flock(fd, mode):
                    if time.monotonic() >= deadline:
                        raise AuditError(f"the audit trail {self.path} stayed locked by another process "
                                         f"for {timeout:.0f}s")
                    time.sleep(0.002)
                return fd
            finally:
                if wfd is not None:
                    os.close(wfd)  # closing drops our 'want'
        except BaseException:
            os.close(fd)
            raise

    def others_waiting(self) -> bool:
        return self.wfd is not None and not _nobody_waiting(self.wfd)

    # ------------------------------------------------------------------ hold / let go
    def open(self, trail: AuditTrail, deadline: float) -> duckdb.DuckDBPyConnection:
        if self.con is not None:
            return self.con
        if str(self.path) in _FORK_POISONED:
            raise AuditError(f"this process was forked while its parent held the audit trail {self.path} open; "
                             "DuckDB cannot be shared across fork: start worker processes with 'spawn'")
        fd = self.flock(fcntl.LOCK_EX, deadline, trail.lock_timeout, required=True)
        con = jfd = None
        try:
            con = trail._connect(read_only=False, deadline=deadline)
            jfd = _open_journal(self.journal_path)
            # whatever an earlier holder (a crashed one) left in the journal goes into DuckDB first, so that the
            # file and the head are compared with the whole trail
            data = _read_all(jfd)
            rows, damage = _parse_journal(data, self.journal_path)
            if damage:
                raise AuditError(f"{damage}; run `csc-dashboard audit verify`")
            _fold(con, rows, self.journal_path)
            _clear_journal(jfd, len(data) if data != bytes(len(data)) else 0)  # anything there: all of it
            if len(data) < JOURNAL_SIZE:  # cut short by a crash while it was being reset: zeros again
                os.pwrite(jfd, bytes(JOURNAL_SIZE - len(data)), len(data))
                os.fsync(jfd)
            self.pending, self.joff, self.jhigh = [], 0, 0
        except BaseException:
            if jfd is not None:
                os.close(jfd)
            if con is not None:
                with contextlib.suppress(duckdb.Error):
                    con.close()
            os.close(fd)
            raise
        self.fd, self.con, self.wfd, self.jfd = fd, con, _open_quiet(self.want_path), jfd
        self.tail, self.checked, self.head_sig, self.unconfirmed, self.grants = None, None, None, False, {}
        self.last_use = time.monotonic()
        self.stop = threading.Event()
        threading.Thread(target=self._watch, args=(self.stop,), name=f"audit-release:{self.path.name}",
                         daemon=True).start()
        return con

    def release(self, confirm: bool = True) -> None:
        """Fold the journal, confirm the newest entry in the head, close DuckDB (it checkpoints), drop the flock."""
        if self.con is not None:
            # if folding fails the entries stay in the journal (durable, and read by verify); the next holder
            # folds them on opening, or refuses to append
            with contextlib.suppress(duckdb.Error, OSError, AuditError):
                self.fold()
            head_path = Path(self.checked[0]) if self.checked is not None else None
            # Confirm only over the head we wrote last: a head changed by someone else is evidence and must stay
            # as it is. Confirming is optional (the announcing head verifies too); it makes dropping the newest
            # entry detectable again once we no longer hold the file.
            if (confirm and self.unconfirmed and self.checked is not None and self.tail is not None
                    and head_path is not None and _stat_sig(head_path) == self.head_sig):
                with contextlib.suppress(OSError):
                    _write_head_file(Path(self.checked[0]), self.checked[1], self.tail[0], self.tail[1], None)
            with contextlib.suppress(duckdb.Error):
                self.con.close()
        for fd in (self.jfd, self.wfd, self.fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)  # closing releases the flock
        if self.stop is not None:
            self.stop.set()
        self.con = self.fd = self.wfd = self.jfd = self.stop = None
        self.pending, self.joff, self.jhigh = [], 0, 0
        self.tail, self.checked, self.head_sig, self.unconfirmed, self.grants = None, None, None, False, {}

    def after_use(self) -> None:
        self.last_use = time.monotonic()
        if self.refs <= 0 or self.others_waiting():
            self.release()

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(WATCH_EVERY):
            if not self.tlock.acquire(blocking=False):
                continue  # in use: whoever holds it checks for waiters afterwards
            try:
                if self.stop is not stop:
                    return  # released (and maybe re-opened with its own watcher) meanwhile
                if (self.refs <= 0 or time.monotonic() - self.last_use >= IDLE_RELEASE
                        or self.others_waiting()):
                    self.release()
                    return
                if self.pending and time.monotonic() - self.last_use >= FOLD_IDLE:
                    # between page views, so that a record seldom has to fold (FOLD_ENTRIES) itself
                    try:
                        self.fold()
                    except (duckdb.Error, OSError, AuditError):
                        self.release()  # the entries stay durable in the journal; the next use refolds or refuses
                        return
            finally:
                self.tlock.release()

    def fold(self) -> None:
        """Move the entries this hold journaled into the DuckDB file (one transaction), then empty the journal."""
        if self.con is not None and self.jfd is not None and (self.pending or self.jhigh):
            _fold(self.con, self.pending, self.journal_path)
            self.pending = []  # in the file now, whatever happens to the journal next
            _clear_journal(self.jfd, self.jhigh)
            self.joff = self.jhigh = 0

    def journal(self, line: bytes) -> None:
        """Append one commit's line to the journal; durable when it returns."""
        assert self.jfd is not None
        self.jhigh = max(self.jhigh, self.joff + len(line))  # cleared on the next fold, even if this fails
        view, off = memoryview(line), self.joff
        while view:
            n = os.pwrite(self.jfd, view, off)
            view, off = view[n:], off + n
        # The journal's blocks were written with zeros in advance, so this overwrite changes no file-system
        # metadata and fdatasync is one data flush: no file-system journal commit, which (shared with every
        # other writer on the disk) cost milliseconds. A line longer than the room left extends the file,
        # and fdatasync then also makes the new size durable.
        os.fdatasync(self.jfd)
        self.joff = off

    def known_tail(self) -> tuple[int, str]:
        if self.tail is None:
            assert self.con is not None
            self.fold()
            if not _has_tables(self.con):
                return (0, GENESIS)
            got = self.con.execute("SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1").fetchall()
            self.tail = (int(got[0][0]), str(got[0][1])) if got else (0, GENESIS)
        return self.tail


_ENTRY_SCHEMA = {n: {"int": pl.Int64, "str": pl.String, "ts": pl.Datetime("us"), "strlist": pl.List(pl.String),
                      "json": pl.String}[k] for n, k in KINDS.items()}
_ENTRY_SCHEMA.update({"prev_hash": pl.String, "hash": pl.String, "seal": pl.String})


def _fold(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], journal: Path) -> None:
    """Insert journaled entries into DuckDB in one transaction (the caller then clears the journal).

    Entries the file already holds (a fold committed, then a crash before the journal was emptied) are skipped,
    but only if they are the very same entries (same hash): anything else is evidence and refuses.
    """
    if rows:
        if not _has_tables(con):
            con.execute(SCHEMA)
        first = min(int(r["seq"]) for r in rows)
        have = dict(con.execute("SELECT seq, hash FROM audit_entry WHERE seq >= ?", [first]).fetchall())
        clash = [r["seq"] for r in rows if r["seq"] in have and have[r["seq"]] != r["hash"]]
        if clash:
            raise AuditError(f"the audit journal {journal} disagrees with the trail at entry {clash[0]}; run "
                             "`csc-dashboard audit verify`")
        rows = [r for r in rows if r["seq"] not in have]
    if rows:
        entries = pl.DataFrame([tuple(r[n] for n in _ENTRY_SCHEMA) for r in rows], schema=_ENTRY_SCHEMA,
                               orient="row")
        cols = ", ".join(f'"{n}"' for n in _ENTRY_SCHEMA)
        kid_schema = {"seq": pl.Int64, "pos": pl.Int32, "child_id": pl.String}
        # a page view's few ids each as Python lists; an export's or a mart's 100,000s column-wise in Polars
        few = [r for r in rows if len(r["child_ids"]) < 1000]
        parts = [pl.DataFrame({"seq": [r["seq"] for r in few for _ in r["child_ids"]],
                               "pos": [p for r in few for p in range(len(r["child_ids"]))],
                               "child_id": [c for r in few for c in r["child_ids"]]}, schema=kid_schema)]
        parts += [pl.DataFrame({"seq": pl.repeat(r["seq"], len(r["child_ids"]), dtype=pl.Int64, eager=True),
                                "pos": pl.int_range(0, len(r["child_ids"]), dtype=pl.Int32, eager=True),
                                "child_id": pl.Series(r["child_ids"], dtype=pl.String)}, schema=kid_schema)
                  for r in rows if len(r["child_ids"]) >= 1000]
        kids = pl.concat(parts)
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("_audit_fold_entries", entries)
            con.register("_audit_fold_children", kids)
            con.execute(f"INSERT INTO audit_entry ({cols}) SELECT {cols} FROM _audit_fold_entries")
            if kids.height:
                con.execute("INSERT INTO audit_child SELECT seq, pos, child_id FROM _audit_fold_children")
            con.execute("COMMIT")  # durable when it returns: only then may the journal's copy go
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            for name in ("_audit_fold_entries", "_audit_fold_children"):
                with contextlib.suppress(duckdb.Error):
                    con.unregister(name)


_SESSIONS: dict[str, _Session] = {}
# Re-entrant because _unref runs from weakref.finalize, i.e. from garbage collection, which can fire inside any
# allocation, including one made while this very thread holds the guard: a plain Lock deadlocked there.
_SESSIONS_GUARD = threading.RLock()


def _session(path: Path) -> _Session:
    with _SESSIONS_GUARD:
        s = _SESSIONS.get(str(path))
        if s is None:
            s = _SESSIONS[str(path)] = _Session(path)
        return s


def _unref(session: _Session) -> None:
    """The last AuditTrail object for a path is gone: let go now if we can, else the watcher does it."""
    with _SESSIONS_GUARD:
        session.refs -= 1
        if session.refs > 0:
            return
    if session.tlock.acquire(blocking=False):
        try:
            session.release()
        finally:
            session.tlock.release()


@atexit.register
def close_all() -> None:
    """Let go of every trail this process holds (confirming the head). Also run at interpreter exit."""
    with _SESSIONS_GUARD:
        sessions = list(_SESSIONS.values())
    for s in sessions:
        if s.tlock.acquire(timeout=5):
            try:
                s.release()
            finally:
                s.tlock.release()


_FORK_ORPHANS: list[Any] = []
_FORK_POISONED: set[str] = set()


def _after_fork_in_child() -> None:
    # The child shares the parent's flock (same open file description): close the child's copies of the lock fds
    # so that a long-lived child cannot keep the trail locked after the parent lets go (the parent's own fds keep
    # its lock). The parent's DuckDB connection is kept referenced, never closed here (closing would checkpoint
    # the parent's database from the child). The child starts with fresh sessions.
    for s in _SESSIONS.values():
        if s.con is not None:
            # DuckDB would hand the child the parent's cached database instance (a stale copy whose writes the
            # parent's next checkpoint would lose): this child must not use the trail at all. Fail closed.
            _FORK_POISONED.add(str(s.path))
        _FORK_ORPHANS.append(s.con)
        for fd in (s.fd, s.wfd, s.jfd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        s.con = s.fd = s.wfd = s.jfd = s.stop = None
        s.pending = []  # so that nothing in the child (a finalizer) closes or confirms
    _SESSIONS.clear()
    global _SESSIONS_GUARD
    _SESSIONS_GUARD = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ----------------------------------------------------------------------------------------------------- results
@dataclass
class VerifyResult:
    entries: int
    ok: bool
    problem: str | None = None
    first_bad_seq: int | None = None
    kind: str | None = None   # edited | deleted | inserted | reordered | forged | truncated | appended | head
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        if self.ok:
            return f"{self.entries} entries, chain intact"
        return f"TAMPERED: {self.problem}"


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    pending: tuple[int, str] | None = None



# ----------------------------------------------------------------------------------------------------- the trail
class AuditTrail:
    """Append-only, hash-chained record of every access decision.

    ``clock`` (a callable returning an aware or UTC datetime) exists so that tests and replays can place entries in
    time; the gate never passes it, so callers cannot back-date an entry.

    All AuditTrail objects for one file in a process share one hold on it (see ``_Session``): the connection and
    the lock stay open while writes keep coming and are let go after ``IDLE_RELEASE`` seconds idle, when another
    process waits, when the last object is gone, on ``close()`` and at exit.
    """

    def __init__(self, path: Path, head_path: Path | None = None, *, lock_timeout: float = 15.0,
                 clock: Callable[[], datetime] | None = None, key: bytes | None = None) -> None:
        self.path = Path(path)
        self.head_path = Path(head_path) if head_path is not None else Path(f"{self.path}.head")
        self.lock_path = Path(f"{self.path}.lock")
        self.key_path = Path(f"{self.path}.key")
        self.lock_timeout = lock_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._key = key
        self._abs = self.path.absolute()
        session = _session(self._abs)
        with _SESSIONS_GUARD:
            session.refs += 1
        weakref.finalize(self, _unref, session)

    @property
    def _s(self) -> _Session:
        return _session(self._abs)  # looked up each time: a forked child gets its own

    def close(self) -> None:
        """Let go of the trail now: confirm the newest entry in the head, close the file, release the lock.

        Optional (it happens by itself when idle, when another process waits, and at exit); the next use reopens.
        """
        s = self._s
        if not s.tlock.acquire(timeout=self.lock_timeout):
            raise AuditError(f"the audit trail {self.path} stayed locked for {self.lock_timeout:.0f}s")
        try:
            s.release()
        finally:
            s.tlock.release()

    # ------------------------------------------------------------------ key
    def _load_key(self, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        env = os.environ.get(KEY_ENV)
        if env:
            return env.encode()
        try:
            text = self.key_path.read_text().strip()
            if text:
                return text.encode()
        except FileNotFoundError:
            pass
        if not create:
            return None
        # first write of a new trail: make a random key readable by the service account only. O_EXCL so two
        # processes creating the trail at once cannot end up with different keys.
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.key_path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(32).hex())
            fh.flush()
            os.fsync(fh.fileno())
        return self.key_path.read_text().strip().encode()

    @staticmethod
    def _mac(key: bytes, text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ head file
    def _read_head(self, key: bytes | None) -> Head | None:
        """The head, or None if there is no head file. AuditError if it is unreadable or its MAC is wrong."""
        try:
            raw = self.head_path.read_text()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            body = {k: doc[k] for k in ("version", "seq", "hash", "pending")}
            mac = doc["mac"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"the audit head file {self.head_path} is damaged") from exc
        if key is None:
            raise AuditError(f"cannot check the audit head {self.head_path}: no key (set {KEY_ENV} or "
                             f"provide {self.key_path})")
        if not hmac.compare_digest(self._mac(key, canonical_json(body)), str(mac)):
            raise AuditError(f"the audit head file {self.head_path} was altered (its MAC does not match)")
        pending = tuple(body["pending"]) if body["pending"] else None
        return Head(int(body["seq"]), str(body["hash"]), pending)  # type: ignore[arg-type]

    def _write_head(self, key: bytes, seq: int, hash_: str, pending: tuple[int, str] | None) -> None:
        _write_head_file(self.head_path, key, seq, hash_, pending)

    # ------------------------------------------------------------------ locking and connections
    def _connect(self, read_only: bool, deadline: float | None = None) -> duckdb.DuckDBPyConnection:
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if deadline is None:
            deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=config)
            except duckdb.IOException as exc:
                # a process that does not use our lock file (e.g. someone inspecting the file) holds DuckDB's lock
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    @contextlib.contextmanager
    def _thread_locked(self) -> Iterator[tuple[_Session, float]]:
        deadline = time.monotonic() + self.lock_timeout
        s = self._s
        if not s.tlock.acquire(timeout=self.lock_timeout):
            raise AuditError(f"the audit trail {self.path} stayed locked for {self.lock_timeout:.0f}s")
        try:
            yield s, deadline
        finally:
            s.tlock.release()

    def _writable(self) -> bool:
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    @contextlib.contextmanager
    def _fresh_read(self, s: _Session, deadline: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """A new read-only connection under the shared flock (``tlock`` held, the session let go)."""
        s.release()
        fd = s.flock(fcntl.LOCK_SH, deadline, self.lock_timeout, required=False)
        try:
            con = self._connect(read_only=True, deadline=deadline)
            try:
                yield con
            finally:
                con.close()
        finally:
            if fd is not None:
                os.close(fd)

    @contextlib.contextmanager
    def reading(self, fold: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to read the trail, one thread at a time. AuditError if there is no trail.

        Uses this process's open connection when it holds the trail (or can take it: a writable trail), else a
        read-only connection under the shared lock (a copy in a read-only place).
        """
        if not self.path.is_file():
            raise AuditError(f"no audit trail at {self.path}")
        try:
            with self._thread_locked() as (s, deadline):
                if s.con is None and not self._writable():
                    rows, damage = _read_journal(s.journal_path)
                    if rows or damage:
                        # a report from the file alone would leave out the journal's entries (a writer crashed
                        # before folding them): refuse rather than answer a subject access request incompletely
                        raise AuditError(f"the audit trail {self.path} has entries in its journal that only a "
                                         "writer can fold into the file; copy it somewhere writable "
                                         "(`audit verify` checks it as it is)")
                    with self._fresh_read(s, deadline) as con:
                        yield con
                    return
                try:
                    con = s.open(self, deadline)
                    if fold:
                        s.fold()  # every entry, also those still in the journal, is in the file read
                    yield con
                except BaseException:
                    s.release(confirm=False)
                    raise
                s.after_use()
        except duckdb.Error as exc:
            raise AuditError(f"cannot read the audit trail {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ writing
    def record(self, entry: dict) -> int:
        """Append one entry; return its sequence number. Raises AuditError if it was not durably written."""
        return self._append(entry)

    def record_many(self, entries: Iterable[Mapping[str, Any]]) -> list[int]:
        """Append several entries, in order, in ONE commit with one head write (one page view's records):
        either all are durably written and their sequence numbers returned, or none is and AuditError is raised.

        Why one commit: a page's records then cost one journal line instead of one each, and a page never shows part of
        what it fetched with the rest unrecorded. Every entry is checked (normalise) before anything is written.
        """
        slots = [_Slot(self, *normalise(e)) for e in entries]
        return self._append_slots(slots, None) if slots else []

    def _append(self, entry: Mapping[str, Any],
                precheck: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> int:
        return self._append_slots([_Slot(self, *normalise(entry))], precheck)[0]

    def _append_slots(self, slots: list[_Slot],
                      precheck: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> list[int]:
        slot = slots[0]
        s = self._s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            deadline = time.monotonic() + self.lock_timeout
            if precheck is None:  # queued from here on: only a lock timeout may take them out again
                with s.qlock:  # all at once, so a thread holding the lock takes all of them or none
                    s.queue.extend(slots)
            if not s.tlock.acquire(timeout=self.lock_timeout):
                return self._gave_up_waiting(s, slots)
            try:
                if slot.done.is_set():  # written by the thread that held the lock (all of them: one batch)
                    return [x.result(self.path) for x in slots]
                batch = list(slots)
                if precheck is None:
                    with s.qlock:
                        batch += [x for x in s.queue if all(x is not y for y in slots) and x.fits(slot)]
                        s.queue = [x for x in s.queue if all(x is not y for y in batch)]
                try:
                    # a new key only for a new trail: a lost key must not be silently replaced (the head would
                    # then fail its MAC check, and a forger could otherwise delete the key to start afresh)
                    key = self._load_key(create=not self.head_path.exists())
                    if key is None:
                        raise AuditError(f"the audit key is missing ({KEY_ENV} or {self.key_path}); the trail "
                                         "cannot be extended safely")
                    con = s.open(self, deadline)
                    self._append_locked(s, con, key, batch, precheck)
                except BaseException as exc:
                    # let go on any failure: the next call reopens and re-checks the trail against its head,
                    # and a refused trail is not kept locked away from the officer's `audit verify`
                    s.release(confirm=isinstance(exc, AuditError) and s.checked is not None)
                    why = str(exc) if isinstance(exc, AuditError) else f"cannot write the audit trail {self.path}: {exc}"
                    for x in batch:  # nothing of the batch was committed (one journal line)
                        x.error = why
                        x.done.set()
                    raise
                for x in batch:
                    x.done.set()
                if len(s.pending) >= FOLD_ENTRIES or s.joff >= FOLD_BYTES:
                    try:
                        s.fold()
                    except (duckdb.Error, OSError, AuditError):
                        # the entries are committed (in the journal) whatever happens here; let go, so that the
                        # next use reopens, which folds or refuses
                        s.release()
                s.after_use()
                return [int(x.seq) for x in slots]  # type: ignore[arg-type]
            finally:
                s.tlock.release()
        except AuditError:
            raise
        except (duckdb.Error, OSError) as exc:
            raise AuditError(f"cannot write the audit trail {self.path}: {exc}") from exc

    def _gave_up_waiting(self, s: _Session, slots: list[_Slot]) -> list[int]:
        with s.qlock:
            queued = any(x is y for x in s.queue for y in slots)
            s.queue = [x for x in s.queue if all(x is not y for y in slots)]
        if queued:  # nobody took them (they are taken all together or not at all): never written
            raise AuditError(f"the audit trail {self.path} stayed locked for {self.lock_timeout:.0f}s")
        # The thread holding the lock took these entries into its batch and is writing them now: its result
        # decides. (Its own waits are bounded by lock_timeout; if even that does not end, the outcome is unknown
        # and the caller must refuse, though the entries may still be committed: over-recorded, never lost.)
        for x in slots:
            if not x.done.wait(self.lock_timeout + 30):
                raise AuditError(f"the audit trail {self.path} did not confirm the entry in time")
        return [x.result(self.path) for x in slots]

    def _check_against_head(self, s: _Session, con: duckdb.DuckDBPyConnection, key: bytes) -> None:
        """Refuse to append to a trail that no longer matches its head (once per hold, or if the head moved)."""
        sig = (str(self.head_path), key)
        if s.checked == sig and s.tail is not None and _stat_sig(self.head_path) == s.head_sig:
            return  # we hold the flock and wrote the head last: nobody else can have appended
        s.checked, s.head_sig = None, None
        if not _has_tables(con):
            con.execute(SCHEMA)
        s.tail = None
        last_seq, last_hash = s.known_tail()
        head = self._read_head(key)
        # Refuse to append to a trail that no longer matches its head: appending would write a new head over the
        # evidence (dropped or forged newest entries). An officer must investigate first (docs/audit.md).
        if head is None:
            if last_seq:
                raise AuditError(f"the audit trail {self.path} has entries but its head file {self.head_path} "
                                 "is missing; run `csc-dashboard audit verify`")
        elif (last_seq, last_hash) != (head.seq, head.hash) and (last_seq, last_hash) != head.pending:
            raise AuditError(f"the audit trail {self.path} does not match its head (entry {last_seq} vs head "
                             f"{head.seq}); run `csc-dashboard audit verify`")
        s.checked, s.head_sig = sig, _stat_sig(self.head_path)
        s.unconfirmed = head is not None and (last_seq, last_hash) != (head.seq, head.hash)

    def _append_locked(self, s: _Session, con: duckdb.DuckDBPyConnection, key: bytes, batch: list[_Slot],
                       precheck: Callable[[duckdb.DuckDBPyConnection], None] | None) -> None:
        """Append the batch's entries (in order) in one commit (one journal line); set each slot's seq."""
        self._check_against_head(s, con, key)
        if precheck is not None:
            s.fold()  # the check reads the DuckDB file
            precheck(con)
        prev_seq, prev_hash = s.known_tail()
        last_seq, last_hash = prev_seq, prev_hash
        rows: list[dict[str, Any]] = []
        texts: list[str] = []
        for x in batch:
            row = dict(x.row, seq=last_seq + 1, ts=_utc_naive(x.trail._clock(), "ts"))
            text = hashed_text(row, x.children, last_hash)
            digest = hashlib.sha256(text.encode()).hexdigest()
            seal = self._mac(key, digest)
            texts.append(_journal_entry_text(text, digest, seal))
            rows.append(dict(row, child_ids=x.children, prev_hash=last_hash, hash=digest, seal=seal))
            last_seq, last_hash = row["seq"], digest
        line = ("[" + ",".join(texts) + "]\n").encode()  # cannot fail: normalise refused unencodable text
        # One head write per commit: it confirms the newest committed entry and announces the batch's last one,
        # and is on disk before the commit. The batch commits all or nothing (one journal line: a torn line is
        # dropped whole), so a crash at any point leaves a head that verify accepts (the trail ends at the
        # confirmed entry, or at the announced one). The announcement becomes a confirmation when this process
        # lets go of the trail (docs/audit.md).
        s.checked = None  # if anything below fails, the next append re-reads the trail and the head
        st = _write_head_file(self.head_path, key, prev_seq, prev_hash, (last_seq, last_hash))
        # The commit: one line written to the journal and fdatasynced (durable when it returns). A DuckDB INSERT +
        # COMMIT of the 29-column row cost ~10 ms of CPU; the entries reach the DuckDB file in bulk later (_fold):
        # when the journal grows, when idle, before anything reads the file, and when this process lets go.
        s.journal(line)
        s.pending.extend(rows)
        s.tail, s.unconfirmed = (last_seq, last_hash), True
        if any(r["event"] in ("emergency_access", "emergency_review") for r in rows):
            s.grants.clear()
        s.checked, s.head_sig = (str(self.head_path), key), (st.st_ino, st.st_mtime_ns, st.st_size)
        for x, r in zip(batch, rows, strict=True):
            x.seq = int(r["seq"])

    # ------------------------------------------------------------------ emergency access
    def review_emergency(self, seq: int, reviewer: str, justified: bool, note: str | None = None, *,
                         role: str | None = "ig_officer", path: str = "cli:audit review",
                         lawful_basis: str | None = None, tier: str | None = None) -> int:
        """Record an IG officer's decision on emergency access entry ``seq`` as its own entry; return its seq."""

        def check(con: duckdb.DuckDBPyConnection) -> None:
            found = con.execute('SELECT event, "user" FROM audit_entry WHERE seq = ?', [seq]).fetchall()
            if not found:
                raise AuditError(f"there is no audit entry {seq}")
            if found[0][0] != "emergency_access":
                raise AuditError(f"audit entry {seq} is a {found[0][0]!r} entry, not an emergency access")
            if found[0][1] == reviewer:
                raise AuditError("an emergency access cannot be reviewed by the person who used it")
            done = con.execute("SELECT seq, \"user\" FROM audit_entry WHERE event = 'emergency_review' "
                               "AND review_of = ?", [seq]).fetchall()
            if done:
                raise AuditError(f"emergency access {seq} was already reviewed (entry {done[0][0]} by {done[0][1]})")

        entry = {"user": reviewer, "role": role, "purpose": "audit", "path": path, "outcome": "allowed",
                 "lawful_basis": lawful_basis, "tier": tier, "teams": [],
                 "event": "emergency_review", "review_of": int(seq),
                 "decision": "justified" if justified else "not_justified", "note": note}
        return self._append(entry, precheck=check)

    def active_emergency_grants(self, user: str, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """Children ``user`` may see under an unexpired emergency access: [(child_id, expires_at UTC)].

        A grant an officer has reviewed as not justified ends at once. Missing trail: no grants.
        """
        at = _utc_naive(now if now is not None else datetime.now(UTC), "now")
        if not self.path.is_file():
            return []
        s = self._s
        with self.reading(fold=False) as con:
            # Cached per user while this process holds the flock: nobody else can append meanwhile, our own
            # emergency entries clear the cache, and it is dropped whenever the hold is let go, so a revocation
            # recorded by another process is seen by the next call (which has to take the lock back first).
            held = s.con is con
            rows = s.grants.get(user) if held else None
            if rows is None:
                if held and any(r["event"] in ("emergency_access", "emergency_review") for r in s.pending):
                    s.fold()  # only emergency entries change the answer: others may stay in the journal
                if not _has_tables(con):
                    return []
                rows = [(str(cid), exp) for cid, exp in con.execute("""
                    SELECT c.child_id, max(e.expires_at)
                    FROM audit_entry e JOIN audit_child c ON c.seq = e.seq
                    WHERE e.event = 'emergency_access' AND e.outcome = 'allowed' AND e."user" = ?
                      AND e.expires_at IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM audit_entry r WHERE r.event = 'emergency_review'
                                      AND r.review_of = e.seq AND r.decision = 'not_justified')
                    GROUP BY c.child_id ORDER BY c.child_id""", [user]).fetchall()]
                if held:
                    s.grants[user] = rows
        # the latest expiry per child decides: if that is past, every grant for the child is (same as filtering
        # the entries by expiry first)
        return [(cid, exp) for cid, exp in rows if exp > at]

    # ------------------------------------------------------------------ reading
    def frame(self, where: str = "", params: list[Any] | None = None) -> pl.DataFrame:
        """Entries (optionally filtered by a SQL condition on alias ``e``) as a Polars frame, in seq order."""
        with self.reading() as con:
            if not _has_tables(con):
                return empty_frame()
            sql = ENTRIES_SQL + (f" WHERE {where}" if where else "") + " ORDER BY e.seq"
            return con.sql(sql, params=params or []).pl()

    # ------------------------------------------------------------------ verification
    def verify(self) -> VerifyResult:
        """Walk the chain; name the FIRST entry that was edited, deleted, inserted or reordered, then the head.

        Always reads the file afresh, as another process would: this process first lets go of the trail (its
        newest entry confirmed in the head, the file checkpointed), so what is checked is what is on disk.
        """
        if not self.path.is_file():
            raise AuditError(f"no audit trail at {self.path}")
        try:
            with self._thread_locked() as (s, deadline), self._fresh_read(s, deadline) as con:
                if not _has_tables(con):
                    rows: list[dict[str, Any]] = []
                else:
                    cur = con.execute(ENTRIES_SQL + " ORDER BY e.seq")
                    cols = [d[0] for d in cur.description]
                    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
                # Entries still in the journal (normally none: letting go folded them; after a crash, or in a
                # copy, some may be). The journal is checked exactly like the file: same hashes, seals and head.
                journal, damage = _read_journal(Path(f"{self.path}.journal"))
        except duckdb.Error as exc:
            raise AuditError(f"cannot read the audit trail {self.path}: {exc}") from exc
        have = {int(r["seq"]): r["hash"] for r in rows}
        # the same entry in both (folded, then a crash before the journal was emptied) counts once; any other
        # overlap stays in, and the walk names it (an entry appearing twice)
        extra = [r for r in journal if have.get(int(r["seq"])) != r["hash"]]
        if extra:
            rows = sorted(rows + extra, key=lambda r: int(r["seq"]))
        key = self._load_key(create=False)
        found = _walk(rows, key, self)
        if damage and (found.ok or found.kind in ("truncated", "head")):
            last = int(rows[-1]["seq"]) if rows else 0
            return VerifyResult(entries=len(rows), ok=False, problem=f"{damage}: entries after {last} cannot be "
                                "read (edited)", first_bad_seq=last + 1, kind="edited")
        return found


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    # probing the two tables: listing duckdb_tables() cost 20-45 ms on a fresh connection (every take-over)
    try:
        con.execute("SELECT 1 FROM audit_entry LIMIT 0")
        con.execute("SELECT 1 FROM audit_child LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def empty_frame() -> pl.DataFrame:
    types = {"int": pl.Int64, "str": pl.String, "ts": pl.Datetime("us"), "strlist": pl.List(pl.String),
             "json": pl.String}
    schema = {n: types[k] for n, k in KINDS.items()}
    schema.update({"child_ids": pl.List(pl.String), "prev_hash": pl.String, "hash": pl.String, "seal": pl.String})
    return pl.DataFrame(schema=schema)


def _content_hash_as(row: dict[str, Any], seq: int) -> str:
    return hash_content(dict(row, seq=seq), list(row["child_ids"] or []), row["prev_hash"])


def _walk(rows: list[dict[str, Any]], key: bytes | None, trail: AuditTrail) -> VerifyResult:
    n = len(rows)

    def bad(seq: int | None, kind: str, problem: str) -> VerifyResult:
        return VerifyResult(entries=n, ok=False, problem=problem, first_bad_seq=seq, kind=kind)

    def original_seq(row: dict[str, Any]) -> int | None:
        """If the entry is intact but renumbered, the number it was written with (searched nearby)."""
        for s in range(max(1, row["seq"] - 50), row["seq"] + 51):
            if s != row["seq"] and _content_hash_as(row, s) == row["hash"]:
                return s
        return None

    if key is not None and rows and not hmac.compare_digest(AuditTrail._mac(key, rows[0]["hash"]),
                                                            str(rows[0]["seal"])):
        try:
            trail._read_head(key)
        except AuditError:
            # neither the first seal nor the head matches: far likelier a wrong key than two forgeries
            return bad(None, "key", f"the key ({KEY_ENV} or {trail.key_path}) is not this trail's key: neither "
                                    "its head nor its seals match")
    prev_hash, expected = GENESIS, 1
    for i, row in enumerate(rows):
        seq = int(row["seq"])
        if seq > expected:
            return bad(expected, "deleted", f"entry {expected} is missing (deleted): the chain jumps from entry "
                                            f"{expected - 1} to entry {seq}")
        if seq < expected:  # cannot happen with the primary key, unless the table was rebuilt without it
            return bad(seq, "inserted", f"entry {seq} appears twice (an entry was inserted)")
        if hash_content(row, list(row["child_ids"] or []), row["prev_hash"]) != row["hash"]:
            orig = original_seq(row)
            if orig is None and i + 1 < n and original_seq(rows[i + 1]) == seq:
                return bad(seq, "inserted", f"entry {seq} was inserted: entry {seq + 1} is the original entry {seq}")
            if orig is None:
                return bad(seq, "edited", f"entry {seq} was edited: its contents no longer match its hash")
            if orig < seq and row["prev_hash"] == (rows[i - 2]["hash"] if i >= 2 else GENESIS):
                return bad(seq - 1, "inserted", f"entry {seq - 1} was inserted: entry {seq} is the original entry "
                                                f"{orig}, which followed entry {seq - 2}")
            if orig > seq and i + 1 < n and original_seq(rows[i + 1]) == seq:
                return bad(seq, "reordered", f"entries {seq} and {seq + 1} were swapped (reordered): the entry "
                                             f"numbered {seq} was written as entry {orig}")
            if orig > seq:
                return bad(seq, "deleted", f"entry {seq} was deleted and the later entries renumbered: the entry "
                                           f"numbered {seq} was written as entry {orig}")
            return bad(seq, "reordered", f"entry {seq} was moved: it was written as entry {orig}")
        if row["prev_hash"] != prev_hash:
            return bad(seq - 1 if seq > 1 else seq, "inserted",
                       f"entry {seq - 1} was replaced or inserted: entry {seq} was chained to a different entry "
                       f"{seq - 1}")
        if key is not None and not hmac.compare_digest(AuditTrail._mac(key, row["hash"]), str(row["seal"])):
            if i + 1 < n and original_seq(rows[i + 1]) == seq:
                return bad(seq, "inserted", f"entry {seq} was inserted (it lacks the trail's seal, and entry "
                                            f"{seq + 1} is the original entry {seq})")
            return bad(seq, "forged", f"entry {seq} carries a valid hash but not the trail's seal: it was written "
                                      "or rewritten outside the trail (by someone without the key)")
        prev_hash, expected = row["hash"], seq + 1

    notes = []
    if not rows and key is None and not trail.head_path.exists():
        return VerifyResult(entries=0, ok=True)  # created but never written to
    if key is None:
        notes.append(f"no key ({KEY_ENV} or {trail.key_path}): seals and the head were not checked")
        return VerifyResult(entries=n, ok=False, problem=notes[0], kind="head", notes=notes)
    try:
        head = trail._read_head(key)
    except AuditError as exc:
        return bad(None, "head", str(exc))
    last = (n and int(rows[-1]["seq"])) or 0
    last_hash = rows[-1]["hash"] if rows else GENESIS
    if head is None:
        if n:
            return bad(None, "head", f"the head file {trail.head_path} is missing: the newest entries cannot be "
                                     "checked for truncation")
        return VerifyResult(entries=0, ok=True)
    if (last, last_hash) == (head.seq, head.hash) or (last, last_hash) == head.pending:
        return VerifyResult(entries=n, ok=True, notes=notes)
    if last < head.seq:
        return bad(last + 1, "truncated", f"the newest entries were removed (truncated): the trail ends at entry "
                                          f"{last} but its head records entry {head.seq}")
    if last > head.seq:
        return bad(head.seq + 1, "appended", f"entry {head.seq + 1} onwards are not covered by the head: "
                                             "added outside the trail")
    return bad(last, "edited", f"entry {last} differs from the one recorded in the head")
