"""Protected aggregate answers kept on disk beside the warehouse, so each is worked out once per warehouse file.

Protecting a cube can cost a few hundred milliseconds (the optimal secondary search, docs/privacy-model.md
section 4). The gate keeps every protected cube in memory (Gate._protected_cube); this store keeps them on disk
too, so a restarted server, a second server process and every one-shot `csc-dashboard query` get a cube that any
of them has already protected without protecting it again.

What an entry is: the output of protect_frame (cells as published, which cells are hidden and why, notes) or the
refusal it gave, for one (query text, parameters, rule-set, population). Never a raw count: a hidden cell holds the
rule-set's symbol here exactly as on a page, so the store holds nothing the gate would not show to some principal
of that rule-set and population. Who asks, their team and their emergency grants are not part of it (aggregates
are whole-authority by design; see Gate._store_key), and the gate still records every answer, from the store or
not, in the audit trail before returning it.

Why an entry can only be found by the warehouse file it was computed from:
  - entries live in a folder named after the warehouse file's identity: its build record (sources' checksums,
    code version) and the file's size, modification time and inode, read around opening it. A rebuild writes a
    new file and renames it over the old one (new inode and time), so it never meets the old file's entries;
  - the entry's file name is a hash of its whole key, and the entry holds the key itself, checked on reading;
  - the key holds a fingerprint of the protection code (dashboard/policy/*.py and the HiGHS version): a changed
    rule or search never serves a pattern an older version chose.
Why it is not signed: the folder sits beside the warehouse and has the same owner; whoever can write to it can
rewrite the warehouse itself. A torn or corrupt entry (a crash while writing is ruled out by writing a temporary
file and renaming it) is caught by the checksum in it and is worked out again. Files are created readable by
their owner only: a cube for one rule-set shows cells a stricter rule-set (partner) would hide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from dashboard.policy.identity import Principal

#: folders of other warehouse files (older builds) untouched this long are removed when a store is opened
STALE_SECONDS = 24 * 3600

_CODE: str | None = None


def code_fingerprint() -> str:
    """What decides a protected cube besides the data, the query and the rule-set: the policy engine's code."""
    global _CODE
    if _CODE is None:
        from importlib.metadata import PackageNotFoundError, version

        h = hashlib.sha256()
        for f in sorted(Path(__file__).parent.glob("*.py")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        try:  # the version, not the module: importing HiGHS costs a one-shot command 0.14 s (optimal.py loads it)
            h.update(version("highspy").encode())
        except PackageNotFoundError:
            h.update(b"?")
        _CODE = h.hexdigest()
    return _CODE


def file_stat(path: Path) -> tuple[int, int, int]:
    """Size, modification time and inode: a rebuild (a new file renamed over the old) changes them."""
    s = os.stat(path)
    return s.st_size, s.st_mtime_ns, s.st_ino


class CubeStore:
    """One warehouse file's protected cubes on disk. get/put never raise: a store that cannot be read or written
    just means the cube is worked out again (and kept in memory by the gate)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def beside(cls, warehouse: Path, con: duckdb.DuckDBPyConnection, before: tuple[int, int, int]) -> CubeStore | None:
        """The store of the warehouse file `con` was opened on (`before`: its file_stat taken just before opening),
        or None when that file cannot be told for sure (replaced while opening) or the folder cannot be made."""
        warehouse = Path(warehouse)
        try:
            after = file_stat(warehouse)
            if after != before:   # renamed over while we opened it: which file con reads is unknown
                return None
            info = con.execute("SELECT key, value FROM build_info ORDER BY key").fetchall()
        except (OSError, duckdb.Error):
            return None
        ident = hashlib.sha256(json.dumps([info, list(after)]).encode()).hexdigest()[:32]
        root = warehouse.with_name(f"{warehouse.name}.protected")
        folder = root / ident
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.utime(folder)       # in use: not stale
        except OSError:
            return None
        _prune(root, keep=ident)
        return cls(folder)

    def count(self) -> int:
        """How many cubes are kept for this warehouse file."""
        try:
            return sum(1 for _ in self.folder.glob("*.json"))
        except OSError:
            return 0

    # ------------------------------------------------------------------ entries
    @staticmethod
    def key_text(key: tuple) -> str:
        """The gate's store key (Gate._store_key: query name, query text, parameters, rule-set, population) as
        text, with the policy engine's code fingerprint added."""
        name, text, params, ruleset, population = key
        return json.dumps({"query": name, "text": text, "params": [list(p) for p in params],
                           "ruleset": dataclasses.asdict(ruleset), "population": population,
                           "code": code_fingerprint()}, sort_keys=True)

    def _file(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def get(self, key: str, placeholder: Principal) -> tuple[str, Any] | None:
        """The entry kept under `key` (("allowed", ProtectedResult) or ("refused", reason)), or None."""
        try:
            raw = self._file(key).read_bytes()
            doc = json.loads(raw)
            body = doc["body"]
            if doc.get("sha256") != hashlib.sha256(body.encode()).hexdigest():
                return None
            entry = json.loads(body)
            if entry.get("key") != key:
                return None
            if entry["kind"] == "refused":
                return "refused", str(entry["reason"])
            return "allowed", _result(entry["result"], placeholder)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, entry: tuple[str, Any]) -> None:
        kind, value = entry
        body = json.dumps({"key": key, "kind": kind, **({"reason": value} if kind == "refused" else
                                                         {"result": _plain(value)})}, allow_nan=True)
        doc = json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest(), "body": body})
        target = self._file(key)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.{time.monotonic_ns()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(doc)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _plain(res: Any) -> dict[str, Any]:
    """A ProtectedResult as JSON: only what the store shares (the asker's identity, tier, lawful basis and
    parameters are attached per request by the gate)."""
    return {
        "query": res.query, "title": res.title, "unit": res.unit, "tier": res.tier, "ruleset": res.ruleset,
        "symbol": res.symbol, "population": res.population, "notes": list(res.notes),
        "columns": [[c.name, c.kind, c.label] for c in res.columns],
        "rows": [[_value(v) for v in r] for r in res.rows],
        "hidden": [[i, col, h.rule, h.kind, h.why] for (i, col), h in sorted(res.hidden.items())],
    }


def _value(v: Any) -> Any:
    if hasattr(v, "item"):          # a NumPy scalar
        return v.item()
    if v is None or isinstance(v, str | int | float):
        return v
    raise TypeError(f"a protected cell of type {type(v).__name__} cannot be kept")


def _result(d: dict[str, Any], placeholder: Principal) -> Any:
    from dashboard.policy.gate import Hidden, ProtectedResult, ResultColumn

    return ProtectedResult(
        d["query"], d["title"], d["unit"], placeholder, d["tier"], d["ruleset"], d["symbol"],
        [ResultColumn(n, k, lab) for n, k, lab in d["columns"]], [list(r) for r in d["rows"]],
        {(int(i), str(c)): Hidden(rule, kind, why) for i, c, rule, kind, why in d["hidden"]},
        population=d["population"], notes=list(d["notes"]))


def _prune(root: Path, keep: str) -> None:
    """Remove the folders of warehouse files that are gone (older builds) once nobody has used them for a day."""
    now = time.time()
    with contextlib.suppress(OSError):
        for d in root.iterdir():
            if d.name != keep and d.is_dir() and now - d.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(d, ignore_errors=True)
