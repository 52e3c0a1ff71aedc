"""Commands of the policy area: the query catalogue, asking a question as a role, checking and explaining policy.

Everything printed here came through the gate: `query` shows exactly what that principal would see.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dashboard.config import POLICY_DIR, QUERIES_DIR


def _fail(message: str) -> typer.Exit:
    from dashboard.cli import fail

    return fail(message)


def _settings(ctx: typer.Context):
    from dashboard.config import Settings

    return ctx.obj if ctx.obj is not None else Settings.from_env()


def _open_gate(ctx: typer.Context, policy_dir: Path, queries_dir: Path):
    from dashboard.cli import open_gate

    return open_gate(_settings(ctx), policy_dir, queries_dir)


def _parse_params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise _fail(f"--param expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _render(res: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(res.to_json(), indent=2, default=str)
    header = [c.name for c in res.columns]
    rows = [["" if v is None else str(v) for v in r] for r in res.rows]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    widths = [max(len(h), *(len(r[j]) for r in rows)) if rows else len(h) for j, h in enumerate(header)]
    lines = [f"{res.title} - as {res.principal.role} under {res.principal.purpose} "
             f"({res.tier}{', rule-set ' + res.ruleset if res.ruleset else ''})",
             "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) if res.columns[j].kind != "dimension" else v.ljust(w)
                        for j, (v, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    if res.hidden and res.symbol:
        lines.append(f"{res.symbol} = hidden to protect small numbers ({len(res.hidden)} cells)")
    lines += [f"Note: {n}" for n in res.notes]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    policy_app = typer.Typer(help="Check and explain the access policy (access_policies/).", no_args_is_help=True)
    app.add_typer(policy_app, name="policy")

    @app.command("queries")
    def queries_cmd(
        ctx: typer.Context,
        fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
        queries_dir: Annotated[Path, typer.Option("--queries", help="Named queries directory.")] = QUERIES_DIR,
    ) -> None:
        """List the named queries: title, parameters (with allowed values), dimensions and units."""
        from dashboard.warehouse.queries import QueryError, load_queries

        try:
            specs = load_queries(queries_dir)
        except QueryError as e:
            raise _fail(str(e)) from None
        resolved = _closed_values(ctx)
        out = []
        for s in specs.values():
            params = []
            for p in s.parameters:
                allowed = list(p.choices) if isinstance(p.choices, tuple) else resolved.get(p.choices, p.choices)
                params.append({"name": p.name, "type": p.type, "default": p.default, "allowed": allowed,
                               "description": p.description})
            out.append({"name": s.name, "title": s.title, "unit": s.unit, "shape": s.shape,
                        "parameters": params, "dimensions": list(s.dimensions),
                        "columns": [{"name": c.name, "kind": c.kind, "label": c.label} for c in s.columns]})
        if fmt == "json":
            typer.echo(json.dumps(out, indent=2, default=str))
            return
        if fmt != "table":
            raise _fail("--format must be table or json")
        for q in out:
            typer.echo(f"{q['name']}: {q['title']} [{q['shape']}; {q['unit']}]")
            for p in q["parameters"]:
                allowed = p["allowed"]
                allowed = ", ".join(map(str, allowed)) if isinstance(allowed, list) else (allowed or "any")
                typer.echo(f"    --param {p['name']}=...  ({p['type']}, default {p['default']}; allowed: {allowed})")
            if q["dimensions"]:
                typer.echo(f"    dimensions: {', '.join(q['dimensions'])}")

    @app.command("query")
    def query_cmd(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Named query (see `csc-dashboard queries`).")],
        role: Annotated[str, typer.Option("--as", help="Role to ask as, e.g. service_manager.")],
        user: Annotated[str | None, typer.Option("--user", help="User id recorded in the audit trail.")] = None,
        team: Annotated[list[str] | None, typer.Option("--team", help="Team of the principal (repeatable).")] = None,
        purpose: Annotated[str | None, typer.Option("--purpose", help="Purpose [default: the role's first].")] = None,
        worker: Annotated[str | None, typer.Option("--worker", help="Worker id (own-caseload roles).")] = None,
        param: Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE query parameter.")] = None,
        fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
        policy_dir: Annotated[Path, typer.Option("--policies", help="Policy directory.")] = POLICY_DIR,
        queries_dir: Annotated[Path, typer.Option("--queries", help="Named queries directory.")] = QUERIES_DIR,
    ) -> None:
        """Print exactly what a principal would see for a named query (refusals exit non-zero)."""
        from dashboard.cli import cli_principal
        from dashboard.policy import Refusal

        if fmt not in ("table", "csv", "json"):
            raise _fail("--format must be table, csv or json")
        gate = _open_gate(ctx, policy_dir, queries_dir)
        try:
            p = cli_principal(gate, role, user, tuple(team or ()), purpose, worker)
            try:
                res = gate.query(p, name, _parse_params(param or []), path="cli:query")
            except Refusal as e:
                raise _fail(f"refused: {e.reason}") from None
            typer.echo(_render(res, fmt))
            if fmt != "table":
                # csv and json stay machine-readable on stdout; what the gate left out or withheld is said aside
                for n in res.notes:
                    typer.echo(f"note: {n}", err=True)
        finally:
            gate.close()

    @policy_app.command("check")
    def check_cmd(
        policy_dir: Annotated[Path, typer.Option("--policies", help="Policy directory.")] = POLICY_DIR,
        queries_dir: Annotated[Path, typer.Option("--queries", help="Named queries directory.")] = QUERIES_DIR,
    ) -> None:
        """Validate the policy files and the named queries against them."""
        from dashboard.policy import PolicyError, load_policy
        from dashboard.warehouse.queries import QueryError, load_queries

        try:
            pol = load_policy(policy_dir)
            specs = load_queries(queries_dir)
        except (PolicyError, QueryError) as e:
            raise _fail(str(e)) from None
        problems = []
        for s in specs.values():
            if s.shape != "rows":
                continue
            for c in s.columns:
                t, _, col = (c.source or "").partition(".")
                if (t, col) not in pol.columns:
                    problems.append(f"{s.path}: column {c.name!r} has no classified source (it will never be shown)")
        typer.echo(f"policy OK: {len(pol.purposes)} purposes, {len(pol.roles)} roles, {len(pol.columns)} columns "
                   f"classified, {len(pol.rulesets)} rule-sets, {len(pol.teams)} teams, {len(specs)} queries")
        for msg in problems:
            typer.echo(f"warning: {msg}", err=True)

    @policy_app.command("explain")
    def explain_cmd(
        role: Annotated[str, typer.Option("--as", help="Role to explain.")],
        policy_dir: Annotated[Path, typer.Option("--policies", help="Policy directory.")] = POLICY_DIR,
    ) -> None:
        """Say in plain English what a role may see, under which purpose and lawful basis."""
        from dashboard.policy import PolicyError, load_policy

        try:
            pol = load_policy(policy_dir)
        except PolicyError as e:
            raise _fail(str(e)) from None
        typer.echo(explain(pol, role))


TIER_TEXT = {
    "identifiable": "named records (names, addresses, NHS numbers) of individual children",
    "pseudonymised": ("records of individual children with names and contact details removed, ids replaced by "
                      "pseudonyms that mean nothing outside this purpose, dates of birth and other dates shown as "
                      "month, postcodes as district, free text never"),
    "aggregate": "counts and rates only, never a record about one child",
}
SCOPE_TEXT = {
    "own_caseload": "only the children allocated to them as social worker",
    "own_team": "only the children currently allocated to their own team(s)",
    "whole_authority": "the whole authority",
}


def explain(pol: Any, role: str) -> str:
    if role not in pol.roles:
        raise _fail(f"unknown role {role!r}; roles: {', '.join(pol.roles)}")
    r = pol.roles[role]
    lines = [f"Role {role}: {r.description}".rstrip(": ")]
    for purpose, g in r.grants.items():
        pu = pol.purposes[purpose]
        lines.append("")
        lines.append(f"Acting for {purpose} ({pu.description.rstrip('.')}), they see {TIER_TEXT[g.tier]}, "
                     f"covering {SCOPE_TEXT[g.scope]}.")
        if g.ruleset:
            rs = pol.rulesets[g.ruleset]
            rounding = f", other counts rounded to the nearest {rs.round_to}" if rs.round_to > 1 else ""
            lines.append(f"  Small numbers: counts of {rs.primary_range[0]} to {rs.suppress_max} are shown as "
                         f"'{rs.symbol}'{rounding}"
                         + (", and further cells are hidden so the small ones cannot be worked out from totals"
                            if rs.secondary else "") + f" ({g.ruleset} rules).")
        if pu.exclude_objectors:
            lines.append("  Children whose families objected to uses beyond direct care are left out.")
        if g.tier == "pseudonymised":
            an = pol.anonymity
            plain = {"dob": "month of birth", "postcode": "postcode district", "postcode_district":
                     "postcode district", "ethnicity_group": "ethnicity", "sex": "sex", "ethnicity": "ethnicity"}
            keys = ", ".join(dict.fromkeys(plain.get(c, c.replace("_", " ")) for _, c in an.key_variables))
            lines.append(f"  Rows are k-anonymous (k = {an.k}): where fewer than {an.k} children share the same "
                         f"{keys}, those values are left empty.")
        if g.tier == "identifiable":
            lines.append("  Emergency access to another child is possible with a stated reason; it is time-limited "
                         "and reviewed by an information governance officer.")
        lines.append(f"  Lawful basis: {pu.lawful_basis.article_6}.")
        if pu.lawful_basis.article_9:
            lines.append(f"  Ethnicity, health and disability (special category): {pu.lawful_basis.article_9}.")
        if pu.lawful_basis.gateway:
            lines.append(f"  Statutory gateway: {pu.lawful_basis.gateway}.")
    others = [p for p in pol.purposes if p not in r.grants]
    if others:
        lines.append("")
        lines.append(f"They cannot act for: {', '.join(others)}. Every request, allowed or refused, is recorded.")
    return "\n".join(lines)


def _closed_values(ctx: typer.Context) -> dict[str, list]:
    """census_years and teams resolved from the warehouse, when there is one (not personal data)."""
    try:
        from dashboard.warehouse.db import open_readonly

        settings = _settings(ctx)
        if not Path(settings.warehouse).exists():
            return {}
        con = open_readonly(settings.warehouse)
    except Exception:  # noqa: BLE001 - the catalogue still lists queries without a warehouse
        return {}
    try:
        years = [r[0] for r in con.execute(
            "SELECT census_year AS y FROM cin_episode UNION SELECT return_year FROM episode ORDER BY y").fetchall()]
        teams = [r[0] for r in con.execute("SELECT team_id FROM team ORDER BY team_id").fetchall()]
        return {"census_years": years, "teams": teams}
    except Exception:  # noqa: BLE001
        return {}
    finally:
        con.close()
