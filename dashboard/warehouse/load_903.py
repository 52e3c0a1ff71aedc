"""SSDA903 (children looked after): CSV tables or one XML file per return, merged across years.

Reading gives text frames per table (_file, _row, _year, _order bookkeeping columns); `finish` cleans them,
applies the record rules and stitches episodes into periods of care. Rule ids: docs/cleaning-rules.md.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import polars as pl

from dashboard.warehouse.dq import DQ, Col, clean_columns, parse_date, report_end_before_start
from dashboard.warehouse.merge import latest_wins, orphans
from dashboard.warehouse.safexml import ParsedXML, local
from dashboard.warehouse.sources import TABLES_903

SPECS: dict[str, list[Col]] = {
    "header": [Col("CHILD", "child_id", "id", required=True), Col("SEX", "sex", "sex"), Col("DOB", "dob", "date"),
               Col("ETHNIC", "ethnicity", "code", "ethnicity"), Col("UPN", "upn", "text"),
               Col("MOTHER", "mother", "bool"), Col("MC_DOB", "mc_dob", "date")],
    "episodes": [Col("CHILD", "child_id", "id", required=True), Col("DECOM", "decom", "date", required=True),
                 Col("RNE", "rne", "code", "rne"), Col("LS", "ls", "code", "legal_status"),
                 Col("CIN", "cin", "code", "cin_category"), Col("PLACE", "place", "code", "placement"),
                 Col("PLACE_PROVIDER", "place_provider", "code", "place_provider"), Col("DEC", "dec", "date"),
                 Col("REC", "rec", "code", "rec"),
                 Col("REASON_PLACE_CHANGE", "reason_place_change", "code", "reason_place_change"),
                 Col("HOME_POST", "home_post", "text"), Col("PL_POST", "pl_post", "text"), Col("URN", "urn", "text")],
    "reviews": [Col("CHILD", "child_id", "id", required=True), Col("REVIEW", "review_date", "date", required=True),
                Col("REVIEW_CODE", "review_code", "code", "review_code")],
    "uasc": [Col("CHILD", "child_id", "id", required=True), Col("SEX", "sex", "sex"), Col("DOB", "dob", "date"),
             Col("DUC", "uasc_duc", "date")],
    "oc2": [Col("CHILD", "child_id", "id", required=True), Col("SDQ_SCORE", "sdq_score", "int"),
            Col("SDQ_REASON", "sdq_reason", "code", "sdq_reason"), Col("CONVICTED", "convicted", "bool"),
            Col("HEALTH_CHECK", "health_check", "bool"), Col("IMMUNISATIONS", "immunisations", "bool"),
            Col("TEETH_CHECK", "teeth_check", "bool"), Col("HEALTH_ASSESSMENT", "health_assessment", "bool"),
            Col("SUBSTANCE_MISUSE", "substance_misuse", "bool"),
            Col("INTERVENTION_RECEIVED", "intervention_received", "bool"),
            Col("INTERVENTION_OFFERED", "intervention_offered", "bool")],
    "oc3": [Col("CHILD", "child_id", "id", required=True), Col("IN_TOUCH", "in_touch", "code", "in_touch"),
            Col("ACTIV", "activity", "code"), Col("ACCOM", "accommodation", "code")],
    "ad1": [Col("CHILD", "child_id", "id", required=True), Col("DATE_INT", "date_int", "date"),
            Col("DATE_MATCH", "date_match", "date"), Col("FOSTER_CARE", "foster_care", "bool"),
            Col("NB_ADOPTR", "nb_adoptr", "int"), Col("SEX_ADOPTR", "sex_adoptr", "code", "sex_adoptr"),
            Col("LS_ADOPTR", "ls_adoptr", "code", "ls_adoptr")],
    "placed_adoption": [Col("CHILD", "child_id", "id", required=True), Col("DATE_PLACED", "date_placed", "date"),
                        Col("DATE_PLACED_CEASED", "date_placed_ceased", "date"),
                        Col("REASON_PLACED_CEASED", "reason_placed_ceased", "code", "reason_placed_ceased")],
    "prev_perm": [Col("CHILD", "child_id", "id", required=True), Col("PREV_PERM", "prev_perm", "code", "prev_perm"),
                  Col("LA_PERM", "la_perm", "text"), Col("DATE_PERM", "date_perm", "partial_date")],
    "missing": [Col("CHILD", "child_id", "id", required=True),
                Col("MISSING", "missing_type", "code", "missing_type", required=True),
                Col("MIS_START", "start_date", "date", required=True), Col("MIS_END", "end_date", "date")],
    "sw_episodes": [Col("CHILD", "child_id", "id", required=True), Col("SW_ID", "sw_id", "id", required=True),
                    Col("SW_DECOM", "start_date", "date", required=True), Col("SW_DEC", "end_date", "date"),
                    Col("SW_REASON", "reason", "code", "sw_reason")],
}

#: dates that say when a return's activity happened (never birth dates or future cessation dates)
EVENT_DATES = {"episodes": ["DECOM", "DEC"], "reviews": ["REVIEW"], "missing": ["MIS_START", "MIS_END"],
               "sw_episodes": ["SW_DECOM", "SW_DEC"], "ad1": ["DATE_INT", "DATE_MATCH"],
               "placed_adoption": ["DATE_PLACED", "DATE_PLACED_CEASED"]}


def census_year_of(d: date) -> int:
    """The year ending 31 March that holds d."""
    return d.year if d.month <= 3 else d.year + 1


def latest_date(table: str, df: pl.DataFrame, any_date: bool = False) -> date | None:
    """The latest activity date in one raw table; with any_date, the latest date of any kind."""
    cols = [c for c in df.columns if not c.startswith("_")] if any_date else EVENT_DATES.get(table, [])
    cols = [c for c in cols if c in df.columns]
    if not cols or not df.height:
        return None
    return df.select(pl.max_horizontal([parse_date(pl.col(c).str.strip_chars(), ("%d/%m/%Y",)).max()
                                        for c in cols])).item()


def latest_event_year(frames: dict[str, list[pl.DataFrame]], any_date: bool = False) -> int | None:
    """Census year of the latest activity date; with any_date, of the latest date of any kind (a folder
    holding only tables without activity dates, such as header.csv alone)."""
    found = [d for table in frames for df in frames[table] if (d := latest_date(table, df, any_date)) is not None]
    return census_year_of(max(found)) if found else None



class Loader903:
    def __init__(self, dq: DQ) -> None:
        self.dq = dq
        self.frames: dict[str, list[pl.DataFrame]] = defaultdict(list)

    def add_csv(self, table: str, df: pl.DataFrame, order: int, year: int) -> None:
        self.frames[table].append(df.with_columns(pl.lit(order).alias("_order"), pl.lit(year).alias("_year")))

    # ------------------------------------------------------------------ XML
    def read_xml(self, name: str, parsed: ParsedXML, order: int, path_year: int | None) -> tuple[int, int | None]:
        """EXPSSDA903/CHILD/{HEADER, EPISODE*}; returns (records read, return year)."""
        rows: dict[str, list[dict]] = defaultdict(list)
        unknown: dict[str, tuple[int | None, int]] = {}

        def text(e):
            return (e.text or "").strip() if e is not None else ""

        def note(tag, elem):
            first, n = unknown.get(tag, (parsed.line(elem), 0))
            unknown[tag] = (first, n + 1)

        for child in parsed.root:
            if local(child.tag) != "CHILD":
                note(local(child.tag), child)
                continue
            header = next((e for e in child if local(e.tag) == "HEADER"), None)
            hv = {local(e.tag): text(e) for e in header if len(e) == 0} if header is not None else {}
            cid = hv.get("CHILDID", "")
            dob = hv.get("DOB", "")
            line = parsed.line(header if header is not None else child)
            if header is not None:
                rows["header"].append({"CHILD": cid, **{k: hv.get(k, "") for k in TABLES_903["header"][1:]},
                                       "_row": line})
                if hv.get("DUC"):
                    rows["uasc"].append({"CHILD": cid, "SEX": hv.get("SEX", ""), "DOB": dob, "DUC": hv["DUC"],
                                         "_row": line})
                if any(hv.get(k) for k in ("IN_TOUCH", "ACTIV", "ACCOM")):
                    rows["oc3"].append({"CHILD": cid, "DOB": dob, **{k: hv.get(k, "") for k in
                                                                      ("IN_TOUCH", "ACTIV", "ACCOM")}, "_row": line})
                if any(hv.get(k) for k in ("DATE_INT", "DATE_MATCH")):
                    rows["ad1"].append({"CHILD": cid, "DOB": dob, **{k: hv.get(k, "") for k in TABLES_903["ad1"][2:]},
                                        "_row": line})
                known_leaf = set(TABLES_903["header"]) | {"CHILDID", "UASC", "DUC", "IN_TOUCH", "ACTIV", "ACCOM",
                                                          *TABLES_903["ad1"]}
                blocks = {"AREVIEW": "reviews", "PERMANENCE": "prev_perm", "OC2": "oc2", "AD_PLACED": "placed_adoption",
                          "AMISSING": "missing", "SW_EPISODE": "sw_episodes", "ASWEPISODE": "sw_episodes"}
                for e in header:
                    tag = local(e.tag)
                    if tag in blocks:
                        vals = {local(s.tag): text(s) for s in e}
                        rows[blocks[tag]].append({"CHILD": cid, "DOB": dob, **vals, "_row": parsed.line(e)})
                    elif not (len(e) == 0 and tag in known_leaf):
                        note(f"HEADER/{tag}", e)
            for e in child:
                tag = local(e.tag)
                if tag == "EPISODE":
                    vals = {local(s.tag): text(s) for s in e}
                    if "PL" in vals and "PLACE" not in vals:
                        vals["PLACE"] = vals.pop("PL")
                    rows["episodes"].append({"CHILD": cid, **vals, "_row": parsed.line(e)})
                elif tag != "HEADER":
                    note(tag, e)
        for tag, (first, n) in sorted(unknown.items()):
            self.dq.add(name, first, "EXPSSDA903", tag, "unknown_element", tag, "ignored",
                        f"element {tag} is not part of the SSDA903 return ({n} found); ignored")
        frames = {}
        for table, recs in rows.items():
            cols = TABLES_903[table]
            frames[table] = pl.DataFrame(
                {**{c: pl.Series(c, [r.get(c, "") for r in recs], dtype=pl.Utf8) for c in cols},
                 "_row": pl.Series("_row", [r["_row"] for r in recs], dtype=pl.Int64)})
        year = path_year or latest_event_year({t: [df] for t, df in frames.items()})
        if path_year is None:
            self.dq.add(name, None, "EXPSSDA903", None, "return_year_inferred", year, "kept",
                        f"return year {year} inferred from the latest activity date in the file")
        for table, df in frames.items():
            self.frames[table].append(df.with_columns(pl.lit(name).alias("_file"), pl.lit(order).alias("_order"),
                                                      pl.lit(year).alias("_year")))
        return sum(len(r) for r in rows.values()), year

    # ------------------------------------------------------------------ cleaning and merging
    def _clean(self, table: str) -> pl.DataFrame:
        specs = SPECS[table]
        parts = self.frames.get(table, [])
        if parts:  # one pass over every file's rows (the rules are row by row): fewer, larger Polars calls
            return clean_columns(pl.concat(parts, how="diagonal_relaxed"), table, specs, self.dq)
        return pl.DataFrame(schema={**{c.dst: pl.Utf8 for c in specs}, "_file": pl.Utf8, "_row": pl.Int64,
                                    "_year": pl.Int32, "_order": pl.Int64})

    def finish(self) -> dict[str, pl.DataFrame]:
        dq = self.dq
        out: dict[str, pl.DataFrame] = {}
        header = latest_wins(self._clean("header"), ["child_id"], "header", dq)
        uasc = latest_wins(self._clean("uasc"), ["child_id"], "uasc", dq)
        known = header["child_id"]

        eps = self._clean("episodes")
        eps = report_end_before_start(eps, "episodes", "decom", "dec", "DECOM", "DEC", dq)
        eps = latest_wins(eps, ["child_id", "decom"], "episodes", dq,
                          compare=["rne", "ls", "place", "dec", "rec"], key_label="CHILD+DECOM")
        orphans(eps, known, "episodes", "child_id", "CHILD", dq, "903 header")
        out["episode"], out["period_of_care"] = stitch_periods(eps, dq)

        rev = latest_wins(self._clean("reviews"), ["child_id", "review_date"], "reviews", dq)
        orphans(rev, known, "reviews", "child_id", "CHILD", dq, "903 header")
        out["cla_review"] = rev.select("child_id", "review_date", "review_code")

        mis = report_end_before_start(self._clean("missing"), "missing", "start_date", "end_date",
                                      "MIS_START", "MIS_END", dq)
        mis = latest_wins(mis, ["child_id", "start_date", "missing_type"], "missing", dq)
        orphans(mis, known, "missing", "child_id", "CHILD", dq, "903 header")
        out["missing_episode"] = mis.select("child_id", "missing_type", "start_date", "end_date")

        sw = report_end_before_start(self._clean("sw_episodes"), "sw_episodes", "start_date", "end_date",
                                     "SW_DECOM", "SW_DEC", dq)
        sw = latest_wins(sw, ["child_id", "start_date", "sw_id"], "sw_episodes", dq)
        orphans(sw, known, "sw_episodes", "child_id", "CHILD", dq, "903 header")
        out["sw_episode"] = sw.select("child_id", "sw_id", "start_date", "end_date", "reason")

        oc2 = latest_wins(self._clean("oc2"), ["child_id", "_year"], "oc2", dq)
        out["oc2"] = oc2.rename({"_year": "return_year"}).select(
            "child_id", "return_year", *[c.dst for c in SPECS["oc2"][1:]])
        oc3 = latest_wins(self._clean("oc3"), ["child_id", "_year"], "oc3", dq)
        out["oc3"] = oc3.rename({"_year": "return_year"}).select(
            "child_id", "return_year", "in_touch", "activity", "accommodation")
        ad1 = latest_wins(self._clean("ad1"), ["child_id", "date_int"], "ad1", dq)
        out["adoption"] = ad1.select([c.dst for c in SPECS["ad1"]])
        pa = report_end_before_start(self._clean("placed_adoption"), "placed_adoption", "date_placed",
                                     "date_placed_ceased", "DATE_PLACED", "DATE_PLACED_CEASED", dq)
        pa = latest_wins(pa, ["child_id", "date_placed"], "placed_adoption", dq)
        out["placed_adoption"] = pa.select([c.dst for c in SPECS["placed_adoption"]])
        pp = latest_wins(self._clean("prev_perm"), ["child_id"], "prev_perm", dq)
        out["previous_permanence"] = pp.select([c.dst for c in SPECS["prev_perm"]])

        # children: the header, with UASC cessation date; children known only from other tables are added
        child = header.select("child_id", "sex", "dob", "ethnicity", "upn", "mother", "mc_dob", "_year").join(
            uasc.select("child_id", pl.col("uasc_duc"), pl.col("sex").alias("_usex"), pl.col("dob").alias("_udob")),
            on="child_id", how="full", coalesce=True)
        child = child.with_columns(pl.coalesce("sex", "_usex").alias("sex"), pl.coalesce("dob", "_udob").alias("dob"))
        others = pl.concat([out[t].select("child_id") for t in ("episode", "cla_review", "missing_episode",
                                                                 "sw_episode", "oc2", "oc3", "adoption",
                                                                 "placed_adoption", "previous_permanence")])
        extra = others.unique().join(child.select("child_id"), on="child_id", how="anti")
        child = pl.concat([child.drop("_usex", "_udob"), extra], how="diagonal_relaxed")
        out["child"] = child.rename({"_year": "year903"}).sort("child_id")
        return out


def stitch_periods(eps: pl.DataFrame, dq: DQ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Order each child's episodes, repair overlaps, then chain X1 successors into periods of care.

    Neighbours come from shifting the whole sorted frame (same child checked), materialised once: window
    functions per rule were the slowest part of a large build."""
    eps = eps.sort(["child_id", "decom"])
    same_next = pl.col("child_id").shift(-1) == pl.col("child_id")
    eps = eps.with_columns(pl.when(same_next).then(pl.col("decom").shift(-1)).alias("_next"))
    nxt = pl.col("_next")
    # rule overlap_open: an open episode (no DEC) followed by a later episode -> ends the day the next starts
    eps = eps.with_columns((pl.col("dec").is_null() & nxt.is_not_null()).alias("_open_next"),
                           (pl.col("dec").is_not_null() & nxt.is_not_null() & (pl.col("dec") > nxt)).alias("_overlap"))
    base = [pl.col("_file").alias("file"), pl.col("_row").alias("row_number"), pl.lit("episodes").alias("record"),
            pl.lit("DEC").alias("field")]
    dq.add_frame(eps.filter("_open_next").select(
        *base, pl.lit("overlap_open").alias("rule"), pl.lit(None, pl.Utf8).alias("value"),
        pl.lit("trimmed").alias("action"),
        pl.format("episode starting {} has no DEC but the child's next episode starts {}; DEC set to {} "
                  "(REC X1 if blank)", pl.col("decom"), nxt, nxt).alias("message")))
    # rule overlap: an episode ending after the next one starts -> trimmed to end when the next starts
    dq.add_frame(eps.filter("_overlap").select(
        *base, pl.lit("overlap").alias("rule"), pl.col("dec").cast(pl.Utf8).alias("value"),
        pl.lit("trimmed").alias("action"),
        pl.format("episode {} to {} overlaps the next episode starting {}; DEC set to {}", pl.col("decom"),
                  pl.col("dec"), nxt, nxt).alias("message")))
    eps = eps.with_columns(
        pl.when(pl.col("_open_next") | pl.col("_overlap")).then(nxt).otherwise(pl.col("dec")).alias("dec"),
        pl.when(pl.col("_open_next") & pl.col("rec").is_null()).then(pl.lit("X1")).otherwise(pl.col("rec")).alias("rec"),
    )
    # rule rec_without_dec: an open episode cannot have a reason for ceasing -> REC set to NULL
    bad_rec = pl.col("dec").is_null() & pl.col("rec").is_not_null()
    dq.add_frame(eps.filter(bad_rec).select(
        *base[:3], pl.lit("REC").alias("field"), pl.lit("rec_without_dec").alias("rule"), pl.col("rec").alias("value"),
        pl.lit("set_null").alias("action"),
        pl.format("episode starting {} has REC {} but no DEC; REC set to blank (episode open)", pl.col("decom"),
                  pl.col("rec")).alias("message")))
    eps = eps.with_columns(pl.when(bad_rec).then(None).otherwise(pl.col("rec")).alias("rec"))
    # rule dec_without_rec: an ended episode with no REC ends its period (reported)
    dq.add_frame(eps.filter(pl.col("dec").is_not_null() & pl.col("rec").is_null()).select(
        *base[:3], pl.lit("REC").alias("field"), pl.lit("dec_without_rec").alias("rule"),
        pl.lit(None, pl.Utf8).alias("value"), pl.lit("kept").alias("action"),
        pl.format("episode starting {} ended {} with no REC; treated as ending the period of care",
                  pl.col("decom"), pl.col("dec")).alias("message")))
    # rule gap_after_x1: REC X1 promises a new episode the same day; if the next starts later, the period ends
    dq.add_frame(eps.filter((pl.col("rec") == "X1") & nxt.is_not_null() & (nxt > pl.col("dec"))).select(
        *base[:3], pl.lit("REC").alias("field"), pl.lit("gap_after_x1").alias("rule"), pl.col("rec").alias("value"),
        pl.lit("kept").alias("action"),
        pl.format("episode ends {} with REC X1 but the next episode starts {}; the period of care ends at the gap",
                  pl.col("dec"), nxt).alias("message")))
    # rule x1_without_successor: REC X1 on the child's last episode; the period ends at its DEC (end_reason X1)
    dq.add_frame(eps.filter((pl.col("rec") == "X1") & nxt.is_null()).select(
        *base[:3], pl.lit("REC").alias("field"), pl.lit("x1_without_successor").alias("rule"),
        pl.col("rec").alias("value"), pl.lit("kept").alias("action"),
        pl.format("episode ends {} with REC X1 but no later episode was returned; the period of care ends there "
                  "with end_reason X1", pl.col("dec")).alias("message")))
    same_prev = pl.col("child_id").shift(1) == pl.col("child_id")
    chained = same_prev & (pl.col("rec").shift(1) == "X1") & (pl.col("dec").shift(1) == pl.col("decom"))
    # sorted by child and start, so a running count of period starts numbers the periods in that order
    eps = eps.with_columns((~chained.fill_null(False)).alias("_new"))
    eps = eps.with_columns(pl.col("_new").cast(pl.Int32).cum_sum().alias("period_id"))
    # rule period_start_not_s: a period of care should open with RNE S (reported, kept)
    dq.add_frame(eps.filter(pl.col("_new") & pl.col("rne").is_not_null() & (pl.col("rne") != "S")).select(
        *base[:3], pl.lit("RNE").alias("field"), pl.lit("period_start_not_s").alias("rule"),
        pl.col("rne").alias("value"), pl.lit("kept").alias("action"),
        pl.format("episode starting {} begins a period of care but has RNE {} (expected S)", pl.col("decom"),
                  pl.col("rne")).alias("message")))
    periods = eps.group_by("period_id", maintain_order=True).agg(
        pl.col("child_id").first(), pl.col("decom").first().alias("start_date"), pl.col("dec").last().alias("end_date"),
        pl.col("rec").last().alias("end_reason"), pl.len().cast(pl.Int32).alias("episodes"),
        pl.col("ls").is_in(["V3", "V4"]).fill_null(False).all().alias("short_breaks_only"),
    )
    eps = eps.with_row_index("episode_id", offset=1).with_columns(
        pl.col("episode_id").cast(pl.Int32), pl.col("_year").alias("return_year"))
    episode = eps.select("episode_id", "child_id", "decom", "rne", "ls", "cin", "place", "place_provider", "dec",
                         "rec", "reason_place_change", "home_post", "pl_post", "urn", "period_id", "return_year")
    return episode, periods
