"""Local case-management extracts (identifiers, allocations, objections, school moves, teams, population)."""

from __future__ import annotations

from collections import defaultdict

import polars as pl

from dashboard.warehouse.dq import DQ, Col, clean_columns, report_end_before_start
from dashboard.warehouse.merge import latest_wins, orphans

DATES = ("%Y-%m-%d", "%d/%m/%Y")

SPECS = {
    "identifiers": [Col("child_id", "child_id", "id", required=True), Col("given_name", "given_name"),
                    Col("family_name", "family_name"), Col("address", "address"), Col("postcode", "postcode"),
                    Col("nhs_number", "nhs_number"), Col("upn", "upn")],
    "allocations": [Col("child_id", "child_id", "id", required=True), Col("team_id", "team_id", "id", required=True),
                    Col("worker_id", "worker_id", "id", required=True),
                    Col("start_date", "start_date", "date", required=True), Col("end_date", "end_date", "date")],
    "objections": [Col("child_id", "child_id", "id", required=True),
                   Col("recorded_date", "recorded_date", "date", required=True),
                   Col("scope", "scope", "code", "objection_scope", required=True)],
    "school_moves": [Col("child_id", "child_id", "id", required=True), Col("move_date", "move_date", "date", required=True),
                     Col("from_urn", "from_urn"), Col("to_urn", "to_urn"), Col("from_phase", "from_phase", "code", "phase"),
                     Col("to_phase", "to_phase", "code", "phase")],
    "teams": [Col("team_id", "team_id", "id", required=True), Col("team_name", "team_name", required=True),
              Col("locality", "locality", required=True)],
    "population": [Col("mid_year", "mid_year", "int", required=True), Col("age", "age", "int", required=True),
                   Col("sex", "sex", "sex", required=True), Col("population", "population", "int", required=True)],
}


def postcode_district(expr: pl.Expr) -> pl.Expr:
    """Outward code: the part before the space, or all but the last three characters when written without one."""
    pc = expr.str.to_uppercase().str.strip_chars()
    spaced = pc.str.contains(" ")
    compact = pc.str.replace_all(r"\s+", "")
    return (pl.when(pc.is_null()).then(None)
            .when(spaced).then(pc.str.split(" ").list.first())
            .when(compact.str.len_chars() > 3).then(compact.str.slice(0, compact.str.len_chars() - 3))
            .otherwise(None))


class LoaderLocal:
    def __init__(self, dq: DQ) -> None:
        self.dq = dq
        self.frames: dict[str, list[pl.DataFrame]] = defaultdict(list)

    def add_csv(self, table: str, df: pl.DataFrame, order: int) -> None:
        self.frames[table].append(df.with_columns(pl.lit(order).alias("_order"), pl.lit(None, pl.Int32).alias("_year")))

    def _clean(self, table: str) -> pl.DataFrame:
        specs = SPECS[table]
        parts = self.frames.get(table, [])
        if parts:  # one pass over every file's rows (the rules are row by row)
            return clean_columns(pl.concat(parts, how="diagonal_relaxed"), table, specs, self.dq, DATES)
        dtypes = {"date": pl.Date, "int": pl.Int64}
        return pl.DataFrame(schema={**{c.dst: dtypes.get(c.kind, pl.Utf8) for c in specs}, "_file": pl.Utf8,
                                    "_row": pl.Int64, "_year": pl.Int32, "_order": pl.Int64})

    def finish(self) -> dict[str, pl.DataFrame]:
        dq = self.dq
        out: dict[str, pl.DataFrame] = {}
        teams = latest_wins(self._clean("teams"), ["team_id"], "teams", dq)
        out["team"] = teams.select("team_id", "team_name", "locality").sort("team_id")
        ids = latest_wins(self._clean("identifiers"), ["child_id"], "identifiers", dq)
        out["person_identifier"] = ids.with_columns(postcode_district(pl.col("postcode")).alias("postcode_district")).select(
            "child_id", "given_name", "family_name", "address", "postcode", "postcode_district", "nhs_number",
            "upn").sort("child_id")
        alloc = report_end_before_start(self._clean("allocations"), "allocations", "start_date", "end_date",
                                        "start_date", "end_date", dq)
        alloc = latest_wins(alloc, ["child_id", "team_id", "worker_id", "start_date"], "allocations", dq)
        if teams.height:
            orphans(alloc, teams["team_id"], "allocations", "team_id", "team_id", dq, "row in teams.csv")
        out["allocation"] = alloc.select("child_id", "team_id", "worker_id", "start_date", "end_date").sort(
            "child_id", "start_date", "team_id", "worker_id")
        obj = latest_wins(self._clean("objections"), ["child_id", "scope"], "objections", dq)
        out["objection"] = obj.select("child_id", "recorded_date", "scope").sort("child_id", "scope")
        sm = latest_wins(self._clean("school_moves"), ["child_id", "move_date"], "school_moves", dq)
        out["school_move"] = sm.select("child_id", "move_date", "from_urn", "to_urn", "from_phase", "to_phase").sort(
            "child_id", "move_date")
        pop = self._clean("population")
        bad_age = ~pl.col("age").is_between(0, 17) | (pl.col("population") < 0) | ~pl.col("sex").is_in(["M", "F"])
        dq.add_frame(pop.filter(bad_age).select(
            pl.col("_file").alias("file"), pl.col("_row").alias("row_number"), pl.lit("population").alias("record"),
            pl.lit("age").alias("field"), pl.lit("out_of_range").alias("rule"),
            pl.concat_str([pl.col("age").cast(pl.Utf8), pl.col("sex"), pl.col("population").cast(pl.Utf8)],
                          separator="/").alias("value"),
            pl.lit("dropped").alias("action"),
            pl.lit("population rows need age 0-17, sex M or F and a count >= 0; row dropped").alias("message")))
        pop = latest_wins(pop.filter(~bad_age), ["mid_year", "age", "sex"], "population", dq)
        out["population"] = pop.select("mid_year", "age", "sex", "population").sort("mid_year", "age", "sex")
        return out
