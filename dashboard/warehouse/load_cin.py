"""CIN census XML (2017-2026 schemas), merged across census years.

A CIN episode is child + referral date; the latest census carrying it supplies its fields. Assessments, CIN
plans, section 47 enquiries and CP plans are keyed within the episode by their start dates and merged the same
way, so activity reported only in an earlier census is kept. Rule ids: docs/cleaning-rules.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

import numpy as np
import polars as pl

from dashboard.warehouse.dq import DQ, BuildError, Col, clean_columns, parse_date, report_end_before_start
from dashboard.warehouse.merge import latest_wins
from dashboard.warehouse.safexml import ParsedXML, local
from dashboard.warehouse.xmlframe import MAX_DEPTH, Elements, elements

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


#: the raw text columns each record keeps (absent element: null; empty element: "")
RECORD_COLS = {
    "child": CHILD_FIELDS,
    "disability": ["LAchildID", "Disability"],
    "cin_episode": ["LAchildID", *EPISODE_FIELDS],
    **{record: ["LAchildID", *fields] for record, fields in BLOCKS.values()},
    "assessment_factor": ["LAchildID", "AssessmentFactors"],
    "cp_review": ["LAchildID", "CPPreviewDate"],
}
BOOKKEEPING = {"_file": pl.Utf8, "_row": pl.Int64, "_order": pl.Int64, "_year": pl.Int32, "_uid": pl.Int64,
               "_puid": pl.Int64, "_refraw": pl.Utf8}
#: surrogate ids of records are (file order << 32) + an index within the file: unique across files
UID_SHIFT = 32


class LoaderCIN:
    def __init__(self, dq: DQ) -> None:
        self.dq = dq
        self.frames: dict[str, list[pl.DataFrame]] = defaultdict(list)
        self.years: set[int] = set()

    def add_file(self, result: CinFile) -> tuple[int, int]:
        """Keep one file's records (from read_fast or read_tree, cleaned or not); returns (census year, records
        read)."""
        if not result.cleaned:
            result = clean_file(result, self.dq)
        self.years.add(result.year)
        for record, frame in result.frames.items():
            self.frames[record].append(frame)
        for path, first, n in result.unknown:
            self.dq.add(result.name, first, "Message", path, "unknown_element", path.rsplit("/", 1)[-1], "ignored",
                        f"element {path} is not in the CIN census schema this build knows ({n} found); ignored")
        return result.year, result.rows

    # ------------------------------------------------------------------ cleaning and merging
    def _clean(self, record: str) -> pl.DataFrame:
        """Every file's cleaned rows of one record, in file order."""
        parts = self.frames.get(record)
        if not parts:
            return clean_record(record, _empty(record), self.dq)
        return pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]

    def finish(self, emit: Callable[[str, pl.DataFrame], None] | None = None) -> dict[str, pl.DataFrame]:
        """The record rules over every census; each table is also handed to emit(name, frame) the moment it is
        final (a build stores it while the rest is worked out)."""
        out: dict[str, pl.DataFrame] = _Tables(emit)
        self._children(out)
        keys = self._episodes(out)
        # CP plans first: the derived relations at the end of a build (child_census, then case_list) wait for them
        cpp = self._sub("cp_plan", "ChildProtectionPlans", "start_date", "end_date", "CPPendDate", "cp_plan_id", keys)
        out["cp_plan"] = cpp.select("cp_plan_id", "cin_episode_id", "child_id", "start_date", "end_date",
                                    "initial_category", "latest_category", "previous_cpp")
        self._assessments_s47(out, keys)
        plans = self._sub("cin_plan", "CINPlanDates", "start_date", "end_date", "CINPlanEndDate", "cin_plan_id", keys)
        out["cin_plan"] = plans.select("cin_plan_id", "cin_episode_id", "child_id", "start_date", "end_date")
        rev = self._clean("cp_review").join(
            cpp.select(pl.col("_uid").alias("_puid"), "cp_plan_id"), on="_puid", how="inner")
        out["cp_review"] = rev.select("cp_plan_id", "child_id", "review_date").unique(maintain_order=True).sort(
            "cp_plan_id", "review_date")
        order = ("child", "disability", "cin_episode", "assessment", "assessment_factor", "cin_plan", "section47",
                 "cp_plan", "cp_review")
        return {name: out[name] for name in order}

    def _children(self, out: dict[str, pl.DataFrame]) -> None:
        child = latest_wins(self._clean("child"), ["child_id"], "Child", self.dq, key_label="LAchildID")
        out["child"] = child.rename({"_year": "year_cin"}).drop("_file", "_row", "_order")
        dis = self._clean("disability")
        dis = dis.filter(pl.col("_puid").is_in(child["_uid"].implode()))
        out["disability"] = dis.select("child_id", "disability").unique(maintain_order=True).sort(
            "child_id", "disability")

    def _episodes(self, out: dict[str, pl.DataFrame]) -> pl.DataFrame:
        """cin_episode; returns the episodes' keys (child_id, referral_date, cin_episode_id)."""
        dq = self.dq
        eps = self._clean("cin_episode")
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
        return eps.select("child_id", "referral_date", "cin_episode_id")

    def _sub(self, record: str, xml_name: str, start: str, end: str | None, end_src: str | None, id_name: str,
             keys: pl.DataFrame) -> pl.DataFrame:
        """A record within an episode: latest wins per episode and start date, numbered in that order."""
        dq = self.dq
        df = self._clean(record)
        if end:
            df = report_end_before_start(df, xml_name, start, end, SPECS[record][0].src, end_src, dq)
        # sub-records of an episode that was dropped go with it (the episode's own DQ row says why)
        df = df.join(keys, on=["child_id", "referral_date"], how="inner")
        df = latest_wins(df, ["cin_episode_id", start], xml_name, dq, key_label=f"episode+{SPECS[record][0].src}")
        return df.sort("cin_episode_id", start).with_row_index(id_name, offset=1).with_columns(
            pl.col(id_name).cast(pl.Int32))

    def _assessments_s47(self, out: dict[str, pl.DataFrame], keys: pl.DataFrame) -> None:
        ass = self._sub("assessment", "Assessments", "start_date", "authorisation_date",
                        "AssessmentAuthorisationDate", "assessment_id", keys)
        out["assessment"] = ass.select("assessment_id", "cin_episode_id", "child_id", "start_date",
                                       "internal_review_date", "authorisation_date")
        fac = self._clean("assessment_factor").join(
            ass.select(pl.col("_uid").alias("_puid"), "assessment_id"), on="_puid", how="inner")
        out["assessment_factor"] = fac.select("assessment_id", "child_id", "factor").unique(
            maintain_order=True).sort("assessment_id", "factor")
        s47 = self._sub("section47", "Section47", "start_date", None, None, "s47_id", keys)
        out["section47"] = s47.with_columns(pl.col("icpc_not_required").fill_null(False)).select(
            "s47_id", "cin_episode_id", "child_id", "start_date", "icpc_target", "icpc_date", "icpc_not_required")


class _Tables(dict):
    """The finished tables; each one is passed on as it is put in."""

    def __init__(self, emit: Callable[[str, pl.DataFrame], None] | None) -> None:
        super().__init__()
        self.emit = emit

    def __setitem__(self, name: str, frame: pl.DataFrame) -> None:
        super().__setitem__(name, frame)
        if self.emit is not None:
            self.emit(name, frame)


@dataclass
class CinFile:
    """One census file read into raw text frames, before cleaning (see RECORD_COLS, BOOKKEEPING)."""

    name: str
    year: int
    frames: dict[str, pl.DataFrame]
    unknown: list[tuple[str, int | None, int]]   # element path, first line, count
    rows: int
    cleaned: bool = False                         # frames through the column rules (clean_file)


def clean_file(result: CinFile, dq: DQ) -> CinFile:
    """One file's records through the column rules (row by row, so file by file gives the rows and data-quality
    notes cleaning them all together gives; a build does it on the thread that read the file)."""
    if result.cleaned:
        return result
    frames = {record: clean_record(record, frame, dq) for record, frame in result.frames.items()}
    return CinFile(result.name, result.year, frames, result.unknown, result.rows, cleaned=True)


_CID = Col("LAchildID", "child_id", "id", required=True)


def clean_record(record: str, frame: pl.DataFrame, dq: DQ) -> pl.DataFrame:
    """The column rules for one record's raw frame."""
    specs = SPECS[record] if record == "child" else [_CID, *SPECS[record]]
    df = clean_columns(frame, record, specs, dq, ISO)
    if "_refraw" in df.columns and record in {r for r, _f in BLOCKS.values()}:
        df = df.with_columns(parse_date(pl.col("_refraw").str.strip_chars(), ISO).alias("referral_date"))
    return df



def census_year(name: str, ref: str | None) -> int:
    d = pl.Series([ref], dtype=pl.Utf8).str.strip_chars().str.strptime(pl.Date, "%Y-%m-%d", strict=False)[0]
    if d is None:
        raise BuildError(name, f"Header/CollectionDetails/ReferenceDate '{ref}' is missing or not a date: "
                               "the census year cannot be known")
    return d.year if d.month <= 3 else d.year + 1


def _empty(record: str) -> pl.DataFrame:
    return pl.DataFrame(schema={**dict.fromkeys(RECORD_COLS[record], pl.Utf8), **BOOKKEEPING})


def _records_frame(record: str, recs: list[dict]) -> pl.DataFrame:
    data = {c: pl.Series(c, [r.get(c) for r in recs], dtype=pl.Utf8) for c in RECORD_COLS[record]}
    for c, t in BOOKKEEPING.items():
        data[c] = pl.Series(c, [r.get(c) for r in recs], dtype=t)
    return pl.DataFrame(data)


def read_tree(name: str, parsed: ParsedXML, order: int) -> CinFile:
    """The element-by-element reader: any document the XML gate accepts (comments, CDATA, namespaces, other
    encodings). read_fast gives the same result on the documents it takes."""
    root = parsed.root
    header = _find(root, "Header")
    year = census_year(name, _text(_find(_find(header, "CollectionDetails"), "ReferenceDate")))
    children = _find(root, "Children")
    if children is None:
        raise BuildError(name, "no Children element: not a CIN census return")
    unknown: dict[str, list] = {}
    rows: dict[str, list[dict]] = defaultdict(list)
    uid = count((order << UID_SHIFT) + 1)

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
        crow = {"_uid": next(uid), "_row": parsed.line(child), **book}
        for part in (ids, chars):
            if part is None:
                continue
            for e in part:
                tag = local(e.tag)
                if tag in CHILD_FIELDS:
                    crow[tag] = _text(e)
                elif tag == "Disabilities" and part is chars:
                    for dis in e:
                        rows["disability"].append({"LAchildID": cid, "Disability": _text(dis),
                                                   "_puid": crow["_uid"], "_row": parsed.line(dis), **book})
                else:
                    note(f"{local(part.tag)}/{tag}", e)
        if "Sex" not in crow and "GenderCurrent" in crow:
            crow["Sex"] = crow["GenderCurrent"]
        rows["child"].append(crow)
        for det in child:
            tag = local(det.tag)
            if tag in ("ChildIdentifiers", "ChildCharacteristics"):
                continue
            if tag != "CINdetails":
                note(f"Child/{tag}", det)
                continue
            erow = {"LAchildID": cid, "_row": parsed.line(det), **book}
            blocks = []
            for e in det:
                etag = local(e.tag)
                if etag in EPISODE_FIELDS:
                    erow[etag] = _text(e)
                elif etag in BLOCKS:
                    record, fields = BLOCKS[etag]
                    brow = {"LAchildID": cid, "_uid": next(uid), "_row": parsed.line(e), **book}
                    for s in e:
                        stag = local(s.tag)
                        if stag in fields:
                            brow[stag] = _text(s)
                        elif stag == NESTED.get(etag):
                            sub = "assessment_factor" if etag == "Assessments" else "cp_review"
                            col = "AssessmentFactors" if etag == "Assessments" else "CPPreviewDate"
                            for f in s:
                                if local(f.tag) == col:
                                    rows[sub].append({"LAchildID": cid, col: _text(f), "_puid": brow["_uid"],
                                                      "_row": parsed.line(f), **book})
                                else:
                                    note(f"{etag}/{stag}/{local(f.tag)}", f)
                        else:
                            note(f"{etag}/{stag}", s)
                    blocks.append(brow)
                    rows[record].append(brow)
                else:
                    note(f"CINdetails/{etag}", e)
            for brow in blocks:  # the episode's referral date, wherever it stands among its elements
                brow["_refraw"] = erow.get("CINreferralDate")
            rows["cin_episode"].append(erow)
    frames = {record: _records_frame(record, recs) for record, recs in rows.items()}
    return CinFile(name, year, frames, [(p, first, n) for p, (first, n) in sorted(unknown.items())],
                   sum(len(v) for v in rows.values()))


# ------------------------------------------------------------------ the vectorised reader
# Each element gets a state from its parent's state and its own tag, one depth at a time (the tree reader's walk,
# as a table). States: what the element is to the census, and which prefix an unknown child is noted under.
_IGN, _ROOT, _CHILDREN, _CHILD, _IDS, _CHARS, _EP, _DISBOX, _DIS, _NOTE, _FCHILD, _FEP, _FBLOCK = range(13)
_BLOCK = {block: 16 + 4 * k for k, block in enumerate(BLOCKS)}          # the block itself
_BFIELD = {block: code + 1 for block, code in _BLOCK.items()}            # one of its fields
_BOX = {block: _BLOCK[block] + 2 for block in NESTED}                    # its nested list
_LEAF = {block: _BLOCK[block] + 3 for block in NESTED}                   # an item of the nested list
_LEAF_TAG = {"Assessments": ("assessment_factor", "AssessmentFactors"), "ChildProtectionPlans": ("cp_review",
                                                                                                "CPPreviewDate")}
_TAGS = sorted({"Child", "ChildIdentifiers", "ChildCharacteristics", "CINdetails", "Disabilities", *CHILD_FIELDS,
                *EPISODE_FIELDS, *BLOCKS, *(f for _r, fs in BLOCKS.values() for f in fs), *NESTED.values(),
                *(leaf for _r, leaf in _LEAF_TAG.values()), "Header", "CollectionDetails", "ReferenceDate",
                "Children"})
_CODE = {tag: k + 1 for k, tag in enumerate(_TAGS)}                      # 0: any other tag


def _transitions() -> tuple[dict[int, int], dict[int, str]]:
    """(parent state << 8 | tag code) -> state; and the note prefix of each state whose unknown children are
    noted (an unknown element's own children are not looked at)."""
    t: dict[tuple[int, str], int] = {(_CHILDREN, "Child"): _CHILD, (_CHILD, "ChildIdentifiers"): _IDS,
                                     (_CHILD, "ChildCharacteristics"): _CHARS, (_CHILD, "CINdetails"): _EP,
                                     (_CHARS, "Disabilities"): _DISBOX}
    for f in CHILD_FIELDS:
        t[_IDS, f] = t[_CHARS, f] = _FCHILD
    for f in EPISODE_FIELDS:
        t[_EP, f] = _FEP
    for block, (_record, fields) in BLOCKS.items():
        t[_EP, block] = _BLOCK[block]
        for f in fields:
            t[_BLOCK[block], f] = _BFIELD[block]
        if block in NESTED:
            t[_BLOCK[block], NESTED[block]] = _BOX[block]
            t[_BOX[block], _LEAF_TAG[block][1]] = _LEAF[block]
    prefix = {_CHILDREN: "Children/", _CHILD: "Child/", _IDS: "ChildIdentifiers/", _CHARS: "ChildCharacteristics/",
              _EP: "CINdetails/", **{_BLOCK[b]: f"{b}/" for b in BLOCKS},
              **{_BOX[b]: f"{b}/{NESTED[b]}/" for b in NESTED}}
    return {(ps << 8) | _CODE[tag]: st for (ps, tag), st in t.items()}, prefix


_STEP, _NOTED = _transitions()
#: the same as one array: _NEXT[parent state * 256 + tag code] is the element's state. An unknown child is noted
#: under a state that notes them, else ignored; every child of Disabilities is a disability, whatever its tag
#: (as the tree reader takes them)
_NEXT = np.full(256 * 256, _IGN, dtype=np.int32)
for _ps in _NOTED:
    _NEXT[_ps * 256:(_ps + 1) * 256] = _NOTE
_NEXT[list(_STEP)] = list(_STEP.values())
_NEXT[_DISBOX * 256:(_DISBOX + 1) * 256] = _DIS


def _columns(names: list[str]) -> np.ndarray:
    """Tag code -> column number among `names`."""
    lut = np.full(256, -1, dtype=np.int64)
    lut[[_CODE[c] for c in names]] = np.arange(len(names))
    return lut


_COLUMNS = {"child": _columns(CHILD_FIELDS), "cin_episode": _columns(EPISODE_FIELDS),
            **{block: _columns(fields) for block, (_r, fields) in BLOCKS.items()}}


class _Texts:
    """The texts of the elements of one level that `mask` picks; `at[j]`: where element j's text is (the
    position of a null where it has none picked)."""

    def __init__(self, el: Elements, level: int, mask: np.ndarray) -> None:
        pick = np.flatnonzero(mask)
        self.values = pl.lit(el.text(el.levels[level][pick]))
        self.null = len(pick)
        self.at = np.full(len(mask), self.null, dtype=np.int64)
        self.at[pick] = np.arange(len(pick))

    def take(self, where: np.ndarray, name: str) -> pl.Expr:
        return self.values.gather(where).alias(name)


def _winners(n_rec: int, owner: np.ndarray, col: np.ndarray, prio: np.ndarray, n_col: int) -> np.ndarray:
    """[column, record]: the field (its number among `owner`; len(owner) when none) that gives each record's
    value; of a field given twice, the one with the higher `prio`."""
    slot = col * n_rec + owner
    k = np.arange(len(slot))
    out = np.full(n_col * n_rec, len(slot), dtype=np.int64)
    out[slot] = k
    if not (out[slot] == k).all():                          # a field given twice (rare)
        by = np.lexsort((prio, slot))
        s = slot[by]
        last = np.append(s[1:] != s[:-1], True)
        out[:] = len(slot)
        out[s[last]] = by[last]
    return out.reshape(n_col, n_rec)


def read_fast(name: str, data: bytes, order: int) -> CinFile | None:
    """read_tree's result without a Python loop per element: None when the document needs read_tree
    (see xmlframe.elements). Checked against read_tree by tests/test_load_cin.py.

    Everything is worked out level by level on element positions (NumPy); a record's values are gathers from
    one text column per level."""
    el = elements(data, _CODE)
    if el is None:
        return None
    uid0 = order << UID_SHIFT
    lv, up = el.levels, el.up
    code = [el.code[at] for at in lv]

    def first(level: int, tag: str, parent: int | None = None) -> int | None:
        """The first element at `level` with `tag` (inside element `parent` of the level above)."""
        hit = code[level] == _CODE[tag]
        if parent is not None:
            hit &= up[level] == parent
        at = np.flatnonzero(hit)
        return int(at[0]) if len(at) else None

    header = first(2, "Header")
    details = None if header is None else first(3, "CollectionDetails", header)
    ref = None if details is None else first(4, "ReferenceDate", details)
    year = census_year(name, None if ref is None else el.text(lv[4][ref:ref + 1])[0])
    children = first(2, "Children")
    if children is None:
        raise BuildError(name, "no Children element: not a CIN census return")

    # states, one depth at a time; only the first ChildIdentifiers / ChildCharacteristics of a child counts
    st = [np.full(len(at), _IGN, dtype=np.int32) for at in lv]
    st[2][children] = _CHILDREN
    for d in range(3, MAX_DEPTH + 1):
        new = _NEXT[st[d - 1][up[d]] * 256 + code[d]]
        if d == 4:
            for part in (_IDS, _CHARS):
                at = np.flatnonzero(new == part)
                p = up[4][at]                               # in document order, so a child's are together
                new[at[1:][p[1:] == p[:-1]]] = _IGN
        st[d] = new
    s3, s4, s5, s6, s7 = st[3:8]
    up4, up5, up6, up7 = up[4:8]
    t5 = _Texts(el, 5, (s5 == _FCHILD) | (s5 == _FEP))
    t6 = _Texts(el, 6, np.isin(s6, [*_BFIELD.values(), _DIS]))
    t7 = _Texts(el, 7, np.isin(s7, list(_LEAF.values())))
    book = {"_file": pl.lit(name, pl.Utf8), "_order": pl.lit(order, pl.Int64), "_year": pl.lit(year, pl.Int32)}

    def frame(record: str, level: int, at: np.ndarray, values: list[pl.Expr], **ids: np.ndarray | pl.Expr
              ) -> pl.DataFrame:
        """Records of elements `at` of `level` (document order), with their values; _uid / _puid: element
        numbers; absent columns are null. One select: its gathers run together."""
        cols = {e.meta.output_name(): e for e in values}
        cols["_row"] = pl.lit(pl.Series("_row", el.line(lv[level][at])))
        for c, v in ids.items():
            cols[c] = v if isinstance(v, pl.Expr) else pl.lit(pl.Series(c, v + uid0, dtype=pl.Int64))
        return pl.select([cols[c] if c in cols else book.get(c, pl.lit(None, t)).alias(c)
                          for c, t in {**dict.fromkeys(RECORD_COLS[record], pl.Utf8), **BOOKKEEPING}.items()])

    def table(record: str, n_rec: int, owner: np.ndarray, codes: np.ndarray, prio: np.ndarray) -> np.ndarray:
        lut = _COLUMNS[record]
        return _winners(n_rec, owner, lut[codes], prio, int(lut.max()) + 1)

    # a child's LAchildID as its records give it: the first one in its ChildIdentifiers
    cf = np.flatnonzero(s5 == _FCHILD)
    cf_ps = s4[up5[cf]]
    ids = cf[(cf_ps == _IDS) & (code[5][cf] == _CODE["LAchildID"])]
    owner = up4[up5[ids]]
    head = np.ones(len(owner), dtype=bool)
    head[1:] = owner[1:] != owner[:-1]                      # in document order, so a child's are together
    cid_at = np.full(len(lv[3]), t5.null, dtype=np.int64)
    cid_at[owner[head]] = t5.at[ids[head]]

    def cid(level3: np.ndarray) -> pl.Expr:
        return t5.take(cid_at[level3], "LAchildID")

    frames: dict[str, pl.DataFrame] = {}
    rec = np.flatnonzero(s3 == _CHILD)
    rank = np.full(len(lv[3]), -1, dtype=np.int64)
    rank[rec] = np.arange(len(rec))
    # later values win, identifiers before characteristics
    win = table("child", len(rec), rank[up4[up5[cf]]], code[5][cf], cf + ((cf_ps == _CHARS).astype(np.int64) << 40))
    at = np.append(t5.at[cf], t5.null)[win]
    sex, gender = CHILD_FIELDS.index("Sex"), CHILD_FIELDS.index("GenderCurrent")
    at[sex] = np.where(at[sex] != t5.null, at[sex], at[gender])
    frames["child"] = frame("child", 3, rec, [t5.take(a, c) for a, c in zip(at, CHILD_FIELDS, strict=True)],
                            _uid=lv[3][rec])

    eps = np.flatnonzero(s4 == _EP)
    rank4 = np.full(len(lv[4]), -1, dtype=np.int64)
    rank4[eps] = np.arange(len(eps))
    ef = np.flatnonzero(s5 == _FEP)
    ep_at = np.append(t5.at[ef], t5.null)[table("cin_episode", len(eps), rank4[up5[ef]], code[5][ef], ef)]
    frames["cin_episode"] = frame("cin_episode", 4, eps, [cid(up4[eps]), *(
        t5.take(a, c) for a, c in zip(ep_at, EPISODE_FIELDS, strict=True))])
    ref_at = ep_at[EPISODE_FIELDS.index("CINreferralDate")]
    dis = np.flatnonzero(s6 == _DIS)
    child_of = up4[up5[up6[dis]]]
    frames["disability"] = frame("disability", 6, dis, [cid(child_of), t6.take(t6.at[dis], "Disability")],
                                 _puid=lv[3][child_of])
    rank5 = np.full(len(lv[5]), -1, dtype=np.int64)
    for block, (record, names) in BLOCKS.items():
        blk = np.flatnonzero(s5 == _BLOCK[block])
        rank5[blk] = np.arange(len(blk))
        bf = np.flatnonzero(s6 == _BFIELD[block])
        at = np.append(t6.at[bf], t6.null)[table(block, len(blk), rank5[up6[bf]], code[6][bf], bf)]
        episode = up5[blk]
        frames[record] = frame(record, 5, blk, [cid(up4[episode]), *(
            t6.take(a, c) for a, c in zip(at, names, strict=True))], _uid=lv[5][blk],
            _refraw=t5.take(ref_at[rank4[episode]], "_refraw"))
        if block in NESTED:
            sub, leaf = _LEAF_TAG[block]
            lf = np.flatnonzero(s7 == _LEAF[block])
            owner = up6[up7[lf]]
            frames[sub] = frame(sub, 7, lf, [cid(up4[up5[owner]]), t7.take(t7.at[lf], leaf)], _puid=lv[5][owner])
    frames = {r: f for r, f in frames.items() if f.height}
    noted = [(lv[d][j], st[d - 1][up[d][j]]) for d in range(3, MAX_DEPTH + 1)
             if len(j := np.flatnonzero(st[d] == _NOTE))]
    unknown = []
    if noted:
        at = np.concatenate([a for a, _p in noted])
        prefix = pl.DataFrame({"pst": list(_NOTED), "_prefix": list(_NOTED.values())},
                              schema={"pst": pl.Int32, "_prefix": pl.Utf8})
        notes = pl.DataFrame([pl.Series("pst", np.concatenate([p for _a, p in noted]), dtype=pl.Int32),
                              el.names(at).alias("tag"), pl.Series("line", el.line(at))])
        notes = notes.join(prefix, on="pst", how="left").group_by(
            (pl.col("_prefix") + pl.col("tag")).alias("path")).agg(pl.col("line").min(), pl.len()).sort("path")
        unknown = [tuple(r) for r in notes.iter_rows()]
    return CinFile(name, year, frames, unknown, sum(f.height for f in frames.values()))


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
