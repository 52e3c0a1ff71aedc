"""The gate: the one enforcement point every page, CLI command, export and the workbench goes through.

For each request it decides from the principal's role and purpose (access_policies/) which tier, relationship
scope, rule-set and lawful basis apply, runs the named query on the population that purpose may see, protects
the answer, records the decision in the audit trail and only then returns it. There is no bypass: no role,
flag or argument gets unprotected data out of this module.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from dashboard.config import POLICY_DIR, QUERIES_DIR, Settings
from dashboard.policy.identity import Principal
from dashboard.policy.model import ColumnClass, Grant, Policy, Purpose, RuleSet, load_policy
from dashboard.policy.pseudonym import KeyMissing, load_key, postcode_district, pseudonymise, to_month
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


class Gate:
    """Open with Gate.open(settings). Thread-safe: each query runs on its own cursor."""

    def __init__(self, policy: Policy, con: duckdb.DuckDBPyConnection, trail: Any, queries_dir: Path,
                 env: Mapping[str, str] | None = None, clock: Callable[[], datetime] | None = None,
                 cache_size: int = 256) -> None:
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

    @classmethod
    def open(cls, settings: Settings, policy_dir: Path | str = POLICY_DIR, queries_dir: Path | str = QUERIES_DIR,
             trail: Any = None, env: Mapping[str, str] | None = None, **kw: Any) -> Gate:
        """Validate the policy (PolicyError stops start-up), open the warehouse read-only and the audit trail."""
        policy = load_policy(policy_dir)
        load_queries(Path(queries_dir))      # a broken query header stops start-up too
        if trail is None:
            from dashboard.audit import AuditTrail

            trail = AuditTrail(settings.audit)
        con = open_readonly(settings.warehouse)
        return cls(policy, con, trail, Path(queries_dir), env=env, **kw)

    def close(self) -> None:
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
        self.trail.record(entry)

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
        params = dict(params or {})
        try:
            grant, purpose = self.grant_for(p)
        except Refusal as r:
            raise self._refuse(p, r.reason, path, query=name, params=params) from None
        try:
            spec = get_query(name, self.queries_dir)
            bound = spec.bind(params)
        except QueryError as e:
            raise self._refuse(p, str(e), path, grant=grant, purpose=purpose, query=name, params=params) from None
        ctx = dict(grant=grant, purpose=purpose, spec=spec, params=bound)
        if spec.shape == "rows" and grant.tier == "aggregate":
            raise self._refuse(p, f"{spec.title!r} lists individual children; the role {p.role} sees counts "
                                  f"only under {p.purpose}", path, **ctx)
        if spec.shape == "aggregate" and grant.ruleset is None:
            raise self._refuse(p, f"{spec.title!r} is an authority-wide count; under {p.purpose} the role "
                                  f"{p.role} sees named records for its own children only - switch to a "
                                  "purpose that grants counts", path, **ctx)
        emergency = self._emergency(p, grant)
        key = self._cache_key(p, grant, emergency, spec.name, bound)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        try:
            if cached is not None:
                res, child_ids = dataclasses.replace(cached, principal=p), self._child_ids_cache.get(key, [])
            elif spec.shape == "aggregate":
                res, child_ids = self._aggregate(p, grant, purpose, spec, bound), []
            else:
                res, child_ids = self._rows(p, grant, purpose, spec, bound, emergency)
        except Refusal as r:
            raise self._refuse(p, r.reason, path, **ctx) from None
        except (duckdb.Error, QueryError) as e:
            raise self._refuse(p, f"the query {name!r} could not be answered: {e}", path, **ctx) from None
        try:
            # recorded BEFORE the caller sees anything; if the trail cannot be written, nothing is shown
            self._record(p, outcome="allowed", path=path, rows=len(res.rows), cells_suppressed=res.cells_suppressed,
                         child_ids=child_ids, population=res.population, **ctx)
        except Exception as e:  # noqa: BLE001 - any failure to record is a refusal (fail closed)
            raise Refusal(f"the audit trail could not record this request, so nothing is shown: {e}") from None
        if cached is None:
            with self._lock:
                self._cache[key] = res
                self._child_ids_cache[key] = child_ids
                while len(self._cache) > self._cache_size:
                    old, _ = self._cache.popitem(last=False)
                    self._child_ids_cache.pop(old, None)
        return res

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
        df = run_query(self.con, spec, bound, population=population)
        try:
            return protect_frame(df, spec, rs, p, grant, purpose, bound, population)
        except Unprotectable as e:
            raise Refusal(f"{spec.title!r} cannot be shown safely under the {rs.name} rules: {e}") from None

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
        df = run_query(self.con, spec, bound, population=population)
        if "child_id" not in df.columns:
            raise Refusal(f"the query {spec.name!r} did not return child_id")
        df = df.with_columns(pl.col("child_id").cast(pl.Utf8))
        scope = self._scope_children(p, grant, emergency) if grant.tier == "identifiable" else None
        if scope is not None:
            df = df.filter(pl.col("child_id").is_in(sorted(scope)))
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
        rows = [list(r) for r in zip(*[s.to_list() for s in series], strict=True)] if series else []
        res = ProtectedResult(spec.name, spec.title, spec.unit, p, grant.tier, grant.ruleset,
                              self.policy.rulesets[grant.ruleset].symbol if grant.ruleset else None,
                              out_cols, rows, {}, bound, purpose.lawful_basis.text(), population, notes)
        return res, [str(c) for c in child_ids]

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
        """Every classified warehouse table, pseudonymised, coarsened and objector-free, for the SQL workbench."""
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
        objectors = self._objectors()
        mart: dict[str, pl.DataFrame] = {}
        child_ids: set[str] = set()
        tables = sorted({t for t, _ in self.policy.columns} - set(self.policy.tables_out_of_mart))
        cur = self.con.cursor()
        try:
            for t in tables:
                # objectors left out always: the planning schema where it exists, and a filter on child_id
                src = f"planning.{t}" if t in CHILD_TABLES else f"main.{t}"
                try:
                    df = cur.sql(f"SELECT * FROM {src}").pl()
                except duckdb.Error:
                    df = cur.sql(f"SELECT * FROM main.{t}").pl()
                if "child_id" in df.columns:
                    df = df.filter(~pl.col("child_id").cast(pl.Utf8).is_in(sorted(objectors)))
                    child_ids.update(df["child_id"].cast(pl.Utf8).drop_nulls().to_list())
                cols = []
                for c in df.columns:
                    cls = self.policy.columns.get((t, c))
                    if cls is None:
                        continue        # unclassified: never shown
                    shown = self._row_column(df[c], cls, grant, purpose)
                    if shown is _PSEUDO:
                        shown = pseudonymise(df[c], key)
                    if shown is not None:
                        cols.append(shown)
                mart[t] = pl.DataFrame(cols) if cols else pl.DataFrame()
        finally:
            cur.close()
        try:
            self._record(p, outcome="allowed", path=path, grant=grant, purpose=purpose, query="planning_mart",
                         rows=sum(f.height for f in mart.values()), child_ids=sorted(child_ids),
                         population="no_objectors")
        except Exception as e:  # noqa: BLE001
            raise Refusal(f"the audit trail could not record this request, so nothing is shown: {e}") from None
        return mart

    # ------------------------------------------------------------------------------------------ drop-downs
    def choices(self, p: Principal, dimension: str, params: Mapping[str, Any] | None = None,
                path: str = "choices") -> list[Any]:
        """Drop-down values the principal may see. Never values from rows outside the principal's view."""
        params = dict(params or {})
        grant, purpose = self.grant_for(p)
        if dimension == "team":
            if grant.scope == "whole_authority":
                cur = self.con.cursor()
                try:
                    return [r[0] for r in cur.execute("SELECT team_id FROM main.team ORDER BY team_id").fetchall()]
                finally:
                    cur.close()
            return list(p.teams)
        if dimension == "census_year":
            cur = self.con.cursor()
            try:
                return [r[0] for r in cur.execute(
                    "SELECT census_year AS y FROM main.cin_episode UNION SELECT return_year FROM main.episode "
                    "ORDER BY y DESC").fetchall()]
            finally:
                cur.close()
        query = params.pop("query", None)
        if not query:
            raise Refusal(f"drop-down values for {dimension!r} come from a query: pass params['query']")
        res = self.query(p, query, params, path=path)
        names = [c.name for c in res.columns]
        if dimension not in names:
            raise Refusal(f"the query {query!r} has no dimension {dimension!r}")
        j = names.index(dimension)
        return sorted({r[j] for r in res.rows if r[j] != TOTAL and r[j] is not None}, key=str)

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

    def planning_mart_keyed(self, p: Principal, path: str = "workbench"
                            ) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
        """planning_mart(p) plus {pseudonym: child_id} for the child pseudonyms in that mart.

        Why: only the gate holds the purpose's key, and a subject access request must find every workbench
        statement that displayed the child's pseudonymised row, so the workbench session needs this map to record
        the child ids behind what it shows. The caller must keep it out of the analyst's instance and never show it.
        """
        from dashboard.policy.pseudonym import pseudonym

        mart = self.planning_mart(p, path=path)     # refuses, and records, exactly as planning_mart does
        _, purpose = self.grant_for(p)
        key = load_key(purpose.name, self.env)
        tables = sorted(t for (t, c), cls in self.policy.columns.items()
                        if c == "child_id" and cls.pseudonymise and t in mart and c in mart[t].columns)
        shown = {v for t in tables for v in mart[t]["child_id"].drop_nulls().to_list()}
        ids: set[str] = set()
        cur = self.con.cursor()
        try:
            for t in tables:
                ids.update(r[0] for r in cur.execute(
                    f'SELECT DISTINCT CAST(child_id AS VARCHAR) FROM main."{t}" WHERE child_id IS NOT NULL'
                ).fetchall())
        finally:
            cur.close()
        keyed = ((pseudonym(c, key), c) for c in ids)
        return mart, {ps: c for ps, c in keyed if ps in shown}

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


# ---------------------------------------------------------------------------------------------- cube protection


def cube_axes(df: pl.DataFrame, dims: list[str]) -> tuple[list[list[str]], np.ndarray]:
    """Labels per dimension ('Total' first when the cube has margins) and each row's flat cell index."""
    labels: list[list[str]] = []
    codes = []
    for d in dims:
        s = df[d].cast(pl.Utf8).fill_null(NOT_KNOWN)
        vals = sorted(set(s.to_list()) - {TOTAL})
        lab = ([TOTAL] if TOTAL in set(s.to_list()) else []) + vals
        labels.append(lab)
        index = {v: i for i, v in enumerate(lab)}
        codes.append(np.array([index[v] for v in s.to_list()], dtype=np.int64))
    shape = tuple(len(lab) for lab in labels)
    flat = np.ravel_multi_index(tuple(codes), shape) if dims else np.zeros(df.height, dtype=np.int64)
    return labels, flat


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
    full = df
    labels, flat_full = cube_axes(full, dims)
    shape = tuple(len(lab) for lab in labels) or (1,)
    keep = np.ones(df.height, dtype=bool)
    if dims:
        codes = np.unravel_index(flat_full, shape)
        away = sum((codes[a] != 0) | (labels[a][:1] != [TOTAL]) for a in range(len(dims)))
        keep = np.asarray(away <= k)
        df = df.filter(pl.Series(keep))
    flat = flat_full[keep]
    if len(np.unique(flat_full)) != len(flat_full):
        raise Refusal(f"the query {spec.name!r} returned the same cell twice; it cannot be protected")
    relations = [flat_relations(len(lab), lab[:1] == [TOTAL]) for lab in labels] or [[]]
    hidden: dict[tuple[int, str], Hidden] = {}
    shown: dict[str, list] = {}
    lo, hi = rs.primary_range
    for c in spec.columns:
        if c.kind != "count":
            continue
        v = full[c.name].cast(pl.Float64).fill_null(0).to_numpy()
        if (v < 0).any() or (v != np.floor(v)).any():
            raise Refusal(f"the count column {c.name!r} of {spec.name!r} holds a negative or fractional value")
        dense = np.zeros(int(np.prod(shape)))
        dense[flat_full] = v
        pr = protect(dense.reshape(shape), relations, rs, max_dims=k)
        st = pr.status.ravel()[flat]
        pub = pr.published.ravel()[flat]
        col = []
        for i in range(df.height):
            if st[i] == PUBLISHED:
                col.append(_num(pub[i]))
            else:
                col.append(rs.symbol)
                if st[i] == PRIMARY:
                    why = (f"fewer than {hi + 1} children ({lo} to {hi} are not published under the "
                           f"{rs.name} rules)")
                    hidden[(i, c.name)] = Hidden(rs.name, "primary", why)
                else:
                    hidden[(i, c.name)] = Hidden(rs.name, "secondary", "hidden so that a small number in the same "
                                                 "table cannot be worked out from the totals")
        shown[c.name] = col
    for c in spec.columns:
        if c.kind in ("dimension", "count"):
            continue
        parts = [x for x in (c.numerator, c.denominator) if x]
        counts = {x.name for x in spec.columns if x.kind == "count"}
        raw = df[c.name].to_list()
        col = []
        for i in range(df.height):
            if not parts or not any(x in counts for x in parts):
                hidden[(i, c.name)] = Hidden(rs.name, "derived", "not published: the query does not say which "
                                             "counts this figure is computed from")
                col.append(rs.symbol)
            elif any((i, x) in hidden for x in parts if x in counts):
                hidden[(i, c.name)] = Hidden(rs.name, "derived", "hidden because a count it is computed from "
                                             "is hidden")
                col.append(rs.symbol)
            else:
                val = raw[i]
                col.append(None if val is None else round(float(val), rs.decimals))
        shown[c.name] = col
    for d in dims:
        shown[d] = df[d].cast(pl.Utf8).fill_null(NOT_KNOWN).to_list()
    columns = [ResultColumn(c.name, c.kind, c.label) for c in spec.columns]
    rows = [list(r) for r in zip(*[shown[c.name] for c in spec.columns], strict=True)] if df.height else []
    return ProtectedResult(spec.name, spec.title, spec.unit, p, grant.tier, rs.name, rs.symbol, columns, rows,
                           hidden, bound, purpose.lawful_basis.text(), population, notes)
