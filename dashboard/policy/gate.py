"""The gate: the one enforcement point every page, CLI command, export and the workbench goes through.

For each request it decides from the principal's role and purpose (access_policies/) which tier, relationship
scope, rule-set and lawful basis apply, runs the named query on the population that purpose may see, protects
the answer, records the decision in the audit trail and only then returns it. There is no bypass: no role,
flag or argument gets unprotected data out of this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from dashboard.config import POLICY_DIR, QUERIES_DIR, Settings
from dashboard.policy.anonymity import k_anonymise, k_anonymise_tables
from dashboard.policy.identity import Principal
from dashboard.policy.model import ColumnClass, Grant, Policy, Purpose, RuleSet, load_policy
from dashboard.policy.pseudonym import KeyMissing, load_key, postcode_district, pseudonymise, to_month
from dashboard.policy.store import CubeStore, file_stat
from dashboard.policy.suppression import PRIMARY, PUBLISHED, Unprotectable, flat_relations, protect
from dashboard.warehouse.db import CHILD_TABLES, open_readonly
from dashboard.warehouse.queries import QueryError, QuerySpec, get_query, load_queries, run_query

TOTAL = "Total"
NOT_KNOWN = "Not known"
MAX_EMERGENCY_MINUTES = 24 * 60


class Refusal(Exception):
    """The gate said no. `reason` is written for the person asking: what was refused and what they can do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuditUnavailable(Refusal):
    """The audit trail could not record a request, so no answer of it is shown (fail closed)."""


@dataclass(frozen=True)
class ResultColumn:
    name: str
    kind: str
    label: str = ""


@dataclass(frozen=True)
class Hidden:
    rule: str        # the rule-set (or policy rule) that hid the cell
    kind: str        # primary | secondary | derived
    why: str         # plain English, for a tooltip or footnote


@dataclass
class ProtectedResult:
    query: str
    title: str
    unit: str
    principal: Principal
    tier: str
    ruleset: str | None
    symbol: str | None
    columns: list[ResultColumn]
    rows: list[list[Any]]
    hidden: dict[tuple[int, str], Hidden] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    lawful_basis: str = ""
    population: str = "all"
    notes: list[str] = field(default_factory=list)

    @property
    def cells_suppressed(self) -> int:
        return len(self.hidden)

    def frame(self) -> pl.DataFrame:
        """Numeric frame for charts: hidden cells are None, never the symbol and never the true value."""
        data: dict[str, list] = {}
        for j, c in enumerate(self.columns):
            vals = [None if (i, c.name) in self.hidden else r[j] for i, r in enumerate(self.rows)]
            data[c.name] = vals
        return pl.DataFrame(data, strict=False) if self.rows else pl.DataFrame(
            {c.name: [] for c in self.columns})

    def to_json(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, date | datetime):
                return v.isoformat()
            if isinstance(v, np.generic):
                return v.item()
            return v

        return {
            "query": self.query,
            "principal": self.principal.describe(),
            "ruleset": self.ruleset,
            "columns": [{"name": c.name, "kind": c.kind} for c in self.columns],
            "rows": [[plain(v) for v in r] for r in self.rows],
        }


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


@dataclass
class _Decision:
    """One call decided by the gate, not yet recorded: the outcome, the answer (a result or a Refusal), the
    audit entry's fields, and (row tiers) what to keep in the per-principal cache once recorded."""

    outcome: str
    answer: Any
    fields: dict[str, Any]
    fill: tuple | None = None

    @classmethod
    def refused(cls, reason: str, **fields: Any) -> _Decision:
        return cls("refused", Refusal(reason), dict(fields, reason=reason))


class Gate:
    """Open with Gate.open(settings). Thread-safe: each query runs on its own cursor."""

    def __init__(self, policy: Policy, con: duckdb.DuckDBPyConnection, trail: Any, queries_dir: Path,
                 env: Mapping[str, str] | None = None, clock: Callable[[], datetime] | None = None,
                 cache_size: int = 256, store_size: int = 2048, disk_store: CubeStore | None = None) -> None:
        self.policy = policy
        self.con = con
        self.trail = trail
        self.queries_dir = Path(queries_dir)
        self.env = env
        self.clock = clock or (lambda: datetime.now(UTC))
        self._cache: OrderedDict[tuple, ProtectedResult] = OrderedDict()
        self._child_ids_cache: dict[tuple, list[str]] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        # The protected-cube store (see _protected_cube): protected aggregate answers keyed by what they are a
        # function of, shared by every principal whose rule-set and population are the same.
        self._store: OrderedDict[tuple, tuple[str, Any]] = OrderedDict()
        self._store_size = store_size
        self._store_lock = threading.Lock()
        self._inflight: dict[tuple, threading.Event] = {}
        # ... and the same cubes on disk beside the warehouse file (store.py), shared with other processes
        self.disk_store = disk_store
        self._memo: dict[str, list] = {}           # census years, teams: the warehouse never changes under us
        self._stop = threading.Event()
        self._warm_thread: threading.Thread | None = None
        self.warm_status: dict[str, Any] = {"state": "not started", "done": 0, "total": 0, "seconds": 0.0}

    @classmethod
    def open(cls, settings: Settings, policy_dir: Path | str = POLICY_DIR, queries_dir: Path | str = QUERIES_DIR,
             trail: Any = None, env: Mapping[str, str] | None = None, persist: bool = True, **kw: Any) -> Gate:
        """Validate the policy (PolicyError stops start-up), open the warehouse read-only and the audit trail.
        `persist`: keep protected cubes on disk beside the warehouse (store.py) as well as in memory."""
        policy = load_policy(policy_dir)
        load_queries(Path(queries_dir))      # a broken query header stops start-up too
        if trail is None:
            from dashboard.audit import AuditTrail

            trail = AuditTrail(settings.audit)
        before = None
        if persist:
            with contextlib.suppress(OSError):
                before = file_stat(settings.warehouse)
        con = open_readonly(settings.warehouse)
        disk = CubeStore.beside(settings.warehouse, con, before) if before is not None else None
        return cls(policy, con, trail, Path(queries_dir), env=env, disk_store=disk, **kw)

    def close(self) -> None:
        self._stop.set()
        t = self._warm_thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout=60)   # it stops between queries; a query in flight ends with the connection
        self.con.close()

    # ------------------------------------------------------------------------------------------ decisions
    def grant_for(self, p: Principal) -> tuple[Grant, Purpose]:
        """The grant a principal acts under, or Refusal (unknown role or purpose, purpose not granted)."""
        if not isinstance(p, Principal):
            raise Refusal("no signed-in principal")
        role = self.policy.roles.get(p.role)
        if role is None:
            raise Refusal(f"unknown role {p.role!r}: ask your administrator to assign one of "
                          f"{', '.join(self.policy.roles)}")
        purpose = self.policy.purposes.get(p.purpose)
        if purpose is None:
            raise Refusal(f"unknown purpose {p.purpose!r}: choose one of {', '.join(role.grants)}")
        grant = role.grants.get(p.purpose)
        if grant is None:
            raise Refusal(f"the role {p.role} may not act under the purpose {p.purpose}; it may act under: "
                          f"{', '.join(role.grants) or 'nothing'}")
        if grant.scope == "own_team" and not p.teams:
            raise Refusal(f"the role {p.role} sees its own team's children under {p.purpose}, but you have no "
                          "team: ask your administrator to add your team claim")
        if grant.scope == "own_caseload" and not p.worker_id:
            raise Refusal(f"the role {p.role} sees its own caseload under {p.purpose}, but you have no worker id")
        unknown = [t for t in p.teams if t not in self.policy.teams]
        if unknown:
            raise Refusal(f"unknown team {unknown[0]!r}")
        return grant, purpose

    def _record(self, p: Principal, *, outcome: str, path: str, reason: str = "", grant: Grant | None = None,
                purpose: Purpose | None = None, spec: QuerySpec | None = None, params: dict | None = None,
                query: str | None = None, rows: int | None = None, cells_suppressed: int | None = None,
                child_ids: list[str] | None = None, event: str = "access", **extra: Any) -> None:
        self.trail.record(self._entry(p, outcome=outcome, path=path, reason=reason, grant=grant, purpose=purpose,
                                      spec=spec, params=params, query=query, rows=rows,
                                      cells_suppressed=cells_suppressed, child_ids=child_ids, event=event, **extra))

    def _entry(self, p: Principal, *, outcome: str, path: str, reason: str = "", grant: Grant | None = None,
               purpose: Purpose | None = None, spec: QuerySpec | None = None, params: dict | None = None,
               query: str | None = None, rows: int | None = None, cells_suppressed: int | None = None,
               child_ids: list[str] | None = None, event: str = "access", **extra: Any) -> dict[str, Any]:
        entry = {
            "user": p.user if isinstance(p, Principal) else "(none)",
            "role": getattr(p, "role", None), "teams": list(getattr(p, "teams", ()) or ()),
            "purpose": getattr(p, "purpose", None),
            "lawful_basis": purpose.lawful_basis.text() if purpose else None,
            "path": path or "(unknown)", "query": spec.name if spec else query,
            "sql": spec.sql if spec else None, "params": params or {}, "outcome": outcome, "reason": reason or None,
            "rows": rows, "ruleset": grant.ruleset if grant else None, "cells_suppressed": cells_suppressed,
            "tier": grant.tier if grant else None, "child_ids": child_ids or [], "event": event,
        }
        entry.update(extra)
        return entry

    def _refuse(self, p: Principal, reason: str, path: str, **kw: Any) -> Refusal:
        try:
            self._record(p, outcome="refused", path=path, reason=reason, **kw)
        except Exception as e:  # noqa: BLE001 - the refusal stands whatever the trail says
            return Refusal(f"{reason} (and the audit trail could not record this: {e})")
        return Refusal(reason)

    # ------------------------------------------------------------------------------------------ queries
    def query(self, p: Principal, name: str, params: Mapping[str, Any] | None = None,
              path: str = "(unknown)") -> ProtectedResult:
        """The protected answer to a named query, or Refusal. Recorded in the audit trail before returning."""
        out = self.query_many(p, [(name, params)], path=path)[0]
        if isinstance(out, Refusal):
            raise out
        return out

    def query_many(self, p: Principal, calls: Sequence[tuple[str, Mapping[str, Any] | None]],
                   path: str = "(unknown)") -> list[ProtectedResult | Refusal]:
        """Several named queries for one page view: each answer (or its Refusal, in the same order), with every
        decision, allowed or refused, written to the audit trail in ONE commit before any answer is returned.

        AuditUnavailable (a Refusal) if that commit fails: then no answer at all is returned (fail closed), so a
        page either has every record of what it will show on disk or shows nothing.
        """
        decisions = [self._decide(p, name, params) for name, params in calls]
        if not decisions:
            return []
        entries = [self._entry(p, outcome=d.outcome, path=path, **d.fields) for d in decisions]
        try:
            # recorded BEFORE the caller sees anything; if the trail cannot be written, nothing is shown
            self.trail.record_many(entries)
        except Exception as e:  # noqa: BLE001 - any failure to record is a refusal (fail closed)
            if all(d.outcome == "refused" for d in decisions):
                raise AuditUnavailable(f"{decisions[0].answer} (and the audit trail could not record this: {e})") \
                    from None
            raise AuditUnavailable(f"the audit trail could not record this request, so nothing is shown: {e}") \
                from None
        for d in decisions:
            if d.fill is not None:      # row tiers: kept per principal scope only once recorded
                key, res, child_ids = d.fill
                with self._lock:
                    self._cache[key] = res
                    self._child_ids_cache[key] = child_ids
                    while len(self._cache) > self._cache_size:
                        old, _ = self._cache.popitem(last=False)
                        self._child_ids_cache.pop(old, None)
        return [d.answer for d in decisions]

    def _decide(self, p: Principal, name: str, params: Mapping[str, Any] | None) -> _Decision:
        """Decide and answer one call; nothing is recorded or returned to anyone here (query_many does both)."""
        params = dict(params or {})
        try:
            grant, purpose = self.grant_for(p)
        except Refusal as r:
            return _Decision.refused(r.reason, query=name, params=params)
        try:
            spec = get_query(name, self.queries_dir)
            bound = spec.bind(params)
        except QueryError as e:
            return _Decision.refused(str(e), grant=grant, purpose=purpose, query=name, params=params)
        ctx = dict(grant=grant, purpose=purpose, spec=spec, params=bound)
        if spec.shape == "rows" and grant.tier == "aggregate":
            return _Decision.refused(f"{spec.title!r} lists individual children; the role {p.role} sees counts "
                                     f"only under {p.purpose}", **ctx)
        if spec.shape == "aggregate" and grant.ruleset is None:
            return _Decision.refused(f"{spec.title!r} is an authority-wide count; under {p.purpose} the role "
                                     f"{p.role} sees named records for its own children only - switch to a "
                                     "purpose that grants counts", **ctx)
        fill = None
        try:
            if spec.shape == "aggregate":
                res, child_ids = self._aggregate(p, grant, purpose, spec, bound), []
            else:
                emergency = self._emergency(p, grant)
                key = self._cache_key(p, grant, emergency, spec.name, bound)
                with self._lock:
                    cached = self._cache.get(key)
                    if cached is not None:
                        self._cache.move_to_end(key)
                        child_ids = self._child_ids_cache.get(key, [])
                if cached is not None:
                    res = dataclasses.replace(cached, principal=p)
                else:
                    res, child_ids = self._rows(p, grant, purpose, spec, bound, emergency)
                    fill = (key, res, child_ids)
        except Refusal as r:
            return _Decision.refused(r.reason, **ctx)
        except (duckdb.Error, QueryError) as e:
            return _Decision.refused(f"the query {name!r} could not be answered: {e}", **ctx)
        fields = dict(ctx, rows=len(res.rows), cells_suppressed=res.cells_suppressed, child_ids=child_ids,
                      population=res.population)
        return _Decision("allowed", res, fields, fill)

    def _cache_key(self, p: Principal, grant: Grant, emergency: tuple[str, ...], name: str,
                   bound: dict[str, Any]) -> tuple:
        # Why the whole policy scope is in the key: a cache keyed on the query alone hands one user's
        # answer to another (the Superset/Tableau leak). No admin or service identity shares entries.
        return (grant.role, grant.purpose, grant.tier, grant.scope, grant.ruleset, tuple(p.teams), p.worker_id,
                emergency, name, tuple(sorted((k, repr(v)) for k, v in bound.items())))

    def _emergency(self, p: Principal, grant: Grant) -> tuple[str, ...]:
        if grant.tier != "identifiable":
            return ()
        try:
            grants = self.trail.active_emergency_grants(p.user, self.clock())
        except Exception as e:  # noqa: BLE001
            raise Refusal(f"the audit trail could not be read, so nothing is shown: {e}") from None
        return tuple(sorted({str(cid) for cid, _ in grants}))

    def _ruleset(self, grant: Grant) -> RuleSet:
        return self.policy.rulesets[grant.ruleset]

    def _population(self, purpose: Purpose) -> str:
        return "no_objectors" if purpose.exclude_objectors else "all"

    # ------------------------------------------------------------------------------------------ aggregate tier
    def _aggregate(self, p: Principal, grant: Grant, purpose: Purpose, spec: QuerySpec,
                   bound: dict[str, Any]) -> ProtectedResult:
        rs = self._ruleset(grant)
        population = self._population(purpose)
        cube = self._protected_cube(spec, bound, rs, population, grant, purpose)
        # the principal-specific parts are attached per request; the cells, hidden marks and notes are the
        # store's (shared, never mutated: callers only read a ProtectedResult)
        return dataclasses.replace(cube, principal=p, tier=grant.tier, lawful_basis=purpose.lawful_basis.text(),
                                   params=dict(bound), notes=list(cube.notes))

    @staticmethod
    def _store_key(spec: QuerySpec, bound: Mapping[str, Any], rs: RuleSet, population: str) -> tuple:
        # Why this key is complete, so sharing an entry between principals is safe: an aggregate answer is
        # run_query(self.con, spec, bound, population) protected by protect_frame under `rs`, and nothing else.
        #  - the warehouse: self.con is opened read-only on one file and never changes while this gate lives (a
        #    rebuild writes a new file and renames it; this connection keeps the old one), and the store lives
        #    and dies with this gate, so the warehouse's identity is implied by the store itself;
        #  - no aggregate grant depends on teams, worker id, emergency grants or the user: the relationship scope
        #    limits row tiers only (_rows), and every aggregate is whole-authority by design, so who asks within
        #    the same (rule-set, population) cannot change a single cell;
        #  - the rule-set is the whole RuleSet value (thresholds, symbol, rounding, max_dimensions), not its name;
        #    the population ("all" or "no_objectors") decides whether objectors' children are counted;
        #  - the query is its whole header and SQL (_spec_text): the disk store outlives a change to the file.
        # Two principals whose rule-set or population differ get different keys, so never each other's answer.
        # The disk store keys its entries on this same tuple (CubeStore.key_text), plus the warehouse file.
        return (spec.name, _spec_text(spec), tuple(sorted((k, repr(v)) for k, v in bound.items())), rs, population)

    def _protected_cube(self, spec: QuerySpec, bound: dict[str, Any], rs: RuleSet, population: str,
                        grant: Grant, purpose: Purpose) -> ProtectedResult:
        """The protected answer from the store, computing it once (single flight) when it is not there.

        Raises Refusal (kept: it is as deterministic as an answer) or duckdb.Error/QueryError (not kept)."""
        key = self._store_key(spec, bound, rs, population)
        while True:
            with self._store_lock:
                hit = self._store.get(key)
                if hit is not None:
                    self._store.move_to_end(key)
                else:
                    event = self._inflight.get(key)
                    mine = event is None
                    if mine:
                        event = self._inflight[key] = threading.Event()
            if hit is not None:
                kind, value = hit
                if kind == "refused":
                    raise Refusal(value)
                return value
            if mine:
                break
            # someone (a page or the warm-up) is computing this very cube: wait for it rather than doing the same
            # work twice on a shared machine; if it failed, or the store keeps nothing, compute it ourselves
            event.wait()
            with self._store_lock:
                if key not in self._store:
                    event = self._inflight.get(key)
                    if event is None:
                        self._inflight[key] = threading.Event()
                        break
        try:
            # the principal given here is a placeholder: _aggregate attaches the asker's own identity
            who = Principal(user="(protected-cube store)", role=grant.role, purpose=purpose.name)
            disk_key = None
            entry: tuple[str, Any] | None = None
            if self.disk_store is not None:
                disk_key = CubeStore.key_text(key)
                entry = self.disk_store.get(disk_key, who)
            if entry is None:
                df = run_query(self.con, spec, bound, population=population)
                try:
                    entry = ("allowed", protect_frame(df, spec, rs, who, grant, purpose, bound, population))
                except Unprotectable as e:
                    entry = ("refused", f"{spec.title!r} cannot be shown safely under the {rs.name} rules: {e}")
                except Refusal as r:
                    entry = ("refused", r.reason)
                if disk_key is not None:
                    self.disk_store.put(disk_key, entry)
            with self._store_lock:
                if self._store_size > 0:
                    self._store[key] = entry
                    while len(self._store) > self._store_size:
                        self._store.popitem(last=False)
        finally:
            with self._store_lock:
                done = self._inflight.pop(key, None)
            if done is not None:
                done.set()
        kind, value = entry
        if kind == "refused":
            raise Refusal(value)
        return value

    def store_info(self) -> dict[str, int]:
        with self._store_lock:
            return {"entries": len(self._store), "limit": self._store_size}

    def clear_store(self) -> None:
        """Forget the protected cubes kept in memory (those on disk stay: they are still right for this file)."""
        with self._store_lock:
            self._store.clear()

    # ------------------------------------------------------------------------------------------ warm-up
    def warm_targets(self) -> list[tuple[QuerySpec, dict[str, Any], RuleSet, str, Grant, Purpose]]:
        """What the pages can ask for: every aggregate query x every census year the year filter offers (latest
        first) x every (rule-set, population) that some grant in access_policies/ uses."""
        pairs: dict[tuple[RuleSet, str], tuple[Grant, Purpose]] = {}
        for role in self.policy.roles.values():
            for grant in role.grants.values():
                purpose = self.policy.purposes.get(grant.purpose)
                if grant.ruleset is None or purpose is None or grant.ruleset not in self.policy.rulesets:
                    continue
                pairs.setdefault((self._ruleset(grant), self._population(purpose)), (grant, purpose))
        years = self._census_years()
        specs = [s for _, s in sorted(load_queries(self.queries_dir).items()) if s.shape == "aggregate"]
        out = []
        for y in years or [None]:
            for (rs, population), (grant, purpose) in pairs.items():
                for spec in specs:
                    has_year = any(prm.name == "census_year" for prm in spec.parameters)
                    if y is not None and not has_year and y != years[0]:
                        continue                 # a query without a year is the same for every year
                    try:
                        bound = spec.bind({"census_year": y} if has_year and y is not None else {})
                    except QueryError:
                        continue
                    out.append((spec, bound, rs, population, grant, purpose))
        return out

    def warm_up(self, stop: threading.Event | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
        """Compute the protected cube of every warm target into the store (and onto disk, when kept there);
        return how many are in memory. `progress(done, total)` after each target.

        No audit record is written: nothing is shown to anybody here. A record is written, as always, when a
        principal is given an answer (query/query_many), whether it came from the store or not.
        """
        stop = stop or self._stop
        t0 = time.perf_counter()
        targets = self.warm_targets()
        self.warm_status.update(state="running", done=0, total=len(targets))
        if progress is not None:
            progress(0, len(targets))
        for spec, bound, rs, population, grant, purpose in targets:
            if stop.is_set() or self._stop.is_set():
                self.warm_status["state"] = "stopped"
                break
            try:
                self._protected_cube(spec, bound, rs, population, grant, purpose)
            except (Refusal, QueryError, duckdb.Error):
                pass            # a page asking for it gets the same refusal, recorded then
            self.warm_status["done"] += 1
            if progress is not None:
                progress(self.warm_status["done"], len(targets))
        else:
            self.warm_status["state"] = "done"
        self.warm_status["seconds"] = time.perf_counter() - t0
        return self.store_info()["entries"]

    def start_warm_up(self) -> threading.Thread:
        """Warm the store in a background thread (start-up never waits for it; pages never wait on a lock it
        holds: it takes the store lock only to read or put one entry, and a page asking for the cube it is
        computing right now waits for that one cube instead of computing it again)."""
        with self._store_lock:
            if self._warm_thread is None:
                def run() -> None:
                    try:
                        self.warm_up()
                    except Exception as e:  # noqa: BLE001 - a failed warm-up only means pages compute on demand
                        self.warm_status.update(state=f"failed: {e}")

                self._warm_thread = threading.Thread(target=run, name="gate-warm-up", daemon=True)
                self._warm_thread.start()
            return self._warm_thread

    # ------------------------------------------------------------------------------------------ row tiers
    def _scope_children(self, p: Principal, grant: Grant, emergency: tuple[str, ...]) -> set[str] | None:
        """Children inside the relationship scope (None = whole authority)."""
        if grant.scope == "whole_authority":
            return None
        today = self.clock().date()
        cur = self.con.cursor()
        try:
            if grant.scope == "own_team":
                marks = ", ".join("?" for _ in p.teams)
                rows = cur.execute(
                    f"SELECT DISTINCT child_id FROM main.allocation WHERE team_id IN ({marks}) "
                    "AND start_date <= ? AND (end_date IS NULL OR end_date > ?)", [*p.teams, today, today]
                ).fetchall()
            else:
                rows = cur.execute(
                    "SELECT DISTINCT child_id FROM main.allocation WHERE worker_id = ? "
                    "AND start_date <= ? AND (end_date IS NULL OR end_date > ?)", [p.worker_id, today, today]
                ).fetchall()
        finally:
            cur.close()
        return {r[0] for r in rows} | set(emergency)

    def _objectors(self) -> set[str]:
        cur = self.con.cursor()
        try:
            return {r[0] for r in cur.execute("SELECT DISTINCT child_id FROM main.objection").fetchall()}
        finally:
            cur.close()

    def column_class(self, source: str | None) -> ColumnClass | None:
        if not source or "." not in source:
            return None
        t, c = source.split(".", 1)
        return self.policy.columns.get((t, c))

    def _rows(self, p: Principal, grant: Grant, purpose: Purpose, spec: QuerySpec, bound: dict[str, Any],
              emergency: tuple[str, ...]) -> tuple[ProtectedResult, list[str]]:
        if "child_id" not in [c.name for c in spec.columns]:
            raise Refusal(f"the row-level query {spec.name!r} has no child_id column, so its relationship "
                          "scope cannot be checked")
        population = self._population(purpose)
        # The gate decides the scope; the warehouse is only asked for those children (a bound list, so a team
        # manager's list costs what the team's rows cost, not the whole authority's).
        scope = self._scope_children(p, grant, emergency) if grant.tier == "identifiable" else None
        in_scope = None if scope is None else sorted(scope)
        df = run_query(self.con, spec, bound, population=population, children=in_scope)
        if "child_id" not in df.columns:
            raise Refusal(f"the query {spec.name!r} did not return child_id")
        df = df.with_columns(pl.col("child_id").cast(pl.Utf8))
        if in_scope is not None:
            # Why filter again: the scope must hold whatever the query's SQL does with the list it was given;
            # a query that mishandled $child_scope must not widen the answer.
            df = df.filter(pl.col("child_id").is_in(in_scope))
        if purpose.exclude_objectors:
            # belt and braces: the planning schema already leaves objectors out; a query that reads main.* must not
            df = df.filter(~pl.col("child_id").is_in(sorted(self._objectors())))
        child_ids = df["child_id"].unique(maintain_order=True).to_list()
        out_cols: list[ResultColumn] = []
        series: list[pl.Series] = []
        notes = []
        key = None
        for c in spec.columns:
            cls = self.column_class(c.source)
            if cls is None or c.name not in df.columns:
                notes.append(f"{c.name}: no classification, never shown")
                continue
            s = df[c.name]
            shown = self._row_column(s, cls, grant, purpose)
            if shown is _PSEUDO:
                if key is None:
                    try:
                        key = load_key(purpose.name, self.env)
                    except KeyMissing as e:
                        raise Refusal(str(e)) from None
                shown = pseudonymise(s, key)
            if shown is None:
                notes.append(f"{c.name}: {cls.cls} not shown at the {grant.tier} tier")
                continue
            out_cols.append(ResultColumn(c.name, c.kind, c.label))
            series.append(shown)
        if grant.tier == "pseudonymised" and series:
            series, note = self._k_anonymous(spec, out_cols, series)
            if note:
                notes.append(note)
        rows = [list(r) for r in zip(*[s.to_list() for s in series], strict=True)] if series else []
        res = ProtectedResult(spec.name, spec.title, spec.unit, p, grant.tier, grant.ruleset,
                              self.policy.rulesets[grant.ruleset].symbol if grant.ruleset else None,
                              out_cols, rows, {}, bound, purpose.lawful_basis.text(), population, notes)
        return res, [str(c) for c in child_ids]

    def _k_anonymous(self, spec: QuerySpec, out_cols: list[ResultColumn], series: list[pl.Series]
                     ) -> tuple[list[pl.Series], str]:
        """A pseudonymised answer's rows made k-anonymous on the policy's key variables (anonymity.yml).

        Why here, after coarsening and before anything is returned or cached: the key values a row shows are what
        an outsider could match a child on, and this is the last point every pseudonymised row passes through.
        """
        source = {c.name: c.source for c in spec.columns}
        order = [f"{t}.{c}" for t, c in self.policy.anonymity.key_variables]
        names = [c.name for c in out_cols]
        keys = sorted((n for n in names if source.get(n) in order), key=lambda n: order.index(source[n]))
        if not keys:
            return series, ""
        # the child a row is about: its pseudonymised child id, so a child with several rows counts once
        entity = next((n for n in names if (source.get(n) or "").endswith(".child_id")), None)
        frame, withheld = k_anonymise(pl.DataFrame(series), keys, self.policy.anonymity.k, entity)
        return [frame[n] for n in names], withheld.note()

    def _row_column(self, s: pl.Series, cls: ColumnClass, grant: Grant, purpose: Purpose) -> Any:
        """The series as this tier may see it, _PSEUDO for a keyed pseudonym, or None (not shown)."""
        if cls.cls == "special_category" and not purpose.lawful_basis.article_9:
            return None         # no Art 9 condition recorded for this purpose
        if grant.tier == "identifiable":
            return s
        # pseudonymised tier
        if cls.free_text:
            return None
        if cls.cls == "direct_identifier":
            return _PSEUDO if cls.pseudonymise else None
        if cls.cls == "quasi_identifier":
            how = cls.coarsen or ("month" if s.dtype in (pl.Date,) or isinstance(s.dtype, pl.Datetime) else "none")
            if how == "drop":
                return None
            if how == "month":
                return to_month(s)
            if how == "district":
                return postcode_district(s)
            return s
        return s

    # ------------------------------------------------------------------------------------------ planning mart
    def planning_mart(self, p: Principal, path: str = "workbench") -> dict[str, pl.DataFrame]:
        """Every classified warehouse table, pseudonymised, coarsened and objector-free, for the SQL workbench.

        The frames of planning_mart_keyed(p)'s image (built once, shared; see there). Refuses and records exactly
        as planning_mart_keyed does.
        """
        image, _ = self.planning_mart_keyed(p, path=path)
        return {t: image[t] for t in image}

    # ------------------------------------------------------------------------------------------ drop-downs
    def choices(self, p: Principal, dimension: str, params: Mapping[str, Any] | None = None,
                path: str = "choices") -> list[Any]:
        """Drop-down values the principal may see. Never values from rows outside the principal's view."""
        params = dict(params or {})
        grant, purpose = self.grant_for(p)
        if dimension == "team":
            if grant.scope == "whole_authority":
                return self._memo_sql("teams", "SELECT team_id FROM main.team ORDER BY team_id")
            return list(p.teams)
        if dimension == "census_year":
            return self._census_years()
        query = params.pop("query", None)
        if not query:
            raise Refusal(f"drop-down values for {dimension!r} come from a query: pass params['query']")
        res = self.query(p, query, params, path=path)
        names = [c.name for c in res.columns]
        if dimension not in names:
            raise Refusal(f"the query {query!r} has no dimension {dimension!r}")
        j = names.index(dimension)
        return sorted({r[j] for r in res.rows if r[j] != TOTAL and r[j] is not None}, key=str)

    def _census_years(self) -> list[Any]:
        return self._memo_sql("census_years", "SELECT census_year AS y FROM main.cin_episode UNION "
                                              "SELECT return_year FROM main.episode ORDER BY y DESC")

    def _memo_sql(self, name: str, sql: str) -> list[Any]:
        """A one-column list that is the same for everyone (kept: the warehouse is read-only); a copy each time."""
        got = self._memo.get(name)
        if got is None:
            cur = self.con.cursor()
            try:
                got = [r[0] for r in cur.execute(sql).fetchall()]
            finally:
                cur.close()
            self._memo[name] = got
        return list(got)

    # ------------------------------------------------------------------------------------------ emergency
    def grant_emergency(self, p: Principal, child_id: str, reason: str, minutes: int = 60,
                        path: str = "emergency") -> datetime:
        """Time-boxed access to one child outside the relationship scope, with a stated reason, for review."""
        try:
            grant, purpose = self.grant_for(p)
        except Refusal as r:
            raise self._refuse(p, r.reason, path, event="emergency_access", child_ids=[str(child_id)]) from None
        ctx = dict(grant=grant, purpose=purpose, event="emergency_access", child_ids=[str(child_id)],
                   emergency_reason=reason)
        if grant.tier != "identifiable":
            raise self._refuse(p, f"emergency access is for direct care; the role {p.role} has no named records "
                                  f"under {p.purpose}", path, **ctx)
        if not reason or len(reason.strip()) < 10:
            raise self._refuse(p, "emergency access needs a reason (at least 10 characters) that an information "
                                  "governance officer will review", path, **ctx)
        if not isinstance(minutes, int) or not 1 <= minutes <= MAX_EMERGENCY_MINUTES:
            raise self._refuse(p, f"emergency access lasts 1 to {MAX_EMERGENCY_MINUTES} minutes", path, **ctx)
        cur = self.con.cursor()
        try:
            exists = cur.execute("SELECT count(*) FROM main.child WHERE child_id = ?", [str(child_id)]).fetchall()
        finally:
            cur.close()
        if not exists[0][0]:
            raise self._refuse(p, f"no child with id {child_id!r}", path, **ctx)
        expires = self.clock() + timedelta(minutes=minutes)
        try:
            self._record(p, outcome="allowed", path=path, reason="emergency access", expires_at=expires, **ctx)
        except Exception as e:  # noqa: BLE001
            raise Refusal(f"the audit trail could not record the emergency access, so it is not granted: {e}") \
                from None
        return expires

    # ------------------------------------------------------------------------------------------ catalogue
    def catalogue(self, p: Principal | None = None) -> list[QuerySpec]:
        return list(load_queries(self.queries_dir).values())

    def planning_mart_keyed(self, p: Principal, path: str = "workbench") -> tuple[Any, Any]:
        """The planning mart as a MartImage (a Mapping of table -> frame, from which each workbench session
        opens its own locked instance) plus a PseudonymMap {pseudonym: child_id} for the child pseudonyms in it.

        Why the map: only the gate holds the purpose's key, and a subject access request must find every workbench
        statement that displayed the child's pseudonymised row, so the workbench session needs this map to record
        the child ids behind what it shows. The caller must keep it out of the analyst's instance and never show it.

        Built once per (warehouse, policy, purpose, key) and reused. Why reuse is safe: the mart is a function of
        those four alone; nothing about the person asking goes into it (the pseudonymised tier is whole-authority
        and the same for every role granted it). Who may have it is decided again on EVERY call (grant, tier and
        key are checked and a refusal recorded as before), and every call writes its own audit entry listing every
        child in the mart. The warehouse part of the key is this gate's open read-only connection: it reads one
        build (a rebuild writes a new file, which a new connection would see), so a cached mart is never older
        or newer than the gate's other answers. A new key (rotation) or policy object builds a new mart. The image
        is read-only and each session gets its own locked instance of it, so one analyst's statements, settings or
        interrupts never reach another's. The key itself is never stored: the cache is keyed on an HMAC of a
        fixed label under the key, which cannot be turned back into the key.
        """
        import hashlib
        import hmac as hmac_lib

        try:
            grant, purpose = self.grant_for(p)
            if grant.tier != "pseudonymised":
                raise Refusal(f"the planning mart is pseudonymised row-level data; the role {p.role} does not "
                              f"have the pseudonymised tier under {p.purpose}")
            key = load_key(purpose.name, self.env)
        except KeyMissing as e:
            raise self._refuse(p, str(e), path, grant=grant, purpose=purpose, query="planning_mart") from None
        except Refusal as r:
            raise self._refuse(p, r.reason, path, query="planning_mart") from None
        from dashboard.policy.pseudonym import PseudonymMap, hmac_pads, pseudonym_sql
        from dashboard.workbench.image import IMAGES_KEPT, MartImage

        def build(grant: Grant, purpose: Purpose, key: bytes) -> tuple[MartImage, PseudonymMap, list[str]]:
            """One pass over the warehouse, in its own engine: objectors filtered out in SQL, each distinct id
            pseudonymised ONCE by HMAC-SHA-256 in SQL (pseudonym_sql, identical to pseudonym()) and joined back,
            then every other column shown as _row_column decides, table by table into the image."""
            tables = sorted({t for t, _ in self.policy.columns} - set(self.policy.tables_out_of_mart))
            cur = self.con.cursor()   # its temporary tables (ids and their pseudonyms) die with it
            try:
                cur.execute("SET enable_progress_bar = false")      # this cursor only: no bars on the console
                plan = []
                for t in tables:
                    # objectors left out always: the planning schema where it exists, and a filter on child_id
                    src = f"planning.{t}" if t in CHILD_TABLES else f"main.{t}"
                    try:
                        cols = [d[0] for d in cur.execute(f"SELECT * FROM {src} LIMIT 0").description]
                    except duckdb.Error:
                        src = f"main.{t}"
                        cols = [d[0] for d in cur.execute(f"SELECT * FROM {src} LIMIT 0").description]
                    where = ('WHERE s.child_id IS NOT NULL AND CAST(s.child_id AS VARCHAR) NOT IN (SELECT '
                             'CAST(child_id AS VARCHAR) FROM main.objection WHERE child_id IS NOT NULL)'
                             if "child_id" in cols else "")
                    shown = [c for c in cols if (t, c) in self.policy.columns]   # unclassified: never read
                    pseudo = [c for c in shown if self.policy.columns[(t, c)].cls == "direct_identifier"
                              and self.policy.columns[(t, c)].pseudonymise]
                    plan.append((t, src, where, "child_id" in cols, shown, pseudo))
                children = " UNION ALL ".join(
                    f"SELECT CAST(s.child_id AS VARCHAR) AS v FROM {src} s {where}"
                    for _, src, where, has_child, _, _ in plan if has_child) or "SELECT NULL::VARCHAR AS v"
                cur.execute(f"CREATE TEMP TABLE __mart_children AS SELECT DISTINCT v FROM ({children}) "
                            "WHERE v IS NOT NULL")
                others = [f'SELECT CAST(s."{c}" AS VARCHAR) AS v FROM {src} s {where}'
                          for _, src, where, _, _, pseudo in plan for c in pseudo if c != "child_id"]
                # Why one HMAC per distinct id: a child's id is in twenty tables and millions of rows; the key's
                # pads are bound as parameters of this one statement and never written into SQL text
                cur.execute(
                    "CREATE TEMP TABLE __mart_pseudonyms AS SELECT v, " + pseudonym_sql("v") + " AS p FROM ("
                    + " UNION ".join(["SELECT v FROM __mart_children", *others]) + ") WHERE v IS NOT NULL",
                    hmac_pads(key))

                def decide(t: str, src: str, where: str, shown: list[str], pseudo: list[str]) -> pl.DataFrame:
                    # the raw ids of a pseudonymised column never leave the warehouse engine: the join swaps
                    # them for their pseudonyms before the rows reach Python
                    joins = "".join(f' LEFT JOIN __mart_pseudonyms m{i} ON m{i}.v = CAST(s."{c}" AS VARCHAR)'
                                    for i, c in enumerate(pseudo))
                    select = ", ".join(f'm{pseudo.index(c)}.p AS "{c}"' if c in pseudo else f's."{c}"'
                                       for c in shown)
                    df = cur.sql(f"SELECT {select} FROM {src} s{joins} {where}").pl() if shown \
                        else pl.DataFrame()
                    out = []
                    for c in df.columns:
                        decided = self._row_column(df[c], self.policy.columns[(t, c)], grant, purpose)
                        if c in pseudo:
                            # already pseudonyms: kept if the policy says pseudonymise, else dropped
                            decided = df[c] if decided is _PSEUDO else None
                        elif decided is _PSEUDO:
                            decided = pseudonymise(df[c], key)
                        if decided is not None:
                            out.append(decided)
                    return pl.DataFrame(out) if out else pl.DataFrame()

                # Why the key-variable tables first: k-anonymity must hold on a child's key values from every
                # table at once (the analyst can join them on the pseudonym), so they are decided together
                keyed = {t for t, _ in self.policy.anonymity.key_variables}
                early = {e[0]: decide(e[0], e[1], e[2], e[4], e[5]) for e in plan if e[0] in keyed}
                early, withheld = k_anonymise_tables(early, self.policy.anonymity)

                def frames():
                    for t, src, where, _, shown, pseudo in plan:
                        yield t, early.pop(t) if t in early else decide(t, src, where, shown, pseudo)

                image = MartImage.write(frames)
                image.anonymity = withheld       # what k-anonymity withheld, for the workbench to say
                pairs = cur.sql("SELECT m.p AS pseudonym, m.v AS value FROM __mart_pseudonyms m "
                                "SEMI JOIN __mart_children c ON c.v = m.v ORDER BY pseudonym").pl()
                child_ids = cur.sql("SELECT v FROM __mart_children ORDER BY v").pl()["v"].to_list()
            finally:
                cur.close()
            return image, PseudonymMap(pairs, presorted=True), child_ids

        fingerprint = hmac_lib.new(key, b"csc-dashboard planning mart cache", hashlib.sha256).digest()
        # tier and scope too, though the mart uses only the (pseudonymised) tier: a grant that ever differed
        # would get a mart of its own rather than another grant's
        cache_key = (id(self.con), id(self.policy), purpose.name, grant.tier, grant.scope, fingerprint)
        # lazily created, atomic under the GIL; one lock for mart builds so two sessions opening at once build once
        marts: OrderedDict = self.__dict__.setdefault("_planning_marts", OrderedDict())
        with self.__dict__.setdefault("_planning_marts_lock", threading.Lock()):
            hit = marts.get(cache_key)
            if hit is None:
                # the entry holds the connection and policy objects so their ids cannot be reused by new ones
                hit = (self.con, self.policy, *build(grant, purpose, key))
                marts[cache_key] = hit
                while len(marts) > IMAGES_KEPT:
                    marts.popitem(last=False)
            else:
                marts.move_to_end(cache_key)
        _, _, image, children, child_ids = hit
        try:
            self._record(p, outcome="allowed", path=path, grant=grant, purpose=purpose, query="planning_mart",
                         rows=sum(image.rows.values()), child_ids=child_ids, population="no_objectors")
        except Exception as e:  # noqa: BLE001
            raise Refusal(f"the audit trail could not record this request, so nothing is shown: {e}") from None
        return image, children

    # ------------------------------------------------------------------------------------------ app reads
    # Identity and decision fields of an entry come from the grant, never from the caller: a page must not be
    # able to write an entry in someone else's name or mark a refused read as allowed.
    _ACCESS_FIXED = frozenset({"user", "role", "teams", "purpose", "lawful_basis", "tier", "ruleset", "outcome",
                               "path", "sql", "grant", "spec"})
    # Purposes under which the build's data-quality counts may be read: the IG officer's audit work and the
    # service managers who own the returns. Counts only: no child row, row number or value leaves the gate.
    DATA_QUALITY_PURPOSES = ("audit", "service_management")

    def record_access(self, p: Principal, path: str, *, event: str = "access", **fields: Any) -> None:
        """Record a read that does not go through query() (e.g. an IG officer reading the audit trail), BEFORE
        the caller shows anything. Refusal if the principal has no grant or the trail cannot be written."""
        clash = sorted(set(fields) & self._ACCESS_FIXED)
        if clash:
            raise ValueError(f"record_access: {clash[0]!r} is set by the gate, not the caller")
        if "child_ids" in fields:
            fields["child_ids"] = [str(c) for c in (fields["child_ids"] or [])]
        try:
            grant, purpose = self.grant_for(p)
        except Refusal as r:
            raise self._refuse(p, r.reason, path, event=event, **fields) from None
        try:
            self._record(p, outcome="allowed", path=path, grant=grant, purpose=purpose, event=event, **fields)
        except Exception as e:  # noqa: BLE001 - an unrecorded read is not allowed (fail closed)
            raise Refusal(f"the audit trail could not record this request, so nothing is shown: {e}") from None

    def data_quality(self, p: Principal, path: str = "data_quality") -> dict[str, Any]:
        """What the last build loaded and found: row counts by table, census and return years, data-quality
        findings by rule and by file (with the build's action). Counts only, never a child's row; recorded first.
        """
        try:
            grant, purpose = self.grant_for(p)
        except Refusal as r:
            raise self._refuse(p, r.reason, path, event="data_quality") from None
        ctx = dict(grant=grant, purpose=purpose, event="data_quality")
        if purpose.name not in self.DATA_QUALITY_PURPOSES:
            raise self._refuse(p, f"the data-quality summary is for {' or '.join(self.DATA_QUALITY_PURPOSES)}; "
                                  f"not available under {p.purpose}", path, **ctx)
        cur = self.con.cursor()
        try:
            names = [r[0] for r in cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
            tables = {n: cur.execute(f'SELECT count(*) FROM main."{n}"').fetchall()[0][0] for n in names}
            census = [r[0] for r in cur.execute(
                "SELECT DISTINCT return_year FROM main.source_file WHERE kind = 'cin_xml' ORDER BY 1").fetchall()]
            returns = [r[0] for r in cur.execute(
                "SELECT DISTINCT return_year FROM main.source_file WHERE kind LIKE '903%' "
                "AND return_year IS NOT NULL ORDER BY 1").fetchall()]
            by_rule = cur.execute("SELECT rule, count(*) FROM main.data_quality GROUP BY rule "
                                  "ORDER BY 2 DESC, 1").fetchall()
            by_file = cur.execute("SELECT file, rule, action, count(*) AS findings FROM main.data_quality "
                                  "GROUP BY ALL ORDER BY file, findings DESC, rule, action").fetchall()
        except duckdb.Error as e:
            raise self._refuse(p, f"the warehouse has no build summary: {e}", path, **ctx) from None
        finally:
            cur.close()
        try:
            self._record(p, outcome="allowed", path=path, rows=len(by_file), **ctx)
        except Exception as e:  # noqa: BLE001 - recorded before it is shown, or not shown
            raise Refusal(f"the audit trail could not record this request, so nothing is shown: {e}") from None
        return {"tables": tables, "census_years": census, "return_years": returns, "data_quality": dict(by_rule),
                "by_file": [{"file": f, "rule": r, "action": a, "findings": n} for f, r, a, n in by_file]}


_PSEUDO = object()


@functools.lru_cache(maxsize=512)
def _spec_text(spec: QuerySpec) -> str:
    """Everything of a named query that shapes its protected answer (header and SQL), for the disk store's key."""
    return repr((spec.title, spec.unit, spec.shape, spec.parameters, spec.dimensions, spec.columns, spec.sql))


# ---------------------------------------------------------------------------------------------- cube protection


def cube_axes(df: pl.DataFrame, dims: list[str]) -> tuple[list[list[str]], np.ndarray]:
    """Labels per dimension ('Total' first when the cube has margins, the rest sorted) and each row's flat cell
    index. Two Polars passes whatever the number of dimensions: the distinct labels, then each row's label as
    its position in that order (an Enum's codes)."""
    if not dims:
        return [], np.zeros(df.height, dtype=np.int64)
    text = [pl.col(d).cast(pl.Utf8).fill_null(NOT_KNOWN) for d in dims]
    distinct = df.select([e.unique().implode() for e in text]).row(0) if df.height else [[] for _ in dims]
    labels = [([TOTAL] if TOTAL in v else []) + sorted(set(v) - {TOTAL}) for v in distinct]
    coded = df.select([e.cast(pl.Enum(lab)).to_physical().cast(pl.Int64).alias(f"c{i}")
                       for i, (e, lab) in enumerate(zip(text, labels, strict=True))])
    shape = tuple(len(lab) for lab in labels)
    return labels, np.ravel_multi_index(tuple(coded[f"c{i}"].to_numpy() for i in range(len(dims))), shape)


def protect_frame(df: pl.DataFrame, spec: QuerySpec, rs: RuleSet, p: Principal, grant: Grant, purpose: Purpose,
                  bound: dict[str, Any], population: str) -> ProtectedResult:
    """Protect every count column of a tidy cube, then hide rates whose parts are hidden.

    Only cells broken down by at most `rs.max_dimensions` dimensions are returned; they are protected as linked
    tables (every pair of dimensions, with their shared margins) in one system (see suppression.protect).
    """
    dims = [c.name for c in spec.columns if c.kind == "dimension"]
    missing = [c.name for c in spec.columns if c.name not in df.columns]
    if missing:
        raise Refusal(f"the query {spec.name!r} did not return its declared column {missing[0]!r}")
    notes: list[str] = []
    k = rs.max_dimensions
    if len(dims) > k:
        # Why rows are dropped here: the published set is every cell broken down by at most k dimensions, fixed
        # by the query's structure alone (never by the counts), so leaving the rest out discloses nothing, and
        # every page view (one filter + one breakdown, or two filters) is a slice of the one protected system.
        notes.append(f"not published at more than {k} dimensions at once")
    # the whole cube feeds the protection (which records exist decides which moves hide a small cell); only the
    # rows of the published view are returned
    labels, flat_full = cube_axes(df, dims)
    shape = tuple(len(lab) for lab in labels) or (1,)
    keep = np.ones(df.height, dtype=bool)
    codes = np.unravel_index(flat_full, shape) if dims else ()
    if dims:
        away = sum((codes[a] != 0) | (labels[a][:1] != [TOTAL]) for a in range(len(dims)))
        keep = np.asarray(away <= k)
    kept = np.flatnonzero(keep)
    height = kept.size
    flat = flat_full[kept]
    if len(np.unique(flat_full)) != len(flat_full):
        raise Refusal(f"the query {spec.name!r} returned the same cell twice; it cannot be protected")
    relations = [flat_relations(len(lab), lab[:1] == [TOTAL]) for lab in labels] or [[]]
    hidden: dict[tuple[int, str], Hidden] = {}
    hidden_rows: dict[str, np.ndarray] = {}          # per count column: which returned rows are hidden
    shown: dict[str, list] = {}
    lo, hi = rs.primary_range
    primary_why = Hidden(rs.name, "primary", f"fewer than {hi + 1} children ({lo} to {hi} are not published under "
                                              f"the {rs.name} rules)")
    secondary_why = Hidden(rs.name, "secondary", "hidden so that a small number in the same table cannot be "
                                                 "worked out from the totals")
    by_counts: dict[bytes, Any] = {}                  # count columns with the same counts: protected once
    for c in spec.columns:
        if c.kind != "count":
            continue
        col_in = df[c.name].cast(pl.Float64)
        v = col_in.to_numpy().copy()
        if col_in.null_count():
            v[col_in.is_null().to_numpy()] = 0.0      # a null count is a zero; a NaN stays NaN (refused below)
        if (v < 0).any() or (v != np.floor(v)).any():
            raise Refusal(f"the count column {c.name!r} of {spec.name!r} holds a negative or fractional value")
        dense = np.zeros(int(np.prod(shape)))
        dense[flat_full] = v
        pr = by_counts.get(dense.tobytes())
        if pr is None:
            pr = by_counts[dense.tobytes()] = protect(dense.reshape(shape), relations, rs, max_dims=k)
        st = pr.status.ravel()[flat]
        pub = pr.published.ravel()[flat]
        is_pub = st == PUBLISHED
        if (pub[is_pub] == np.floor(pub[is_pub])).all():
            col: list = np.where(is_pub, pub, 0).astype(np.int64).tolist()
        else:
            col = [_num(x) if ok else None for x, ok in zip(pub.tolist(), is_pub.tolist(), strict=True)]
        for i in np.flatnonzero(~is_pub).tolist():
            col[i] = rs.symbol
            hidden[(i, c.name)] = primary_why if st[i] == PRIMARY else secondary_why
        hidden_rows[c.name] = ~is_pub
        shown[c.name] = col
    for c in spec.columns:
        if c.kind in ("dimension", "count"):
            continue
        parts = [x for x in (c.numerator, c.denominator) if x and x in hidden_rows]
        if not parts:
            why = Hidden(rs.name, "derived", "not published: the query does not say which counts this figure is "
                                             "computed from")
            hide = np.ones(height, dtype=bool)
        else:
            why = Hidden(rs.name, "derived", "hidden because a count it is computed from is hidden")
            hide = np.logical_or.reduce([hidden_rows[x] for x in parts])
        raw = df[c.name].gather(kept).to_list() if height < df.height else df[c.name].to_list()
        col = [rs.symbol if h else (None if val is None else round(float(val), rs.decimals))
               for val, h in zip(raw, hide.tolist(), strict=True)]
        for i in np.flatnonzero(hide).tolist():
            hidden[(i, c.name)] = why
        shown[c.name] = col
    for a, d in enumerate(dims):
        # the label of each returned row's cell: the same text the query returned (nulls read 'Not known')
        shown[d] = np.array(labels[a], dtype=object)[codes[a][kept]].tolist()
    columns = [ResultColumn(c.name, c.kind, c.label) for c in spec.columns]
    rows = [list(r) for r in zip(*[shown[c.name] for c in spec.columns], strict=True)] if height else []
    return ProtectedResult(spec.name, spec.title, spec.unit, p, grant.tier, rs.name, rs.symbol, columns, rows,
                           hidden, bound, purpose.lawful_basis.text(), population, notes)
