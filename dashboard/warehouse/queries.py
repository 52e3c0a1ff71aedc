"""Named queries: `queries/*.sql`, each with a YAML header in its leading `--` comment lines.

Header keys (see docs/architecture.md, "Named queries"):
  title, definition, source, unit, shape (aggregate | rows), parameters, dimensions, columns

This module reads the headers and runs a query against a warehouse connection, returning a Polars frame.
It is deliberately not exported through any command or page: callers go through the policy gate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from dashboard.config import QUERIES_DIR
from dashboard.warehouse.db import POPULATIONS

COLUMN_KINDS = {"dimension", "count", "rate", "percentage", "value"}
PARAM_TYPES = {"integer": int, "string": str, "date": str, "boolean": bool}


class QueryError(ValueError):
    """A named query that does not exist, or parameters it does not accept."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any
    description: str = ""
    #: a closed list of allowed values, or the name of a source the gate resolves ("census_years", "teams")
    choices: tuple | str | None = None


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    label: str = ""
    #: for rate / percentage columns: the count columns they are computed from (suppressed together)
    numerator: str | None = None
    denominator: str | None = None
    #: for shape: rows, the warehouse column (table.column) whose classification governs this output column
    source: str | None = None


@dataclass(frozen=True)
class QuerySpec:
    name: str
    title: str
    definition: str
    source: str
    unit: str
    shape: str
    parameters: tuple[Parameter, ...]
    dimensions: tuple[str, ...]
    columns: tuple[Column, ...]
    sql: str
    path: Path
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def bind(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults filled in, values converted to their declared types; unknown names refused."""
        params = dict(params or {})
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise QueryError(
                f"query {self.name!r} has no parameter {unknown[0]!r}; it accepts: {', '.join(known) or 'none'}"
            )
        bound = {}
        for p in self.parameters:
            value = params.get(p.name, p.default)
            try:
                bound[p.name] = None if value is None else PARAM_TYPES[p.type](value)
            except (TypeError, ValueError):
                raise QueryError(f"parameter {p.name!r} of {self.name!r} must be {p.type}, got {value!r}") from None
            if isinstance(p.choices, tuple) and bound[p.name] not in p.choices:
                raise QueryError(f"parameter {p.name!r} must be one of {list(p.choices)}, got {value!r}")
        return bound


_HEADER = re.compile(r"\A((?:[ \t]*--[^\n]*\n)+)")


def parse_query_file(path: Path) -> QuerySpec:
    text = Path(path).read_text(encoding="utf-8")
    m = _HEADER.match(text)
    if not m:
        raise QueryError(f"{path}: no header block (leading '--' comment lines with YAML)")
    header_text = "\n".join(re.sub(r"^[ \t]*-- ?", "", line) for line in m.group(1).splitlines())
    try:
        h = yaml.safe_load(header_text) or {}
    except yaml.YAMLError as e:
        raise QueryError(f"{path}: header is not valid YAML: {e}") from None
    missing = [k for k in ("title", "definition", "source", "unit", "columns") if k not in h]
    if missing:
        raise QueryError(f"{path}: header lacks {', '.join(missing)}")
    params = tuple(
        Parameter(
            name=name,
            type=(spec or {}).get("type", "integer"),
            default=(spec or {}).get("default"),
            description=(spec or {}).get("description", ""),
            choices=(tuple(spec["choices"]) if isinstance((spec or {}).get("choices"), list) else (spec or {}).get("choices")),
        )
        for name, spec in (h.get("parameters") or {}).items()
    )
    for p in params:
        if p.type not in PARAM_TYPES:
            raise QueryError(f"{path}: parameter {p.name!r} has unknown type {p.type!r}")
    columns = tuple(Column(**c) for c in h["columns"])
    for c in columns:
        if c.kind not in COLUMN_KINDS:
            raise QueryError(f"{path}: column {c.name!r} has unknown kind {c.kind!r}")
    shape = h.get("shape", "aggregate")
    if shape not in ("aggregate", "rows"):
        raise QueryError(f"{path}: shape must be aggregate or rows")
    known = {"title", "definition", "source", "unit", "shape", "parameters", "dimensions", "columns", "name"}
    return QuerySpec(
        name=h.get("name", Path(path).stem),
        title=h["title"],
        definition=" ".join(str(h["definition"]).split()),
        source=str(h["source"]),
        unit=h["unit"],
        shape=shape,
        parameters=params,
        dimensions=tuple(h.get("dimensions") or ()),
        columns=columns,
        sql=text[m.end():],
        path=Path(path),
        extra={k: v for k, v in h.items() if k not in known},
    )


_registry: dict[Path, dict[str, QuerySpec]] = {}


def load_queries(directory: Path = QUERIES_DIR) -> dict[str, QuerySpec]:
    """Every named query in `directory`, by name (cached per directory)."""
    directory = Path(directory)
    if directory not in _registry:
        specs = {}
        for path in sorted(directory.glob("*.sql")):
            spec = parse_query_file(path)
            specs[spec.name] = spec
        _registry[directory] = specs
    return _registry[directory]


def get_query(name: str, directory: Path = QUERIES_DIR) -> QuerySpec:
    queries = load_queries(directory)
    if name not in queries:
        raise QueryError(f"unknown query {name!r}; `csc-dashboard queries` lists them")
    return queries[name]


#: the parameter a row-level query may use to read only some children: bound by run_query from `children`, never
#: declared in a header (bind() refuses undeclared names, so nobody asking can set it)
CHILD_SCOPE = "child_scope"


def run_query(
    con: duckdb.DuckDBPyConnection,
    spec: QuerySpec,
    params: dict[str, Any] | None = None,
    population: str = "all",
    children: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Run one named query on its own cursor and return a Polars frame.

    `population` picks the schema the unqualified table names resolve to: "all" (main) or "no_objectors"
    (planning: objectors' children left out). `children`, if given, limits the answer to those child ids: a query
    whose SQL uses `$child_scope` gets them as that bound list parameter (NULL when not given) and reads only their
    rows; any other query is answered whole and then filtered on its child_id column. Only the policy gate should
    call this.
    """
    if population not in POPULATIONS:
        raise QueryError(f"unknown population {population!r}")
    if any(p.name == CHILD_SCOPE for p in spec.parameters):
        raise QueryError(f"{spec.path}: {CHILD_SCOPE!r} is set by the runner and cannot be a declared parameter")
    bound = spec.bind(params)
    scope = None if children is None else sorted({str(c) for c in children})
    hooked = re.search(rf"\${CHILD_SCOPE}\b", spec.sql) is not None
    cur = con.cursor()
    try:
        cur.execute(f"SET search_path = '{POPULATIONS[population]},main'")
        used = {k: v for k, v in bound.items() if re.search(rf"\${k}\b", spec.sql)}
        if hooked:
            # a bound parameter, never ids formatted into the SQL
            used[CHILD_SCOPE] = scope
        df = cur.sql(spec.sql, params=used).pl() if used else cur.sql(spec.sql).pl()
    finally:
        cur.close()
    if scope is not None and not hooked:
        if "child_id" not in df.columns:
            raise QueryError(f"the query {spec.name!r} has no child_id column to limit to some children")
        df = df.filter(pl.col("child_id").cast(pl.Utf8).is_in(scope))
    return df
