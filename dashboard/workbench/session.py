"""One analyst's workbench session: their principal, their locked sandbox, the audit trail, the output check.

Who gets one: a principal whose grant (role x purpose) is the pseudonymised tier. The sandbox holds only what
``gate.planning_mart(principal)`` returns (pseudonymised with the purpose's key, direct identifiers dropped,
quasi-identifiers coarsened, free text dropped, objectors left out), so whatever SQL the analyst writes, the
answer can only ever be made of that.

Every statement, allowed or refused, is written to the audit trail before its result is returned; when the
trail cannot be written the result is dropped and the caller gets a refusal instead. An allowed statement is
recorded with the council child ids behind the child pseudonyms it displayed (from the gate's map, kept in the
session and never in the analyst's instance), so a subject access report finds every statement that showed a
child's row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from dashboard.policy.pseudonym import PseudonymMap
from dashboard.workbench.export import CheckedExport, check_output
from dashboard.workbench.image import MartImage
from dashboard.workbench.sandbox import Limits, Outcome, Sandbox, WorkbenchError

WORKBENCH_TIER = "pseudonymised"
PATHS = ("workbench", "cli:sql")
#: finds keyed pseudonyms inside longer text ('x' || child_id); candidates only, each is looked up in the map
_PSEUDONYM_TOKEN = re.compile(r"P[0-9a-f]{20}")


@dataclass(frozen=True)
class SchemaColumn:
    name: str
    type: str
    meaning: str
    classification: str


@dataclass(frozen=True)
class SchemaTable:
    name: str
    rows: int
    columns: tuple[SchemaColumn, ...]


@dataclass
class Result:
    """An audited answer: at most ``row_cap`` rows in ``frame``; ``row_count`` is the true number of rows."""

    sql: str
    frame: pl.DataFrame
    row_count: int
    truncated: bool
    tables: tuple[str, ...]
    columns: tuple[str, ...]
    columns_source: str
    audit_seq: int | None = None
    principal: dict[str, Any] = field(default_factory=dict)
    ruleset: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Same shape as the `query` command's JSON, plus row_count and truncated."""
        return {
            "query": self.sql,
            "principal": self.principal,
            "ruleset": self.ruleset,
            "columns": [{"name": c, "kind": "value"} for c in self.frame.columns],
            "rows": [[_plain(v) for v in row] for row in self.frame.iter_rows()],
            "row_count": self.row_count,
            "truncated": self.truncated,
        }


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, date | datetime | time):
        return v.isoformat()
    if isinstance(v, Decimal):  # sum() of integers is a HUGEINT, which arrives as a Decimal
        return int(v) if v == v.to_integral_value() else float(v)
    return str(v)


# ------------------------------------------------------------------------------------------------ who may


def grant_for(policy, principal):
    """The principal's grant, refused with a reason unless it is the pseudonymised tier."""
    role = policy.roles.get(principal.role)
    if role is None:
        raise WorkbenchError(f"unknown role {principal.role!r}: no workbench")
    grant = role.grants.get(principal.purpose)
    if grant is None:
        raise WorkbenchError(
            f"role {principal.role!r} may not act under purpose {principal.purpose!r} "
            f"(its purposes: {', '.join(role.grants) or 'none'})")
    if grant.tier != WORKBENCH_TIER:
        raise WorkbenchError(
            f"the SQL workbench is only for the pseudonymised tier; {principal.role} acting for "
            f"{principal.purpose} has the {grant.tier} tier")
    return grant


def workbench_purpose(policy, role: str, purpose: str | None) -> str:
    """The purpose to act under: the one asked for, else the role's one pseudonymised grant."""
    if purpose:
        return purpose
    r = policy.roles.get(role)
    if r is None:
        raise WorkbenchError(f"unknown role {role!r}: no workbench")
    matching = [p for p, g in r.grants.items() if g.tier == WORKBENCH_TIER]
    if not matching:
        raise WorkbenchError(f"role {role!r} has no pseudonymised tier, so it has no SQL workbench")
    if len(matching) > 1:
        raise WorkbenchError(f"role {role!r} has several pseudonymised purposes; choose one with --purpose "
                             f"({', '.join(matching)})")
    return matching[0]


def column_docs(warehouse: Path | None) -> dict[tuple[str, str], str]:
    """(table, column) -> documented meaning, from the warehouse's column_doc table."""
    if warehouse is None or not Path(warehouse).exists():
        return {}
    import duckdb

    from dashboard.warehouse.db import open_readonly

    try:
        con = open_readonly(Path(warehouse))
    except (duckdb.Error, OSError):
        return {}
    try:
        rows = con.execute("SELECT table_name, column_name, meaning FROM column_doc").fetchall()
    except duckdb.Error:
        rows = []
    finally:
        con.close()
    return {(t, c): m for t, c, m in rows}


def _docs_through(con) -> dict[tuple[str, str], str]:
    """column_doc read on a cursor of the gate's read-only warehouse connection (documentation only)."""
    if con is None:
        return {}
    import duckdb

    cur = con.cursor()
    try:
        rows = cur.execute("SELECT table_name, column_name, meaning FROM column_doc").fetchall()
    except duckdb.Error:
        rows = []
    finally:
        cur.close()
    return {(t, c): m for t, c, m in rows}


# ------------------------------------------------------------------------------------------------ the session


class Workbench:
    """Build with :meth:`open` (from the gate) or directly from frames (tests, benchmarks)."""

    def __init__(
        self,
        principal,
        mart: Mapping[str, pl.DataFrame],
        *,
        audit,
        policy=None,
        ruleset=None,
        docs: Mapping[tuple[str, str], str] | None = None,
        limits: Limits | None = None,
        precheck: bool = True,
        children: Mapping[str, str] | None = None,
    ):
        if audit is None:
            # fail closed: a session that cannot record what it ran does not run anything
            raise WorkbenchError("the workbench needs an audit trail")
        self.principal = principal
        self.policy = policy
        self.audit = audit
        self.ruleset = ruleset
        self.docs = dict(docs or {})
        # a MartImage (from the gate) knows its row counts; reading its frames here would load the whole mart
        self._rows = mart.rows if isinstance(mart, MartImage) else {name: f.height for name, f in mart.items()}
        # pseudonym -> council child id, from the gate. Why it lives here, in Python, and nowhere else: the audit
        # trail must name the children whose rows a statement displayed (subject access), but the analyst must
        # never be able to reverse a pseudonym, so it is never put in the sandbox, a Result or the screen.
        # A PseudonymMap from the gate is shared, read-only, by the sessions over the same mart.
        self._children: Mapping[str, str] = (
            children if isinstance(children, PseudonymMap) else PseudonymMap.from_pairs(dict(children or {})))
        self.sandbox = Sandbox(mart, limits, precheck=precheck)
        # what k-anonymity withheld when the gate built this mart (a sentence, or "" when nothing is known)
        withheld = getattr(mart, "anonymity", None)
        self.anonymity_note = withheld.note() if withheld is not None else ""

    # -------------------------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, gate, principal, *, audit=None, path: str = "workbench", limits: Limits | None = None,
             warehouse: Path | None = None) -> Workbench:
        """The principal's session, or WorkbenchError (recorded in the audit trail) when they may not have one."""
        policy = gate.policy
        audit = audit if audit is not None else audit_of(gate)
        try:
            grant = grant_for(policy, principal)
            mart, children = gate.planning_mart_keyed(principal, path=path)
        except Exception as e:  # noqa: BLE001 - Refusal, WorkbenchError, KeyMissing: each becomes a clean refusal
            reason = getattr(e, "reason", None) or str(e)
            record_refusal(audit, policy, principal, path, reason)
            raise WorkbenchError(reason) from None
        ruleset = policy.rulesets.get(grant.ruleset) if grant.ruleset else None
        docs = column_docs(warehouse) if warehouse is not None else _docs_through(getattr(gate, "con", None))
        return cls(principal, mart, audit=audit, policy=policy, ruleset=ruleset, docs=docs, limits=limits,
                   children=children)

    # -------------------------------------------------------------------------------------------- running
    def run(self, sql: str, path: str = "workbench") -> Result:
        """Run one statement. The audit entry is written BEFORE the result is returned."""
        from dashboard.audit import AuditError

        if path not in PATHS:
            raise WorkbenchError(f"unknown workbench path {path!r}")
        try:
            out: Outcome = self.sandbox.run(sql)
        except WorkbenchError as e:
            status = "refused" if e.outcome == "refused" else "failed"
            try:
                self.audit.record(self._entry(path, sql=sql, outcome="refused", reason=f"{status}: {e.reason}",
                                              tables_read=list(e.tables or self.sandbox.parser_tables(sql)),
                                              status=status))
            except AuditError as ae:
                raise WorkbenchError(f"the audit trail cannot be written ({ae}); nothing is shown") from None
            raise
        entry = self._entry(
            path, sql=sql, outcome="allowed", rows=out.row_count, tables_read=list(out.tables),
            columns_read=list(out.columns),
            # kept in the trail's `extra`: how the columns were found, and how much of the result was shown
            status="shown", columns_source=out.columns_source, truncated=out.truncated,
            shown_rows=out.frame.height, child_ids=self.children_shown(out.frame),
        )
        try:
            seq = self.audit.record(entry)
        except AuditError as ae:
            # fail closed: the result was computed but is dropped, because no one could later see it was shown
            raise WorkbenchError(f"the audit trail cannot be written ({ae}); the result is not shown") from None
        return Result(
            sql=sql, frame=out.frame, row_count=out.row_count, truncated=out.truncated, tables=out.tables,
            columns=out.columns, columns_source=out.columns_source, audit_seq=seq,
            principal=_describe(self.principal), ruleset=getattr(self.ruleset, "name", None),
        )

    def interrupt(self) -> None:
        self.sandbox.interrupt()

    # -------------------------------------------------------------------------------------------- export
    def export(self, result: Result, path: str = "workbench") -> CheckedExport:
        """Output-check a result for download (see dashboard.workbench.export); recorded like a statement."""
        from dashboard.audit import AuditError

        try:
            checked = check_output(result.frame, self.ruleset, truncated=result.truncated)
        except WorkbenchError as e:
            try:
                self.audit.record(self._entry(path, sql=result.sql, outcome="refused", reason=f"export: {e.reason}",
                                              event="workbench_export", tables_read=list(result.tables)))
            except AuditError as ae:
                raise WorkbenchError(f"the audit trail cannot be written ({ae}); nothing is exported") from None
            raise
        try:
            self.audit.record(self._entry(
                path, sql=result.sql, outcome="allowed", event="workbench_export", rows=len(checked.rows),
                tables_read=list(result.tables), columns_read=list(result.columns),
                cells_suppressed=checked.suppressed, note=checked.note,
                # the grouping columns leave as they were shown, so the children are those of the shown result
                child_ids=self.children_shown(result.frame)))
        except AuditError as ae:
            raise WorkbenchError(f"the audit trail cannot be written ({ae}); nothing is exported") from None
        return checked

    # -------------------------------------------------------------------------------------------- subject access
    def children_shown(self, frame: pl.DataFrame) -> list[str]:
        """Council child ids behind the child pseudonyms in the displayed frame (sorted), for the audit entry only.

        Every column is looked at, whatever its name (``SELECT child_id AS x``), including lists of values
        (``list(child_id)``) and text a pseudonym was built into. A statement that hides the pseudonyms (an
        aggregate such as ``count(*)``) displays no child's row and names none.
        """
        if not self._children or frame.height == 0:
            return []
        candidates: set[str] = set()
        for s in (leaf for col in frame.iter_columns() for leaf in _text_series(col)):
            for v in s.drop_nulls().unique().to_list():
                candidates.add(v)
                if len(v) > 21:
                    candidates.update(_PSEUDONYM_TOKEN.findall(v))
        return sorted(set(self._children.lookup(candidates).values()))

    # -------------------------------------------------------------------------------------------- browsing
    def schema(self) -> list[SchemaTable]:
        """The mart's tables and columns with their documented meaning and classification."""
        types = self.sandbox.column_types()
        out = []
        for table, columns in sorted(self.sandbox.tables.items()):
            cols = []
            for c in columns:
                cols.append(SchemaColumn(c, types.get((table, c), ""), self._meaning(table, c),
                                         self._classification(table, c)))
            out.append(SchemaTable(table, self._rows.get(table, 0), tuple(cols)))
        return out

    def _classification(self, table: str, column: str) -> str:
        cc = getattr(self.policy, "columns", {}).get((table, column)) if self.policy is not None else None
        if cc is None:
            return "unclassified"
        label = cc.cls
        if cc.pseudonymise:
            label += " (keyed pseudonym)"
        elif cc.coarsen and cc.coarsen not in ("none", "drop"):
            label += f" (coarsened to {cc.coarsen})"
        anonymity = getattr(self.policy, "anonymity", None)
        if anonymity is not None and (table, column) in anonymity.key_variables:
            label += f"; key variable: empty where fewer than {anonymity.k} children share the values"
        return label

    def _meaning(self, table: str, column: str) -> str:
        meaning = self.docs.get((table, column), "")
        cc = getattr(self.policy, "columns", {}).get((table, column)) if self.policy is not None else None
        if cc is not None and cc.pseudonymise:
            meaning = (meaning + "; " if meaning else "") + "replaced by a keyed pseudonym for this purpose"
        return meaning

    # -------------------------------------------------------------------------------------------- audit entry
    def _entry(self, path: str, **fields) -> dict:
        return _entry(self.policy, self.principal, path, ruleset=getattr(self.ruleset, "name", None), **fields)

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _text_series(s: pl.Series) -> list[pl.Series]:
    """Every text leaf of a column, through lists, arrays and structs (``SELECT child FROM child`` is a struct)."""
    if isinstance(s.dtype, pl.Struct):
        return [leaf for f in s.struct.unnest().iter_columns() for leaf in _text_series(f)]
    if isinstance(s.dtype, pl.List):
        return _text_series(s.explode())
    if isinstance(s.dtype, pl.Array):
        return _text_series(s.arr.explode())
    return [s] if s.dtype == pl.String else []


def record_refusal(audit, policy, principal, path: str, reason: str) -> None:
    """Record a refusal that happened before a session existed (e.g. a role with no workbench)."""
    from dashboard.audit import AuditError

    try:
        audit.record(_entry(policy, principal, path, outcome="refused", reason=f"workbench: {reason}",
                            event="workbench_open"))
    except AuditError as ae:
        raise WorkbenchError(f"the audit trail cannot be written ({ae}); nothing is shown") from None


def audit_of(gate):
    trail = getattr(gate, "audit", None) or getattr(gate, "trail", None)
    if trail is not None:
        return trail
    from dashboard.audit import AuditTrail

    return AuditTrail(gate.settings.audit)


def _describe(principal) -> dict[str, Any]:
    if hasattr(principal, "describe"):
        return principal.describe()
    return {"user": principal.user, "role": principal.role, "teams": list(principal.teams),
            "purpose": principal.purpose}


def _entry(policy, principal, path: str, *, outcome: str, event: str = "sql", **fields) -> dict:
    lawful = None
    if policy is not None and principal.purpose in getattr(policy, "purposes", {}):
        lawful = policy.purposes[principal.purpose].lawful_basis.text()
    entry = {
        "user": principal.user, "role": principal.role, "teams": list(principal.teams),
        "purpose": principal.purpose, "lawful_basis": lawful, "path": path, "outcome": outcome,
        "event": event, "tier": WORKBENCH_TIER,
    }
    entry.update({k: v for k, v in fields.items() if v is not None})
    return entry


def chart_axes(frame: pl.DataFrame) -> tuple[str, str] | None:
    """(category column, numeric column) for a quick bar chart of a small result, or None."""
    if frame.height == 0 or frame.height > 200:
        return None
    cats = [c for c, t in frame.schema.items() if t == pl.String or t == pl.Boolean or t.is_temporal()]
    nums = [c for c, t in frame.schema.items() if t.is_numeric()]
    if not nums:
        return None
    x = cats[0] if cats else next((c for c in frame.columns if c != nums[0]), None)
    y = next((c for c in nums if c != x), None)
    return (x, y) if x and y else None
