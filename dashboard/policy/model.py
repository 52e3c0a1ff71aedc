"""Policy as data: load and validate `access_policies/*.yml`.

Every mistake names the file, the key and the reason, and stops the product from starting (PolicyError):
a policy that half-loads is a policy that silently grants or hides the wrong thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from dashboard.config import POLICY_DIR
from dashboard.policy.anonymity import Anonymity

TIERS = ("identifiable", "pseudonymised", "aggregate")
SCOPES = ("own_caseload", "own_team", "whole_authority")
CLASSES = ("direct_identifier", "quasi_identifier", "special_category", "sensitive", "ordinary")
COARSEN = ("month", "district", "drop", "none")
FILES = ("purposes.yml", "roles.yml", "columns.yml", "rulesets.yml", "teams.yml", "claims.yml", "personas.yml",
         "anonymity.yml")


class PolicyError(ValueError):
    """The policy files are wrong; the message names the file, key and reason."""


@dataclass(frozen=True)
class LawfulBasis:
    article_6: str
    article_9: str | None
    gateway: str | None

    def text(self) -> str:
        return "; ".join(x for x in (self.article_6, self.article_9, self.gateway) if x)


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    lawful_basis: LawfulBasis
    exclude_objectors: bool


@dataclass(frozen=True)
class Grant:
    role: str
    purpose: str
    tier: str
    scope: str
    ruleset: str | None


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    grants: dict[str, Grant]


@dataclass(frozen=True)
class ColumnClass:
    table: str
    column: str
    cls: str
    pseudonymise: bool = False
    coarsen: str | None = None
    free_text: bool = False


@dataclass(frozen=True)
class RuleSet:
    name: str
    description: str
    suppress_min: int
    suppress_max: int
    symbol: str
    zeros: str = "show"
    round_to: int = 1
    secondary: bool = True
    protection_width: float = 2
    decimals: int = 1
    method: str = "suppress"
    max_dimensions: int = 2
    search: str = "optimal"

    @property
    def primary_range(self) -> tuple[int, int]:
        lo = 0 if self.zeros == "suppress" else self.suppress_min
        return lo, self.suppress_max


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    role: str
    teams: tuple[str, ...]
    worker_id: str | None


@dataclass
class Policy:
    directory: Path
    purposes: dict[str, Purpose]
    roles: dict[str, Role]
    columns: dict[tuple[str, str], ColumnClass]
    tables_out_of_mart: frozenset[str]
    rulesets: dict[str, RuleSet]
    teams: dict[str, dict]
    claims: dict[str, Any]
    personas: dict[str, Persona]
    anonymity: Anonymity = field(default_factory=lambda: Anonymity(5, ()))
    extra: dict = field(default_factory=dict)

    def table_columns(self, table: str) -> list[ColumnClass]:
        return [c for (t, _), c in self.columns.items() if t == table]


# ---------------------------------------------------------------------------------------------- reading


def _load(directory: Path, name: str) -> dict:
    path = directory / name
    if not path.exists():
        raise PolicyError(f"{path}: file missing (the policy needs {', '.join(FILES)})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PolicyError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    return data


def _keys(path: str, where: str, obj: Any, allowed: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(obj, dict):
        raise PolicyError(f"{path}: {where}: expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise PolicyError(f"{path}: {where}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(obj))
    if missing:
        raise PolicyError(f"{path}: {where}: missing required key {missing[0]!r}")
    return obj


def schema_columns() -> dict[str, list[str]]:
    """Every table and column of schema.sql, read by DuckDB itself (not a regex)."""
    from dashboard.warehouse.db import SCHEMA_SQL

    con = duckdb.connect()
    try:
        con.execute(SCHEMA_SQL.read_text())
        rows = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def load_policy(directory: Path | str = POLICY_DIR) -> Policy:
    d = Path(directory)
    if not d.is_dir():
        raise PolicyError(f"{d}: policy directory does not exist")

    # purposes
    f = str(d / "purposes.yml")
    raw = _keys(f, "(top)", _load(d, "purposes.yml"), {"purposes"}, {"purposes"})
    purposes: dict[str, Purpose] = {}
    for name, spec in _keys(f, "purposes", raw["purposes"] or {}, set(raw["purposes"] or {})).items():
        spec = _keys(f, f"purposes.{name}", spec, {"description", "lawful_basis", "exclude_objectors"},
                     {"lawful_basis", "exclude_objectors"})
        lb = spec["lawful_basis"]
        if not lb:
            raise PolicyError(f"{f}: purposes.{name}.lawful_basis: empty - a purpose needs a lawful basis")
        lb = _keys(f, f"purposes.{name}.lawful_basis", lb, {"article_6", "article_9", "gateway"}, {"article_6"})
        if not str(lb["article_6"] or "").strip():
            raise PolicyError(f"{f}: purposes.{name}.lawful_basis.article_6: empty - a purpose needs an Art 6 basis")
        if not isinstance(spec["exclude_objectors"], bool):
            raise PolicyError(f"{f}: purposes.{name}.exclude_objectors: must be true or false")
        purposes[name] = Purpose(name, str(spec.get("description", "")),
                                 LawfulBasis(str(lb["article_6"]), lb.get("article_9"), lb.get("gateway")),
                                 spec["exclude_objectors"])

    # rule-sets
    f = str(d / "rulesets.yml")
    raw = _keys(f, "(top)", _load(d, "rulesets.yml"), {"rulesets"}, {"rulesets"})
    rulesets: dict[str, RuleSet] = {}
    rs_keys = {"description", "suppress_min", "suppress_max", "symbol", "zeros", "round_to", "secondary",
               "protection_width", "decimals", "method", "max_dimensions", "search"}
    for name, spec in (raw["rulesets"] or {}).items():
        spec = _keys(f, f"rulesets.{name}", spec, rs_keys, {"suppress_min", "suppress_max", "symbol"})
        try:
            rs = RuleSet(name=name, **{k: v for k, v in spec.items()})
        except TypeError as e:
            raise PolicyError(f"{f}: rulesets.{name}: {e}") from None
        for k in ("suppress_min", "suppress_max", "round_to", "decimals"):
            if not isinstance(getattr(rs, k), int) or getattr(rs, k) < 0:
                raise PolicyError(f"{f}: rulesets.{name}.{k}: must be a whole number >= 0")
        if isinstance(rs.max_dimensions, bool) or not isinstance(rs.max_dimensions, int) or rs.max_dimensions < 1:
            raise PolicyError(f"{f}: rulesets.{name}.max_dimensions: must be a whole number >= 1")
        if rs.suppress_min > rs.suppress_max or rs.round_to < 1:
            raise PolicyError(f"{f}: rulesets.{name}: suppress_min must be <= suppress_max and round_to >= 1")
        if rs.zeros not in ("show", "suppress"):
            raise PolicyError(f"{f}: rulesets.{name}.zeros: must be show or suppress")
        if rs.method != "suppress":
            # the cell-key method is documented in privacy-model.md but not implemented: refuse rather than ignore
            raise PolicyError(f"{f}: rulesets.{name}.method: only 'suppress' is implemented")
        if rs.search not in ("optimal", "hypercube"):
            raise PolicyError(f"{f}: rulesets.{name}.search: must be optimal or hypercube")
        if not str(rs.symbol):
            raise PolicyError(f"{f}: rulesets.{name}.symbol: empty")
        rulesets[name] = rs

    # roles
    f = str(d / "roles.yml")
    raw = _keys(f, "(top)", _load(d, "roles.yml"), {"roles"}, {"roles"})
    roles: dict[str, Role] = {}
    for name, spec in (raw["roles"] or {}).items():
        spec = _keys(f, f"roles.{name}", spec, {"description", "grants"}, {"grants"})
        grants = {}
        for purpose, g in (spec["grants"] or {}).items():
            where = f"roles.{name}.grants.{purpose}"
            if purpose not in purposes:
                raise PolicyError(f"{f}: {where}: unknown purpose {purpose!r} - a grant without a lawful basis "
                                  f"(purposes.yml defines: {', '.join(purposes)})")
            g = _keys(f, where, g, {"tier", "scope", "ruleset"}, {"tier", "scope"})
            if g["tier"] not in TIERS:
                raise PolicyError(f"{f}: {where}.tier: {g['tier']!r} is not one of {', '.join(TIERS)}")
            if g["scope"] not in SCOPES:
                raise PolicyError(f"{f}: {where}.scope: {g['scope']!r} is not one of {', '.join(SCOPES)}")
            rs = g.get("ruleset")
            if rs is not None and rs not in rulesets:
                raise PolicyError(f"{f}: {where}.ruleset: unknown rule-set {rs!r} (rulesets.yml defines: "
                                  f"{', '.join(rulesets)})")
            if g["tier"] in ("aggregate", "pseudonymised") and rs is None:
                raise PolicyError(f"{f}: {where}.ruleset: required for the {g['tier']} tier")
            if g["tier"] != "identifiable" and g["scope"] != "whole_authority":
                raise PolicyError(f"{f}: {where}.scope: the {g['tier']} tier works on the whole authority")
            grants[purpose] = Grant(name, purpose, g["tier"], g["scope"], rs)
        roles[name] = Role(name, str(spec.get("description", "")), grants)

    # columns: every schema column classified, nothing classified that the schema lacks
    f = str(d / "columns.yml")
    raw = _keys(f, "(top)", _load(d, "columns.yml"), {"tables"}, {"tables"})
    columns: dict[tuple[str, str], ColumnClass] = {}
    no_mart = set()
    schema = schema_columns()
    for table, tspec in (raw["tables"] or {}).items():
        tspec = _keys(f, f"tables.{table}", tspec, {"columns", "mart"}, {"columns"})
        if table not in schema:
            raise PolicyError(f"{f}: tables.{table}: no such table in schema.sql")
        if tspec.get("mart") is False:
            no_mart.add(table)
        for col, cspec in (tspec["columns"] or {}).items():
            where = f"tables.{table}.columns.{col}"
            if col not in schema[table]:
                raise PolicyError(f"{f}: {where}: no such column in schema.sql table {table}")
            if isinstance(cspec, str):
                cspec = {"class": cspec}
            cspec = _keys(f, where, cspec, {"class", "pseudonymise", "coarsen", "free_text"}, {"class"})
            if cspec["class"] not in CLASSES:
                raise PolicyError(f"{f}: {where}: unknown class {cspec['class']!r} (one of {', '.join(CLASSES)})")
            if cspec.get("coarsen") is not None and cspec["coarsen"] not in COARSEN:
                raise PolicyError(f"{f}: {where}.coarsen: {cspec['coarsen']!r} is not one of {', '.join(COARSEN)}")
            columns[(table, col)] = ColumnClass(table, col, cspec["class"], bool(cspec.get("pseudonymise")),
                                                cspec.get("coarsen"), bool(cspec.get("free_text")))
    for table, cols in schema.items():
        for col in cols:
            if (table, col) not in columns:
                raise PolicyError(f"{f}: tables.{table}.columns.{col}: schema column left unclassified "
                                  f"(every warehouse column needs a class: {', '.join(CLASSES)})")

    # teams
    f = str(d / "teams.yml")
    raw = _keys(f, "(top)", _load(d, "teams.yml"), {"teams"}, {"teams"})
    teams = {}
    for tid, spec in (raw["teams"] or {}).items():
        teams[str(tid)] = _keys(f, f"teams.{tid}", spec, {"name", "locality"}, {"name"})

    # claims
    f = str(d / "claims.yml")
    claims = _keys(f, "(top)", _load(d, "claims.yml"),
                   {"role_claim", "team_claim", "worker_claim", "roles", "teams"}, {"role_claim", "roles"})
    for value, role in (claims.get("roles") or {}).items():
        if role not in roles:
            raise PolicyError(f"{f}: roles.{value}: unknown role {role!r} (roles.yml defines: {', '.join(roles)})")
    for value, team in (claims.get("teams") or {}).items():
        if team not in teams:
            raise PolicyError(f"{f}: teams.{value}: unknown team {team!r} (teams.yml defines: {', '.join(teams)})")

    # personas
    f = str(d / "personas.yml")
    raw = _keys(f, "(top)", _load(d, "personas.yml"), {"personas"}, {"personas"})
    personas = {}
    for pid, spec in (raw["personas"] or {}).items():
        spec = _keys(f, f"personas.{pid}", spec, {"name", "role", "teams", "worker_id"}, {"name", "role"})
        if spec["role"] not in roles:
            raise PolicyError(f"{f}: personas.{pid}.role: unknown role {spec['role']!r}")
        for t in spec.get("teams") or []:
            if t not in teams:
                raise PolicyError(f"{f}: personas.{pid}.teams: unknown team {t!r}")
        personas[pid] = Persona(pid, spec["name"], spec["role"], tuple(spec.get("teams") or ()),
                                spec.get("worker_id"))

    # k-anonymity of pseudonymised releases
    f = str(d / "anonymity.yml")
    raw = _keys(f, "(top)", _load(d, "anonymity.yml"), {"k", "key_variables"}, {"k", "key_variables"})
    k = raw["k"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise PolicyError(f"{f}: k: must be a whole number >= 2 (k = 1 protects nobody)")
    if not isinstance(raw["key_variables"], list) or not raw["key_variables"]:
        raise PolicyError(f"{f}: key_variables: must be a list of table.column")
    keys = []
    for i, kv in enumerate(raw["key_variables"]):
        t, _, c = str(kv).partition(".")
        if (t, c) not in columns:
            raise PolicyError(f"{f}: key_variables[{i}]: {kv!r} is not a classified column (columns.yml)")
        if columns[(t, c)].cls == "direct_identifier":
            # a direct identifier never reaches the pseudonymised tier at all: naming it here would be a mistake
            raise PolicyError(f"{f}: key_variables[{i}]: {kv!r} is a direct identifier, never released")
        keys.append((t, c))
    return Policy(d, purposes, roles, columns, frozenset(no_mart), rulesets, teams, claims, personas,
                  Anonymity(k, tuple(keys)))
