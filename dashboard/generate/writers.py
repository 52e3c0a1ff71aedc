"""Render the generated frames as the files a council hands over (docs/architecture.md, "Sample data layout").

Each census year Y (ending 31 March Y) gets a SSDA903 CSV set in ``ssda903/<Y>/`` and a CIN census XML file
``cin/CIN_Census_<Y>.xml``; the local case-management extracts go to ``local/``. A return only knows what had
happened by its 31 March: later closures, authorisations and ends are blank, as in a real return.

Faults (``faults=True``) are added to the files only, never to the frames; see FAULTS for kinds and rates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from dashboard.generate.core import LA_CODE

# The 903 tables: file name -> header row (domain.md section 1). SWEpisodes only from the 2024 return.
HEADERS_903: dict[str, list[str]] = {
    "header": ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"],
    "episodes": [
        "CHILD",
        "DECOM",
        "RNE",
        "LS",
        "CIN",
        "PLACE",
        "PLACE_PROVIDER",
        "DEC",
        "REC",
        "REASON_PLACE_CHANGE",
        "HOME_POST",
        "PL_POST",
        "URN",
    ],
    "reviews": ["CHILD", "DOB", "REVIEW", "REVIEW_CODE"],
    "uasc": ["CHILD", "SEX", "DOB", "DUC"],
    "oc2": [
        "CHILD",
        "DOB",
        "SDQ_SCORE",
        "SDQ_REASON",
        "CONVICTED",
        "HEALTH_CHECK",
        "IMMUNISATIONS",
        "TEETH_CHECK",
        "HEALTH_ASSESSMENT",
        "SUBSTANCE_MISUSE",
        "INTERVENTION_RECEIVED",
        "INTERVENTION_OFFERED",
    ],
    "oc3": ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"],
    "ad1": ["CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"],
    "placed_for_adoption": ["CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"],
    "previous_permanence": ["CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"],
    "missing": ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"],
    "sw_episodes": ["CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"],
}
SW_FIRST_YEAR = 2024
SEX_LETTERS_FROM = 2025  # 903 SEX and CIN Sex (M/F) from the 2025 schema; 1/2 before
CIN_PLAN_DATES_FROM = 2022  # CINPlanDates first appear in the 2022 XSD

LOCAL_HEADERS: dict[str, list[str]] = {
    "identifiers": ["child_id", "given_name", "family_name", "address", "postcode", "nhs_number", "upn"],
    "allocations": ["child_id", "team_id", "worker_id", "start_date", "end_date"],
    "objections": ["child_id", "recorded_date", "scope"],
    "school_moves": ["child_id", "move_date", "from_urn", "to_urn", "from_phase", "to_phase"],
    "teams": ["team_id", "team_name", "locality"],
    "population": ["mid_year", "age", "sex", "population"],
}

# fault kind -> (file, share of eligible rows per return; at least one per return when any row is eligible)
FAULTS: dict[str, tuple[str, float, str]] = {
    "missing_date": ("ssda903/<Y>/episodes.csv", 0.005, "DECOM left blank"),
    "end_before_start": ("ssda903/<Y>/episodes.csv", 0.003, "DEC 1-30 days before DECOM (closed episodes)"),
    "overlapping_episodes": (
        "ssda903/<Y>/episodes.csv",
        0.003,
        "an X1 episode's DEC moved 7 days past the next episode's DECOM",
    ),
    "unknown_code": ("ssda903/<Y>/episodes.csv", 0.002, "PLACE set to the unknown code ZZ9"),
    "duplicate_row": ("ssda903/<Y>/episodes.csv", 0.0, "exactly one episode row repeated next to itself"),
    "assessment_end_before_start": (
        "cin/CIN_Census_<Y>.xml",
        0.005,
        "AssessmentAuthorisationDate 1-20 days before AssessmentActualStartDate",
    ),
}
UNKNOWN_PLACE = "ZZ9"


def fault_count(rate: float, eligible: int) -> int:
    """How many rows of a return get a fault of the given rate: round(rate x eligible), at least 1."""
    if eligible == 0:
        return 0
    return min(eligible, max(1, int(round(rate * eligible))))


def _bounds(y: int) -> tuple[dt.date, dt.date]:
    return dt.date(y - 1, 4, 1), dt.date(y, 3, 31)


def _blank_after(col: str, ref: dt.date) -> pl.Expr:
    return pl.when(pl.col(col) > ref).then(None).otherwise(pl.col(col)).alias(col)


def _bool01(*cols: str) -> list[pl.Expr]:
    return [pl.col(c).cast(pl.Int8).cast(pl.Utf8).alias(c) for c in cols]


def _csv(df: pl.DataFrame, path: Path, header: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if df.columns != header:  # an internal contract: the writers must render exactly the statutory header
        raise RuntimeError(f"{path}: columns {df.columns} are not the header {header}")
    df.write_csv(path, date_format="%d/%m/%Y", line_terminator="\n")


# ------------------------------------------------------------------ SSDA903
def return_903(f: dict[str, pl.DataFrame], y: int) -> dict[str, pl.DataFrame]:
    """The 903 tables of the return for year ``y`` as the council would send them (without faults)."""
    lo, ref = _bounds(y)
    ep = f["episode"].filter((pl.col("decom") <= ref) & (pl.col("dec").is_null() | (pl.col("dec") >= lo)))
    open_ = pl.col("dec") > ref
    ep = ep.with_columns(
        pl.when(open_).then(None).otherwise(pl.col("rec")).alias("rec"),
        pl.when(open_).then(None).otherwise(pl.col("reason_place_change")).alias("reason_place_change"),
        _blank_after("dec", ref),
    ).sort("child_id", "decom")
    oc3 = f["oc3"].filter(pl.col("return_year") == y)
    ids = pl.concat([ep["child_id"], oc3["child_id"]]).unique().sort()
    ch = f["child"].filter(pl.col("child_id").is_in(ids.implode())).sort("child_id")
    letters = y >= SEX_LETTERS_FROM
    sex = pl.col("sex") if letters else pl.col("sex").replace_strict({"M": "1", "F": "2", "U": "0"})
    dob = ch.select("child_id", "dob")
    out: dict[str, pl.DataFrame] = {}
    out["header"] = ch.select(
        pl.col("child_id").alias("CHILD"),
        sex.alias("SEX"),
        pl.col("dob").alias("DOB"),
        pl.col("ethnicity").alias("ETHNIC"),
        pl.coalesce("upn", "upn_unknown").alias("UPN"),
        pl.col("mother").cast(pl.Int8).cast(pl.Utf8).alias("MOTHER"),
        pl.col("mc_dob").alias("MC_DOB"),
    )
    out["episodes"] = ep.select(
        pl.col("child_id").alias("CHILD"),
        pl.col("decom").alias("DECOM"),
        *[pl.col(c.lower()).alias(c) for c in HEADERS_903["episodes"][2:]],
    )
    rv = (
        f["cla_review"]
        .filter(pl.col("review_date").is_between(lo, ref) & pl.col("child_id").is_in(ids.implode()))
        .join(dob, on="child_id", maintain_order="left")
    )
    out["reviews"] = rv.select(
        pl.col("child_id").alias("CHILD"),
        pl.col("dob").alias("DOB"),
        pl.col("review_date").alias("REVIEW"),
        pl.col("review_code").alias("REVIEW_CODE"),
    )
    out["uasc"] = ch.filter(
        pl.col("uasc_duc").is_not_null() & pl.col("child_id").is_in(ep["child_id"].implode())
    ).select(
        pl.col("child_id").alias("CHILD"),
        sex.alias("SEX"),
        pl.col("dob").alias("DOB"),
        pl.col("uasc_duc").alias("DUC"),
    )
    oc2 = (
        f["oc2"]
        .filter(pl.col("return_year") == y)
        .join(dob, on="child_id", maintain_order="left")
        .sort("child_id")
    )
    out["oc2"] = oc2.select(
        pl.col("child_id").alias("CHILD"),
        pl.col("dob").alias("DOB"),
        pl.col("sdq_score").alias("SDQ_SCORE"),
        pl.col("sdq_reason").alias("SDQ_REASON"),
        *_bool01(*[c.lower() for c in HEADERS_903["oc2"][4:]]),
    ).rename({c.lower(): c for c in HEADERS_903["oc2"][4:]})
    out["oc3"] = (
        oc3.join(dob, on="child_id", maintain_order="left")
        .sort("child_id")
        .select(
            pl.col("child_id").alias("CHILD"),
            pl.col("dob").alias("DOB"),
            pl.col("in_touch").alias("IN_TOUCH"),
            pl.col("activity").alias("ACTIV"),
            pl.col("accommodation").alias("ACCOM"),
        )
    )
    pa = f["placed_adoption"].filter(pl.col("child_id").is_in(ids.implode()) & (pl.col("date_placed") <= ref))
    ceased_later = pl.col("date_placed_ceased") > ref
    pa = pa.with_columns(
        pl.when(ceased_later)
        .then(None)
        .otherwise(pl.col("reason_placed_ceased"))
        .alias("reason_placed_ceased"),
        _blank_after("date_placed_ceased", ref),
    )
    ad = f["adoption"].filter(
        pl.col("child_id").is_in(pa["child_id"].implode()) & (pl.col("date_match") <= ref)
    )
    out["ad1"] = (
        ad.join(dob, on="child_id", maintain_order="left")
        .sort("child_id")
        .select(
            pl.col("child_id").alias("CHILD"),
            pl.col("dob").alias("DOB"),
            pl.col("date_int").alias("DATE_INT"),
            pl.col("date_match").alias("DATE_MATCH"),
            pl.col("foster_care").cast(pl.Int8).alias("FOSTER_CARE"),
            pl.col("nb_adoptr").alias("NB_ADOPTR"),
            pl.col("sex_adoptr").alias("SEX_ADOPTR"),
            pl.col("ls_adoptr").alias("LS_ADOPTR"),
        )
    )
    out["placed_for_adoption"] = (
        pa.join(dob, on="child_id", maintain_order="left")
        .sort("child_id")
        .select(
            pl.col("child_id").alias("CHILD"),
            pl.col("dob").alias("DOB"),
            pl.col("date_placed").alias("DATE_PLACED"),
            pl.col("date_placed_ceased").alias("DATE_PLACED_CEASED"),
            pl.col("reason_placed_ceased").alias("REASON_PLACED_CEASED"),
        )
    )
    starters = ep.filter((pl.col("rne") == "S") & (pl.col("decom") >= lo) & ~pl.col("ls").is_in(["V3", "V4"]))
    pp = f["previous_permanence"].filter(pl.col("child_id").is_in(starters["child_id"].implode()))
    pp = pp.unique("child_id", keep="last", maintain_order=True)
    out["previous_permanence"] = (
        pp.join(dob, on="child_id", maintain_order="left")
        .sort("child_id")
        .select(
            pl.col("child_id").alias("CHILD"),
            pl.col("dob").alias("DOB"),
            pl.col("prev_perm").alias("PREV_PERM"),
            pl.col("la_perm").alias("LA_PERM"),
            pl.col("date_perm").alias("DATE_PERM"),
        )
    )
    ms = f["missing_episode"].filter(
        pl.col("start_date").is_between(lo, ref) & pl.col("child_id").is_in(ids.implode())
    )
    out["missing"] = (
        ms.with_columns(_blank_after("end_date", ref))
        .join(dob, on="child_id", maintain_order="left")
        .sort("child_id", "start_date")
        .select(
            pl.col("child_id").alias("CHILD"),
            pl.col("dob").alias("DOB"),
            pl.col("missing_type").alias("MISSING"),
            pl.col("start_date").alias("MIS_START"),
            pl.col("end_date").alias("MIS_END"),
        )
    )
    if y >= SW_FIRST_YEAR:
        sw = f["sw_episode"].filter(
            pl.col("child_id").is_in(ep["child_id"].implode())
            & (pl.col("start_date") <= ref)
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= lo))
        )
        later = pl.col("end_date") > ref
        sw = sw.with_columns(
            pl.when(later).then(None).otherwise(pl.col("reason")).alias("reason"),
            _blank_after("end_date", ref),
        )
        out["sw_episodes"] = (
            sw.join(dob, on="child_id", maintain_order="left")
            .sort("child_id", "start_date")
            .select(
                pl.col("child_id").alias("CHILD"),
                pl.col("dob").alias("DOB"),
                pl.col("sw_id").alias("SW_ID"),
                pl.col("start_date").alias("SW_DECOM"),
                pl.col("end_date").alias("SW_DEC"),
                pl.col("reason").alias("SW_REASON"),
            )
        )
    return out


def _episode_faults(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Add the documented faults to one return's episodes table (see FAULTS)."""
    n = df.height
    if n == 0:
        return df
    decom = df["DECOM"].to_list()
    dec = df["DEC"].to_list()
    rec = df["REC"].to_list()
    place = df["PLACE"].to_list()
    child = df["CHILD"].to_list()
    used: set[int] = set()

    def choose(eligible: list[int], rate: float) -> list[int]:
        pool = [i for i in eligible if i not in used]
        k = min(len(pool), fault_count(rate, len(eligible)))
        picked = sorted(int(i) for i in rng.choice(pool, size=k, replace=False)) if k else []
        used.update(picked)
        return picked

    # overlapping: an X1 episode whose successor (same child, next row) exists in this return
    x1 = [i for i in range(n - 1) if rec[i] == "X1" and child[i + 1] == child[i] and dec[i] is not None]
    for i in choose(x1, FAULTS["overlapping_episodes"][1]):
        dec[i] = dec[i] + dt.timedelta(days=7)
        used.add(i + 1)
    closed = [i for i in range(n) if dec[i] is not None]
    for i in choose(closed, FAULTS["end_before_start"][1]):
        dec[i] = decom[i] - dt.timedelta(days=int(rng.integers(1, 31)))
    for i in choose(list(range(n)), FAULTS["missing_date"][1]):
        decom[i] = None
    for i in choose(list(range(n)), FAULTS["unknown_code"][1]):
        place[i] = UNKNOWN_PLACE
    out = df.with_columns(
        pl.Series("DECOM", decom, dtype=pl.Date),
        pl.Series("DEC", dec, dtype=pl.Date),
        pl.Series("PLACE", place, dtype=pl.Utf8),
    )
    pool = [i for i in range(n) if i not in used]
    if pool:
        d = int(rng.choice(pool))
        out = pl.concat([out.slice(0, d + 1), out.slice(d, 1), out.slice(d + 1)])
    return out


def write_903(f: dict[str, pl.DataFrame], out: Path, years: range, faults: bool, seed: int) -> None:
    for y in years:
        tables = return_903(f, y)
        if faults:
            rng = np.random.default_rng([seed, 903, y])
            tables["episodes"] = _episode_faults(tables["episodes"], rng)
        for name, header in HEADERS_903.items():
            if name in tables:
                _csv(tables[name], out / "ssda903" / str(y) / f"{name}.csv", header)


# ------------------------------------------------------------------ CIN census XML
def _tag(name: str, expr: pl.Expr) -> pl.Expr:
    return (
        pl.when(expr.is_not_null())
        .then(pl.concat_str([pl.lit(f"<{name}>"), expr, pl.lit(f"</{name}>")]))
        .otherwise(pl.lit(""))
    )


def _d(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m-%d")


def _join_frag(df: pl.DataFrame, key: str, frag: str) -> pl.DataFrame:
    return df.group_by(key, maintain_order=True).agg(pl.col(frag).str.join(""))


def census_xml(f: dict[str, pl.DataFrame], y: int, faults: bool = False, seed: int = 0) -> str:
    """The CIN census of year ``y`` as XML text valid against CIN_schema_<y>.xsd."""
    lo, ref = _bounds(y)
    eps = f["cin_episode"].filter(
        (pl.col("referral_date") <= ref) & (pl.col("closure_date").is_null() | (pl.col("closure_date") >= lo))
    )
    eps = eps.with_columns(
        pl.when(pl.col("closure_date") > ref)
        .then(None)
        .otherwise(pl.col("closure_reason"))
        .alias("closure_reason"),
        _blank_after("closure_date", ref),
    )
    keys = eps.select("cin_episode_id")
    a = (
        f["assessment"]
        .join(keys, on="cin_episode_id", maintain_order="left")
        .filter(pl.col("start_date") <= ref)
        .with_columns(_blank_after("authorisation_date", ref), _blank_after("internal_review_date", ref))
    )
    if faults and a.height:
        rng = np.random.default_rng([seed, 1, y])
        auth = a["authorisation_date"].to_list()
        start = a["start_date"].to_list()
        pool = [i for i, v in enumerate(auth) if v is not None]
        k = fault_count(FAULTS["assessment_end_before_start"][1], len(pool))
        for i in sorted(int(i) for i in rng.choice(pool, size=k, replace=False)) if k else []:
            auth[i] = start[i] - dt.timedelta(days=int(rng.integers(1, 21)))
        a = a.with_columns(pl.Series("authorisation_date", auth, dtype=pl.Date))
    fac = f["assessment_factor"].join(
        a.filter(pl.col("authorisation_date").is_not_null()).select("assessment_id"),
        on="assessment_id",
        maintain_order="left",
    )
    fac = _join_frag(
        fac.sort("assessment_id", "factor").with_columns(
            _tag("AssessmentFactors", pl.col("factor")).alias("x")
        ),
        "assessment_id",
        "x",
    )
    a = (
        a.sort("cin_episode_id", "assessment_id")
        .join(fac, on="assessment_id", how="left", maintain_order="left")
        .with_columns(
            pl.concat_str(
                [
                    pl.lit("<Assessments>"),
                    _tag("AssessmentActualStartDate", _d("start_date")),
                    _tag("AssessmentInternalReviewDate", _d("internal_review_date")),
                    _tag("AssessmentAuthorisationDate", _d("authorisation_date")),
                    pl.when(pl.col("x").is_not_null())
                    .then(
                        pl.concat_str(
                            [
                                pl.lit("<FactorsIdentifiedAtAssessment>"),
                                pl.col("x"),
                                pl.lit("</FactorsIdentifiedAtAssessment>"),
                            ]
                        )
                    )
                    .otherwise(pl.lit("")),
                    pl.lit("</Assessments>"),
                ]
            ).alias("frag")
        )
    )
    parts = {"a": _join_frag(a, "cin_episode_id", "frag")}
    if y >= CIN_PLAN_DATES_FROM:
        p = (
            f["cin_plan"]
            .join(keys, on="cin_episode_id", maintain_order="left")
            .filter(pl.col("start_date") <= ref)
            .with_columns(_blank_after("end_date", ref))
            .sort("cin_episode_id", "cin_plan_id")
            .with_columns(
                pl.concat_str(
                    [
                        pl.lit("<CINPlanDates>"),
                        _tag("CINPlanStartDate", _d("start_date")),
                        _tag("CINPlanEndDate", _d("end_date")),
                        pl.lit("</CINPlanDates>"),
                    ]
                ).alias("frag")
            )
        )
        parts["p"] = _join_frag(p, "cin_episode_id", "frag")
    s = (
        f["section47"]
        .join(keys, on="cin_episode_id", maintain_order="left")
        .filter(pl.col("start_date") <= ref)
        .with_columns(_blank_after("icpc_date", ref))
        .sort("cin_episode_id", "s47_id")
    )
    icpc = s.group_by("cin_episode_id").agg(pl.col("icpc_date").drop_nulls().first().alias("icpc"))
    s = s.with_columns(
        pl.concat_str(
            [
                pl.lit("<Section47>"),
                _tag("S47ActualStartDate", _d("start_date")),
                _tag("InitialCPCtarget", _d("icpc_target")),
                _tag("DateOfInitialCPC", _d("icpc_date")),
                _tag("ICPCnotRequired", pl.col("icpc_not_required").cast(pl.Int8).cast(pl.Utf8)),
                pl.lit("</Section47>"),
            ]
        ).alias("frag")
    )
    parts["s"] = _join_frag(s, "cin_episode_id", "frag")
    cp = (
        f["cp_plan"]
        .join(keys, on="cin_episode_id", maintain_order="left")
        .filter(pl.col("start_date") <= ref)
        .with_columns(_blank_after("end_date", ref))
    )
    rv = (
        f["cp_review"]
        .join(cp.select("cp_plan_id"), on="cp_plan_id", maintain_order="left")
        .filter(pl.col("review_date") <= ref)
    )
    rv = _join_frag(
        rv.sort("cp_plan_id", "review_date").with_columns(
            _tag("CPPreviewDate", _d("review_date")).alias("x")
        ),
        "cp_plan_id",
        "x",
    )
    cp = (
        cp.sort("cin_episode_id", "cp_plan_id")
        .join(rv, on="cp_plan_id", how="left", maintain_order="left")
        .with_columns(
            pl.concat_str(
                [
                    pl.lit("<ChildProtectionPlans>"),
                    _tag("CPPstartDate", _d("start_date")),
                    _tag("CPPendDate", _d("end_date")),
                    _tag("InitialCategoryOfAbuse", pl.col("initial_category")),
                    _tag("LatestCategoryOfAbuse", pl.col("latest_category")),
                    _tag("NumberOfPreviousCPP", pl.col("previous_cpp").cast(pl.Utf8)),
                    pl.when(pl.col("x").is_not_null())
                    .then(pl.concat_str([pl.lit("<Reviews>"), pl.col("x"), pl.lit("</Reviews>")]))
                    .otherwise(pl.lit("")),
                    pl.lit("</ChildProtectionPlans>"),
                ]
            ).alias("frag")
        )
    )
    parts["c"] = _join_frag(cp, "cin_episode_id", "frag")
    e = eps.sort("child_id", "referral_date", "cin_episode_id").join(
        icpc, on="cin_episode_id", how="left", maintain_order="left"
    )
    for k, v in parts.items():
        e = e.join(v.rename({"frag": k}), on="cin_episode_id", how="left", maintain_order="left")
    for k in ("a", "p", "s", "c"):
        if k not in e.columns:
            e = e.with_columns(pl.lit(None, dtype=pl.Utf8).alias(k))
    e = e.with_columns(
        pl.concat_str(
            [
                pl.lit("<CINdetails>"),
                _tag("CINreferralDate", _d("referral_date")),
                _tag("ReferralSource", pl.col("referral_source")),
                _tag("PrimaryNeedCode", pl.col("primary_need")),
                _tag("CINclosureDate", _d("closure_date")),
                _tag("ReasonForClosure", pl.col("closure_reason")),
                _tag("DateOfInitialCPC", _d("icpc")),
                pl.col("a").fill_null(""),
                pl.col("p").fill_null(""),
                pl.col("s").fill_null(""),
                _tag("ReferralNFA", pl.col("referral_nfa").cast(pl.Int8).cast(pl.Utf8)),
                pl.col("c").fill_null(""),
                pl.lit("</CINdetails>"),
            ]
        ).alias("frag")
    )
    det = _join_frag(e, "child_id", "frag")
    dis = _join_frag(
        f["disability"]
        .sort("child_id", "disability")
        .with_columns(_tag("Disability", pl.col("disability")).alias("x")),
        "child_id",
        "x",
    )
    ch = (
        f["child"]
        .join(det, on="child_id", maintain_order="left")
        .join(dis, on="child_id", how="left", maintain_order="left")
        .sort("child_id")
    )
    letters = y >= SEX_LETTERS_FROM
    sex = (
        _tag("Sex", pl.col("sex"))
        if letters
        else _tag("GenderCurrent", pl.col("sex").replace_strict({"M": "1", "F": "2", "U": "0"}))
    )
    ch = ch.with_columns(
        pl.concat_str(
            [
                pl.lit("<Child><ChildIdentifiers>"),
                _tag("LAchildID", pl.col("child_id")),
                _tag("UPN", pl.col("upn")),
                _tag("FormerUPN", pl.col("former_upn")),
                _tag("UPNunknown", pl.col("upn_unknown")),
                _tag("PersonBirthDate", _d("dob")),
                _tag("ExpectedPersonBirthDate", _d("expected_dob")),
                sex,
                _tag("PersonDeathDate", _d("death_date")),
                pl.lit("</ChildIdentifiers><ChildCharacteristics>"),
                _tag("Ethnicity", pl.col("ethnicity")),
                pl.when(pl.col("x").is_not_null())
                .then(pl.concat_str([pl.lit("<Disabilities>"), pl.col("x"), pl.lit("</Disabilities>")]))
                .otherwise(pl.lit("")),
                pl.lit("</ChildCharacteristics>\n"),
                pl.col("frag"),
                pl.lit("</Child>\n"),
            ]
        ).alias("xml")
    )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Message>\n<Header>\n<CollectionDetails><Collection>CIN'
        f"</Collection><Year>{y}</Year><ReferenceDate>{ref.isoformat()}</ReferenceDate></CollectionDetails>\n"
        f"<Source><SourceLevel>L</SourceLevel><LEA>{LA_CODE}</LEA><SoftwareCode>csc-dashboard synthetic"
        f"</SoftwareCode><Release>1</Release><SerialNo>001</SerialNo><DateTime>{y}-05-15T09:00:00</DateTime>"
        "</Source>\n</Header>\n<Children>\n"
    )
    return head + "".join(ch["xml"].to_list()) + "</Children>\n</Message>\n"


def write_cin(f: dict[str, pl.DataFrame], out: Path, years: range, faults: bool, seed: int) -> None:
    (out / "cin").mkdir(parents=True, exist_ok=True)
    for y in years:
        (out / "cin" / f"CIN_Census_{y}.xml").write_text(census_xml(f, y, faults, seed), encoding="utf-8")


# ------------------------------------------------------------------ local extracts
def write_local(f: dict[str, pl.DataFrame], out: Path) -> None:
    d = out / "local"
    d.mkdir(parents=True, exist_ok=True)
    frames = {
        "identifiers": f["person_identifier"],
        "allocations": f["allocation"],
        "objections": f["objection"],
        "school_moves": f["school_move"],
        "teams": f["team"],
        "population": f["population"],
    }
    for name, header in LOCAL_HEADERS.items():
        frames[name].select(header).write_csv(d / f"{name}.csv", date_format="%Y-%m-%d", line_terminator="\n")


def write_all(f: dict[str, pl.DataFrame], out: Path, years: range, faults: bool, seed: int) -> None:
    write_903(f, out, years, faults, seed)
    write_cin(f, out, years, faults, seed)
    write_local(f, out)
