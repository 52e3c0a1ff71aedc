"""Storing a build's tables while the rest of the build goes on: the writer and the derived relations.

A build's tables become final at different times (the SSDA903 and local tables while the CIN censuses are still
being read; the CIN tables and `child` last). The writers store each one as soon as it is final, two inserts at a
time on cursors of their own, and tell the scheduler; the scheduler stores each derived relation (derived.sql) as soon
as every table and relation it reads is stored, two at a time on cursors of their own (the build's connection runs
each statement on one DuckDB thread), so they overlap the reading and cleaning still going on. When several are
ready, the one heading the longest chain of relations still to run goes first (critical_path), so the build does
not end waiting on one long relation.

Same content as storing them one after another at the end: a relation is computed only once everything it reads
is complete (what it reads is worked out from the text of its view and of the macros that view calls,
transitively), with the statements and row order derived.materialise uses.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import duckdb
import polars as pl

from dashboard.warehouse import derived
from dashboard.warehouse.dq import BuildError

_WORD = re.compile(r"[a-z_][a-z0-9_]*")

#: derived relations stored at once (each one DuckDB thread; the machines have 2 cores)
DERIVERS = 2


def derived_needs(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """For each derived relation still a view: the tables and other derived relations it reads, found in its
    view's text and the texts of the views and macros it names (an over-estimate is harmless: it only waits)."""
    views = {n.lower(): s.lower() for n, s in con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT internal").fetchall()}
    macros: dict[str, str] = {}
    for n, s in con.execute(
            "SELECT function_name, macro_definition FROM duckdb_functions() WHERE database_name = current_database() "
            "AND function_type IN ('macro', 'table_macro') AND NOT internal").fetchall():
        macros[n.lower()] = macros.get(n.lower(), "") + " " + (s or "").lower()
    tables = {n.lower() for (n,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main'").fetchall()}
    needs: dict[str, set[str]] = {}
    for name in derived.DERIVED:
        if name not in views:
            continue
        seen: set[str] = set()
        todo = [views[name]]
        found: set[str] = set()
        while todo:
            for word in set(_WORD.findall(todo.pop())):
                if word in seen:
                    continue
                seen.add(word)
                if word in tables:
                    found.add(word)
                if word in views and word != name:
                    if word in derived.DERIVED:
                        found.add(word)  # its stored table, once stored, is what the relation reads
                    todo.append(views[word])
                if word in macros:
                    todo.append(macros[word])
        needs[name] = found
    return needs


#: CPU seconds of each derived relation in a build at authority scale (one DuckDB thread, compressing its own
#: row groups), for choosing what to start first; only their proportions matter, and a relation not listed
#: counts as COST_UNKNOWN
COST = {"stitched_episode": 0.07, "placement_episode": 0.03, "team_spell": 0.10, "referral": 0.14,
        "census_span": 0.004, "child_census": 0.12, "case_list": 0.22, "cin_episode_flow": 0.05, "child_day": 0.10,
        "assessment_span": 0.06}
COST_UNKNOWN = 0.1


def critical_path(needs: dict[str, set[str]]) -> dict[str, float]:
    """For each derived relation: its cost plus the longest chain of relations that wait for it (the time from
    starting it to the end of the last relation that depends on it, with no waiting)."""
    out: dict[str, float] = {}

    def length(name: str, seen: frozenset[str]) -> float:
        if name not in out:
            after = [length(other, seen | {name}) for other, wanted in needs.items()
                     if name in wanted and other not in seen]
            out[name] = COST.get(name, COST_UNKNOWN) + max(after, default=0.0)
        return out[name]

    for name in needs:
        length(name, frozenset())
    return out


class Storer:
    """The writers (two inserts at a time) and the derived relations (as soon as their inputs are stored)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, needs: dict[str, set[str]], ready: Iterable[str]) -> None:
        self.con = con
        self.needs = needs
        self.stored: set[str] = set(ready)
        self.started: set[str] = set()
        self.futures: list[Future] = []
        self.lock = threading.Lock()
        self.catalog = threading.Lock()
        self.writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="build-writer")
        self.deriver = ThreadPoolExecutor(max_workers=DERIVERS, thread_name_prefix="build-derive")
        self.running = 0
        # what to start first when several relations are ready: the one at the head of the longest chain still
        # to run (so the build does not end with one long relation on one core)
        self.priority = critical_path(needs)
        self.local = threading.local()
        self.cursors: list[duckdb.DuckDBPyConnection] = []
        self.inserts: list[Future] = []
        self.closed = False
        self.column_docs: list[tuple[str, str, str, str]] = []
        # a cursor starts in the connection's first database, which need not be the warehouse (db._open)
        self.use = 'USE "{}"'.format(con.execute("SELECT current_database()").fetchall()[0][0].replace('"', '""'))

    # ------------------------------------------------------------------ tables
    def insert(self, table: str, frame: pl.DataFrame) -> None:
        """Store a final table (in the background); the derived relations waiting for it follow."""
        self.inserts.append(self.writer.submit(self._insert, table, frame))

    def _insert(self, table: str, frame: pl.DataFrame) -> None:
        if self.closed:
            return
        cur = getattr(self.local, "cursor", None)
        if cur is None:  # one cursor per writer thread: a DuckDB connection is not for two threads at once
            with self.catalog:
                cur = self.local.cursor = self.con.cursor()
                self.cursors.append(cur)
            cur.execute(self.use)
        insert_frame(cur, table, frame)
        self.mark({table})

    def wait_inserts(self) -> None:
        """Wait for every insert so far; the first that failed raises here."""
        for done in list(self.inserts):
            done.result()

    # ------------------------------------------------------------------ derived relations
    def mark(self, names: set[str], finished: bool = False) -> None:
        """`names` are stored; start what that makes ready, DERIVERS at a time (`finished`: one of those ended)."""
        with self.lock:
            self.stored |= names
            self.running -= finished
            if self.closed:
                return
            ready = [n for n in derived.DERIVED if n in self.needs and n not in self.started
                     and self.needs[n] <= self.stored]
            ready.sort(key=lambda n: -self.priority[n])  # stable: ties keep derived.sql's order
            for name in ready[:max(0, DERIVERS - self.running)]:
                self.started.add(name)
                self.running += 1
                self.futures.append(self.deriver.submit(self._derive, name))

    def _derive(self, name: str) -> None:
        if self.closed:
            return
        with self.catalog:
            cur = self.con.cursor()
        cur.execute(self.use)
        stored = False
        try:
            derived.materialise_one(cur, name, swap_lock=self.catalog)
            stored = True
        finally:
            cur.close()
            self.mark({name} if stored else set(), finished=True)  # a failure is raised by finish()

    def finish(self) -> None:
        """Every insert and every derived relation that can run, done; the first failure raises. Relations
        whose inputs never all showed up are left to derived.materialise (as views they are still correct)."""
        self.wait_inserts()
        while True:
            with self.lock:
                pending = [f for f in self.futures if not f.done()]
            if not pending:
                break
            wait(pending)
        for f in self.futures:
            f.result()
        self.close()

    def close(self) -> None:
        """Stop: nothing queued starts, what runs finishes (so the connection can be closed after)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.writer.shutdown(wait=True, cancel_futures=True)
        self.deriver.shutdown(wait=True, cancel_futures=True)
        for cur in self.cursors:
            cur.close()


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """One bulk insert through Arrow (DuckDB's executemany runs one statement per row)."""
    cols = [c for c in frame.columns if not c.startswith("_")]
    arrow = frame.select(cols).to_arrow()
    name = f"_incoming_{table}"
    con.register(name, arrow)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
    except duckdb.Error as exc:
        raise BuildError(table, f"could not store the cleaned rows ({exc})") from None
    finally:
        con.unregister(name)
