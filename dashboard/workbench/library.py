"""Saved queries: a personal library per user, and the vetted measures of queries/ as read-only examples.

Only the SQL text and its title are stored (``<data dir>/workbench/<user>.json``), never a result: a saved
result would be a copy of personal data outside the audit trail's sight.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from dashboard.config import QUERIES_DIR, data_dir
from dashboard.workbench.sandbox import WorkbenchError

MAX_QUERIES = 500
MAX_SQL_CHARS = 100_000
MAX_TITLE_CHARS = 200
_lock = threading.Lock()


@dataclass(frozen=True)
class SavedQuery:
    title: str
    sql: str
    saved_at: str


@dataclass(frozen=True)
class Example:
    """A vetted measure from queries/: shown as a starting point. It is written for the warehouse (named
    parameters like $census_year, and tables the mart may not have), so it may not run unchanged."""

    name: str
    title: str
    definition: str
    sql: str


def library_path(user: str, directory: Path | None = None) -> Path:
    if not user or not user.strip():
        raise WorkbenchError("a saved-query library needs a user id")
    # Percent-encoding keeps every user id distinct and makes a path out of none of them ('/' and '..' are
    # encoded), so one analyst's id can never name another file.
    name = quote(user.strip(), safe="@-_")
    name = name.replace(".", "%2E")
    return Path(directory or data_dir() / "workbench") / f"{name}.json"


class Library:
    """One user's saved queries."""

    def __init__(self, user: str, directory: Path | None = None):
        self.user = user
        self.path = library_path(user, directory)

    def list(self) -> list[SavedQuery]:
        if not self.path.exists():
            return []
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return [SavedQuery(str(q["title"]), str(q["sql"]), str(q.get("saved_at", ""))) for q in doc["queries"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WorkbenchError(f"{self.path}: the saved-query library cannot be read ({e})") from None

    def get(self, title: str) -> SavedQuery:
        for q in self.list():
            if q.title == title:
                return q
        raise WorkbenchError(f"no saved query titled {title!r}")

    def save(self, title: str, sql: str) -> SavedQuery:
        title = (title or "").strip()
        if not title:
            raise WorkbenchError("a saved query needs a title")
        if len(title) > MAX_TITLE_CHARS:
            raise WorkbenchError(f"a title may be at most {MAX_TITLE_CHARS} characters")
        if not sql or not sql.strip():
            raise WorkbenchError("there is no SQL to save")
        if len(sql) > MAX_SQL_CHARS:
            raise WorkbenchError(f"a saved query may be at most {MAX_SQL_CHARS} characters")
        entry = SavedQuery(title, sql, datetime.now(UTC).isoformat(timespec="seconds"))
        with _lock:
            queries = [q for q in self.list() if q.title != title]
            if len(queries) >= MAX_QUERIES:
                raise WorkbenchError(f"the library holds at most {MAX_QUERIES} queries; delete some first")
            queries.append(entry)
            self._write(queries)
        return entry

    def delete(self, title: str) -> None:
        with _lock:
            queries = self.list()
            kept = [q for q in queries if q.title != title]
            if len(kept) == len(queries):
                raise WorkbenchError(f"no saved query titled {title!r}")
            self._write(kept)

    def _write(self, queries: list[SavedQuery]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"user": self.user, "queries": [asdict(q) for q in queries]}
        # write then rename: a crash never leaves half a library
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, ensure_ascii=False)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def examples(directory: Path = QUERIES_DIR) -> list[Example]:
    """The vetted measures, read-only. A folder that cannot be read gives no examples rather than an error."""
    from dashboard.warehouse.queries import QueryError, load_queries

    try:
        specs = load_queries(directory)
    except (QueryError, OSError):
        return []
    return [Example(s.name, s.title, s.definition, s.sql.strip()) for s in specs.values()]
