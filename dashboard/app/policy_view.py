"""Plain-English views of the loaded policy (the gate's Policy object)."""

from __future__ import annotations

import polars as pl

TIER_TEXT = {
    "identifiable": "named records (names, dates of birth, identifiers)",
    "pseudonymised": "row-level records with names removed, IDs replaced by keyed pseudonyms and dates coarsened",
    "aggregate": "counts, rates and percentages only",
}
SCOPE_TEXT = {
    "own_caseload": "only for the children on their own caseload",
    "own_team": "only for the children allocated to their team",
    "whole_authority": "across the whole authority",
}


def grants(policy) -> list[dict]:
    out = []
    for role in policy.roles.values():
        for purpose_name, g in role.grants.items():
            purpose = policy.purposes[purpose_name]
            rs = policy.rulesets.get(g.ruleset) if g.ruleset else None
            plain = (f"Sees {TIER_TEXT.get(g.tier, g.tier)} {SCOPE_TEXT.get(g.scope, g.scope)}.")
            if rs is not None:
                plain += f" Small numbers: {rs.description}"
            else:
                plain += " No authority-wide counts under this purpose."
            if purpose.exclude_objectors:
                plain += " Children whose families objected to use beyond direct care are left out."
            out.append({
                "role": role.name, "role_label": role.name.replace("_", " ").capitalize(),
                "purpose": purpose_name, "purpose_label": purpose_name.replace("_", " "),
                "tier": g.tier, "scope": g.scope, "ruleset": g.ruleset or "", "plain": plain,
                "lawful_basis": purpose.lawful_basis.text(),
                "objectors": "left out" if purpose.exclude_objectors else "included",
            })
    return out


def table(rows: list[dict]) -> pl.DataFrame:
    cols = ["role", "purpose", "tier", "scope", "ruleset", "objectors", "lawful_basis"]
    return pl.DataFrame({c: [r[c] for r in rows] for c in cols})


def rulesets(policy) -> pl.DataFrame:
    rs = list(policy.rulesets.values())
    return pl.DataFrame({
        "rule-set": [r.name for r in rs], "hidden counts": [f"{r.suppress_min} to {r.suppress_max}" for r in rs],
        "symbol": [r.symbol for r in rs], "rounded to": [r.round_to for r in rs],
        "secondary suppression": ["yes" if r.secondary else "no" for r in rs],
        "filters + breakdowns at once": [getattr(r, "max_dimensions", None) for r in rs],
        "description": [r.description for r in rs]})


def counts(mapping: dict, key: str, value: str) -> pl.DataFrame:
    return pl.DataFrame({key: [str(k) for k in mapping], value: [int(v) for v in mapping.values()]})
