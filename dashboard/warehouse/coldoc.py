"""column_doc: each column's meaning from its trailing `--` comment in schema.sql (the contract)."""

from __future__ import annotations

import re

import duckdb

from dashboard.warehouse.db import SCHEMA_SQL

#: meanings for columns schema.sql leaves uncommented (names that explain themselves, said in words)
FALLBACK = {
    "child_id": "the council's child identifier (903 CHILD / CIN LAchildID)",
    "dob": "date of birth", "former_upn": "a previous unique pupil number", "given_name": "given name",
    "family_name": "family name", "postcode": "full postcode of the child's address", "nhs_number": "NHS number",
    "upn": "unique pupil number", "start_date": "start date", "end_date": "end date (NULL while open)",
    "internal_review_date": "AssessmentInternalReviewDate", "authorisation_date": "date the assessment was authorised",
    "icpc_target": "InitialCPCtarget: date the initial child protection conference was due",
    "review_date": "date of the review", "sdq_score": "strengths and difficulties questionnaire score (0-40)",
    "sdq_reason": "reason no SDQ score (code_lookup 'sdq_reason')", "return_year": "year (ending 31 March) of the 903 return",
    "in_touch": "OC3 IN_TOUCH (code_lookup 'in_touch')", "activity": "OC3 ACTIV: main activity",
    "accommodation": "OC3 ACCOM: accommodation type and suitability", "date_match": "AD1 DATE_MATCH: date matched with adopters",
    "foster_care": "AD1 FOSTER_CARE: adopted by foster carers", "nb_adoptr": "AD1 NB_ADOPTR: number of adopters",
    "sex_adoptr": "AD1 SEX_ADOPTR (code_lookup 'sex_adoptr')", "ls_adoptr": "AD1 LS_ADOPTR (code_lookup 'ls_adoptr')",
    "date_placed": "date placed for adoption", "date_placed_ceased": "date the adoption placement ceased",
    "reason_placed_ceased": "reason the adoption placement ceased (code_lookup 'reason_placed_ceased')",
    "prev_perm": "previous permanence option (code_lookup 'prev_perm')", "la_perm": "local authority of the previous permanence order",
    "team_id": "team identifier", "team_name": "team name", "locality": "locality the team serves",
    "code_set": "name of the code list", "code": "code as returned", "label": "meaning of the code",
    "file": "source file path as given to build", "kind": "what the file was recognised as",
    "rows": "records read from the file", "sha256": "SHA-256 of the file's bytes", "key": "build fact name",
    "value": "build fact value", "table_name": "warehouse table", "column_name": "warehouse column",
    "data_type": "DuckDB data type", "meaning": "documented meaning", "name": "bank holiday name",
    "record": "table or XML element the problem is in", "field": "source field", "message": "what the build did and why",
    "to_urn": "URN of the new school", "from_urn": "URN of the previous school", "mid_year": "ONS mid-year estimate year",
    "population": "ONS mid-year population estimate",
    "assessment_id": "surrogate id of the assessment, stable for the same inputs",
    "cin_episode_id": "surrogate id of the CIN episode, stable for the same inputs",
    "cin_plan_id": "surrogate id of the CIN plan, stable for the same inputs",
    "cp_plan_id": "surrogate id of the child protection plan, stable for the same inputs",
    "episode_id": "surrogate id of the 903 episode, stable for the same inputs",
    "period_id": "surrogate id of the period of care, stable for the same inputs",
    "s47_id": "surrogate id of the section 47 enquiry, stable for the same inputs",
    "death_date": "CIN PersonDeathDate", "referral_date": "CINreferralDate: the referral that opened the episode",
    "closure_date": "CINclosureDate (NULL while open)", "latest_category": "LatestCategoryOfAbuse: NEG, PHY, SAB, EMO, MUL",
    "place_provider": "903 PLACE_PROVIDER (code_lookup 'place_provider')",
    "reason_place_change": "903 REASON_PLACE_CHANGE (code_lookup 'reason_place_change')",
    "convicted": "OC2 CONVICTED: convicted or subject to a youth caution in the year",
    "health_check": "OC2 HEALTH_CHECK: health surveillance checks up to date", "immunisations": "OC2 IMMUNISATIONS up to date",
    "teeth_check": "OC2 TEETH_CHECK: dental check in the year", "health_assessment": "OC2 HEALTH_ASSESSMENT up to date",
    "substance_misuse": "OC2 SUBSTANCE_MISUSE: identified as having a substance misuse problem",
    "intervention_received": "OC2 INTERVENTION_RECEIVED for substance misuse",
    "intervention_offered": "OC2 INTERVENTION_OFFERED for substance misuse",
    "episodes": "number of episodes in the period of care", "to_phase": "phase of the new school",
    "icpc_not_required": "ICPCnotRequired: the S47 concluded no initial conference was needed",
}

_COL = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s+[A-Z]+[^-]*?(?:--\s*(.*))?$")


def parsed_comments() -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    table = None
    for line in SCHEMA_SQL.read_text().splitlines():
        m = re.match(r"\s*CREATE TABLE (\w+)", line)
        if m:
            table = m.group(1)
            continue
        if line.strip().startswith(")"):
            table = None
            continue
        if table and not line.strip().startswith("--"):
            c = _COL.match(line)
            if c and c.group(2):
                out[(table, c.group(1))] = c.group(2).strip()
    return out


def column_docs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    comments = parsed_comments()
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
    return [(t, c, d, comments.get((t, c)) or FALLBACK.get(c) or c.replace("_", " ")) for t, c, d in rows]
