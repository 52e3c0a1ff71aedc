"""Write docs/schema.md from schema.sql and column_doc: `python -m dashboard.warehouse.schema_doc > docs/schema.md`."""

from __future__ import annotations

import duckdb

from dashboard.warehouse import db
from dashboard.warehouse.coldoc import column_docs

TABLES = {
    "child": "One row per child known to any return (903 and/or CIN), characteristics merged.",
    "disability": "CIN disabilities of each child (from the latest census carrying the child).",
    "person_identifier": "Direct identifiers from the local case-management extract.",
    "cin_episode": "CIN episodes (child + referral date), the latest census carrying each one winning.",
    "assessment": "Assessments within a CIN episode, keyed by start date.",
    "assessment_factor": "Factors identified at each assessment.",
    "cin_plan": "CIN plans within a CIN episode.",
    "section47": "Section 47 enquiries within a CIN episode.",
    "cp_plan": "Child protection plans within a CIN episode.",
    "cp_review": "Child protection plan reviews.",
    "episode": "903 episodes of care (child + DECOM), the latest return winning; cleaned as docs/cleaning-rules.md.",
    "period_of_care": "Periods of care: episodes chained by REC X1 successors.",
    "cla_review": "903 reviews of looked-after children.",
    "missing_episode": "903 missing / away-from-placement episodes.",
    "sw_episode": "903 social worker episodes (from 2023-24).",
    "oc2": "903 OC2 outcomes per return year.",
    "oc3": "903 OC3 care leavers per return year.",
    "adoption": "903 AD1 adoption decisions and matches.",
    "placed_adoption": "903 placed-for-adoption records.",
    "previous_permanence": "903 previous permanence.",
    "team": "Local teams.",
    "allocation": "Allocated team and worker per child over time (the legitimate relationship).",
    "objection": "Objections to use beyond direct care (the planning schema leaves these children out).",
    "school_move": "School moves (for the Stability Index).",
    "population": "ONS mid-year 0-17 population estimates (for rates per 10,000).",
    "code_lookup": "Every code set with labels (from dashboard/warehouse/codes.yml).",
    "data_quality": "Every problem the build found, with what it did (docs/cleaning-rules.md).",
    "source_file": "Each file loaded: kind, return year, rows, SHA-256.",
    "build_info": "Facts about the build (no time stamps, so identical inputs give identical content).",
    "column_doc": "This documentation, as a table.",
    "bank_holiday": "England and Wales bank holidays for working-day measures.",
}


def render() -> str:
    con = duckdb.connect()
    db.create_schema(con)
    docs = column_docs(con)
    out = ["# Warehouse schema", "",
           "Generated from `dashboard/warehouse/schema.sql` (the contract; each column's meaning is its trailing",
           "comment, copied into the `column_doc` table by `build`) by `python -m dashboard.warehouse.schema_doc`.",
           "Schema `planning` has one view per child table leaving out children whose families objected.", ""]
    table = None
    for t, c, d, m in docs:
        if t != table:
            table = t
            out += [f"## {t}", "", TABLES.get(t, ""), "", "| column | type | meaning |", "|---|---|---|"]
        out.append(f"| {c} | {d} | {m.replace('|', '/')} |")
        if (t, c) == docs[-1][:2]:
            out.append("")
    text = "\n".join(out)
    return text.replace("|---|---|---|\n", "|---|---|---|\n").replace("\n## ", "\n\n## ").replace("\n\n\n", "\n\n") + "\n"


if __name__ == "__main__":
    print(render(), end="")
