"""CIN census XML (2017-2026 schemas), merged across census years.

A CIN episode is child + referral date; the latest census carrying it supplies its fields. Assessments, CIN
plans, section 47 enquiries and CP plans are keyed within the episode by their start dates and merged the same
way, so activity reported only in an earlier census is kept. Rule ids: docs/cleaning-rules.md.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import count

import polars as pl

from dashboard.warehouse.dq import DQ, BuildError, Col, clean_columns, parse_date, report_end_before_start
from dashboard.warehouse.merge import latest_wins
from dashboard.warehouse.safexml import ParsedXML, local

ISO = ("%Y-%m-%d",)

CHILD_FIELDS = ["LAchildID", "UPN", "FormerUPN", "UPNunknown", "PersonBirthDate", "ExpectedPersonBirthDate",
                "GenderCurrent", "Sex", "PersonDeathDate", "Ethnicity"]
EPISODE_FIELDS = ["CINreferralDate", "ReferralSource", "PrimaryNeedCode", "CINclosureDate", "ReasonForClosure",
                  "DateOfInitialCPC", "ReferralNFA"]
BLOCKS = {
    "Assessments": ("assessment", ["AssessmentActualStartDate", "AssessmentInternalReviewDate",
                                   "AssessmentAuthorisationDate"]),
    "CINPlanDates": ("cin_plan", ["CINPlanStartDate", "CINPlanEndDate"]),
    "Section47": ("section47", ["S47ActualStartDate", "InitialCPCtarget", "DateOfInitialCPC", "ICPCnotRequired"]),
    "ChildProtectionPlans": ("cp_plan", ["CPPstartDate", "CPPendDate", "InitialCategoryOfAbuse",
                                         "LatestCategoryOfAbuse", "NumberOfPreviousCPP"]),
}
NESTED = {"Assessments": "FactorsIdentifiedAtAssessment", "ChildProtectionPlans": "Reviews"}

SPECS = {
    "child": [Col("LAchildID", "child_id", "id", required=True), Col("UPN", "upn", "text"),
              Col("FormerUPN", "former_upn", "text"), Col("UPNunknown", "upn_unknown", "code", "upn_unknown"),
              Col("PersonBirthDate", "dob", "date"), Col("ExpectedPersonBirthDate", "expected_dob", "date"),
              Col("Sex", "sex", "sex"), Col("PersonDeathDate", "death_date", "date"),
              Col("Ethnicity", "ethnicity", "code", "ethnicity")],
    "disability": [Col("Disability", "disability", "code", "disability", required=True)],
    "cin_episode": [Col("CINreferralDate", "referral_date", "date", required=True),
                    Col("ReferralSource", "referral_source", "code", "referral_source"),
                    Col("PrimaryNeedCode", "primary_need", "code", "primary_need"),
                    Col("CINclosureDate", "closure_date", "date"),
                    Col("ReasonForClosure", "closure_reason", "code", "closure_reason"),
                    Col("ReferralNFA", "referral_nfa", "bool")],
    "assessment": [Col("AssessmentActualStartDate", "start_date", "date", required=True),
                   Col("AssessmentInternalReviewDate", "internal_review_date", "date"),
                   Col("AssessmentAuthorisationDate", "authorisation_date", "date")],
    "assessment_factor": [Col("AssessmentFactors", "factor", "code", "assessment_factor", required=True)],
    "cin_plan": [Col("CINPlanStartDate", "start_date", "date", required=True),
                 Col("CINPlanEndDate", "end_date", "date")],
    "section47": [Col("S47ActualStartDate", "start_date", "date", required=True),
                  Col("InitialCPCtarget", "icpc_target", "date"), Col("DateOfInitialCPC", "icpc_date", "date"),
                  Col("ICPCnotRequired", "icpc_not_required", "bool")],
    "cp_plan": [Col("CPPstartDate", "start_date", "date", required=True), Col("CPPendDate", "end_date", "date"),
                Col("InitialCategoryOfAbuse", "initial_category", "code", "category_of_abuse"),
                Col("LatestCategoryOfAbuse", "latest_category", "code", "category_of_abuse"),
                Col("NumberOfPreviousCPP", "previous_cpp", "int")],
    "cp_review": [Col("CPPreviewDate", "review_date", "date", required=True)],
}


class LoaderCIN:
    def __init__(self, dq: DQ) -> None:
        self.dq = dq
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.uid = count(1)
        self.years: set[int] = set()

    def read_xml(self, name: str, parsed: ParsedXML, order: int) -> tuple[int, int]:
        """Returns (census year, records read)."""
        root = parsed.root
        header = _find(root, "Header")
        ref = _text(_find(_find(header, "CollectionDetails"), "ReferenceDate"))
        d = pl.Series([ref], dtype=pl.Utf8).str.strip_chars().str.strptime(pl.Date, "%Y-%m-%d", strict=False)[0]
        if d is None:
            raise BuildError(name, f"Header/CollectionDetails/ReferenceDate '{ref}' is missing or not a date: "
                                   "the census year cannot be known")
        year = d.year if d.month <= 3 else d.year + 1
        self.years.add(year)
        children = _find(root, "Children")
        if children is None:
            raise BuildError(name, "no Children element: not a CIN census return")
        unknown: dict[str, list] = {}
        before = sum(len(v) for v in self.rows.values())

        def note(path: str, elem) -> None:
            unknown.setdefault(path, [parsed.line(elem), 0])[1] += 1

        book = {"_file": name, "_order": order, "_year": year}
        for child in children:
            if local(child.tag) != "Child":
                note(f"Children/{local(child.tag)}", child)
                continue
            ids = _find(child, "ChildIdentifiers")
            chars = _find(child, "ChildCharacteristics")
            cid = _text(_find(ids, "LAchildID"))
            crow = {"_uid": next(self.uid), "_row": parsed.line(child), **book}
            for part, fields in ((ids, CHILD_FIELDS), (chars, CHILD_FIELDS)):
                if part is None:
                    continue
                for e in part:
                    tag = local(e.tag)
                    if tag in fields:
                        crow[tag] = _text(e)
                    elif tag == "Disabilities" and part is chars:
                        for dis in e:
                            self.rows["disability"].append({"LAchildID": cid, "Disability": _text(dis),
                                                            "_puid": crow["_uid"], "_row": parsed.line(dis), **book})
                    else:
                        note(f"{local(part.tag)}/{tag}", e)
            if "Sex" not in crow and "GenderCurrent" in crow:
                crow["Sex"] = crow["GenderCurrent"]
            self.rows["child"].append(crow)
            for det in child:
                tag = local(det.tag)
                if tag in ("ChildIdentifiers", "ChildCharacteristics"):
                    continue
                if tag != "CINdetails":
                    note(f"Child/{tag}", det)
                    continue
                erow = {"LAchildID": cid, "_row": parsed.line(det), **book}
                for e in det:
                    etag = local(e.tag)
                    if etag in EPISODE_FIELDS:
                        erow[etag] = _text(e)
                    elif etag in BLOCKS:
                        record, fields = BLOCKS[etag]
                        brow = {"LAchildID": cid, "_ref": None, "_uid": next(self.uid), "_row": parsed.line(e), **book}
                        for s in e:
                            stag = local(s.tag)
                            if stag in fields:
                                brow[stag] = _text(s)
                            elif stag == NESTED.get(etag):
                                sub = "assessment_factor" if etag == "Assessments" else "cp_review"
                                col = "AssessmentFactors" if etag == "Assessments" else "CPPreviewDate"
                                for f in s:
                                    if local(f.tag) == col:
                                        self.rows[sub].append({"LAchildID": cid, col: _text(f), "_puid": brow["_uid"],
                                                               "_row": parsed.line(f), **book})
                                    else:
                                        note(f"{etag}/{stag}/{local(f.tag)}", f)
                            else:
                                note(f"{etag}/{stag}", s)
                        brow["_erow"] = erow
                        self.rows[record].append(brow)
                    else:
                        note(f"CINdetails/{etag}", e)
                self.rows["cin_episode"].append(erow)
        for path, (first, n) in sorted(unknown.items()):
            self.dq.add(name, first, "Message", path, "unknown_element", path.rsplit("/", 1)[-1], "ignored",
                        f"element {path} is not in the CIN census schema this build knows ({n} found); ignored")
        return year, sum(len(v) for v in self.rows.values()) - before

    # ------------------------------------------------------------------ cleaning and merging
    def _frame(self, record: str, cols: list[str]) -> pl.DataFrame:
        recs = self.rows.get(record, [])
        data = {c: pl.Series(c, [r.get(c) for r in recs], dtype=pl.Utf8) for c in cols}
        for c, t in (("_file", pl.Utf8), ("_row", pl.Int64), ("_order", pl.Int64), ("_year", pl.Int32),
                     ("_uid", pl.Int64), ("_puid", pl.Int64)):
            data[c] = pl.Series(c, [r.get(c) for r in recs], dtype=t)
        if record in ("assessment", "cin_plan", "section47", "cp_plan"):
            data["_refraw"] = pl.Series("_refraw", [r["_erow"].get("CINreferralDate") for r in recs], dtype=pl.Utf8)
        return pl.DataFrame(data)

    def _clean(self, record: str, extra: list[Col] | None = None) -> pl.DataFrame:
        specs = [*(extra or []), *SPECS[record]]
        df = self._frame(record, list(dict.fromkeys([*(c.src for c in specs), "LAchildID", "GenderCurrent"])))
        return clean_columns(df, record, specs, self.dq, ISO)

    def finish(self) -> dict[str, pl.DataFrame]:
        dq = self.dq
        cid = Col("LAchildID", "child_id", "id", required=True)
        out: dict[str, pl.DataFrame] = {}
        child = latest_wins(self._clean("child"), ["child_id"], "Child", dq, key_label="LAchildID")
        out["child"] = child.rename({"_year": "year_cin"}).drop("_file", "_row", "_order")
        dis = self._clean("disability", [cid])
        dis = dis.filter(pl.col("_puid").is_in(child["_uid"].implode()))
        out["disability"] = dis.select("child_id", "disability").unique(maintain_order=True).sort(
            "child_id", "disability")

        eps = self._clean("cin_episode", [cid])
        eps = report_end_before_start(eps, "CINdetails", "referral_date", "closure_date", "CINreferralDate",
                                      "CINclosureDate", dq)
        eps = latest_wins(eps, ["child_id", "referral_date"], "CINdetails", dq,
                          compare=["referral_source", "primary_need", "closure_date", "closure_reason"],
                          key_label="LAchildID+CINreferralDate")
        eps = eps.sort("child_id", "referral_date").with_row_index("cin_episode_id", offset=1).with_columns(
            pl.col("cin_episode_id").cast(pl.Int32), pl.col("referral_nfa").fill_null(False),
            pl.col("_year").alias("census_year"))
        out["cin_episode"] = eps.select("cin_episode_id", "child_id", "referral_date", "referral_source",
                                        "primary_need", "closure_date", "closure_reason", "referral_nfa",
                                        "census_year")
        keys = eps.select("child_id", "referral_date", "cin_episode_id")

        def sub(record: str, xml_name: str, start: str, end: str | None, end_src: str | None, id_name: str):
            df = self._clean(record, [cid]).with_columns(
                parse_date(pl.col("_refraw").str.strip_chars(), ISO).alias("referral_date"))
            if end:
                df = report_end_before_start(df, xml_name, start, end, SPECS[record][0].src, end_src, dq)
            # sub-records of an episode that was dropped go with it (the episode's own DQ row says why)
            df = df.join(keys, on=["child_id", "referral_date"], how="inner")
            df = latest_wins(df, ["cin_episode_id", start], xml_name, dq, key_label=f"episode+{SPECS[record][0].src}")
            df = df.sort("cin_episode_id", start).with_row_index(id_name, offset=1).with_columns(
                pl.col(id_name).cast(pl.Int32))
            return df

        ass = sub("assessment", "Assessments", "start_date", "authorisation_date", "AssessmentAuthorisationDate",
                  "assessment_id")
        out["assessment"] = ass.select("assessment_id", "cin_episode_id", "child_id", "start_date",
                                       "internal_review_date", "authorisation_date")
        fac = self._clean("assessment_factor", [cid]).join(
            ass.select(pl.col("_uid").alias("_puid"), "assessment_id"), on="_puid", how="inner")
        out["assessment_factor"] = fac.select("assessment_id", "child_id", "factor").unique(
            maintain_order=True).sort("assessment_id", "factor")
        plans = sub("cin_plan", "CINPlanDates", "start_date", "end_date", "CINPlanEndDate", "cin_plan_id")
        out["cin_plan"] = plans.select("cin_plan_id", "cin_episode_id", "child_id", "start_date", "end_date")
        s47 = sub("section47", "Section47", "start_date", None, None, "s47_id")
        out["section47"] = s47.with_columns(pl.col("icpc_not_required").fill_null(False)).select(
            "s47_id", "cin_episode_id", "child_id", "start_date", "icpc_target", "icpc_date", "icpc_not_required")
        cpp = sub("cp_plan", "ChildProtectionPlans", "start_date", "end_date", "CPPendDate", "cp_plan_id")
        out["cp_plan"] = cpp.select("cp_plan_id", "cin_episode_id", "child_id", "start_date", "end_date",
                                    "initial_category", "latest_category", "previous_cpp")
        rev = self._clean("cp_review", [cid]).join(
            cpp.select(pl.col("_uid").alias("_puid"), "cp_plan_id"), on="_puid", how="inner")
        out["cp_review"] = rev.select("cp_plan_id", "child_id", "review_date").unique(maintain_order=True).sort(
            "cp_plan_id", "review_date")
        return out


def _find(elem, tag: str):
    if elem is None:
        return None
    for e in elem:
        if local(e.tag) == tag:
            return e
    return None


def _text(elem) -> str | None:
    if elem is None:
        return None
    return (elem.text or "").strip()
