"""The warehouse build on small hand-made returns: every cleaning rule of docs/cleaning-rules.md, merging across
years, periods of care, atomic replacement, deterministic output and the CLI. Expectations are worked by hand
in the comments beside each fixture."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.warehouse import db
from dashboard.warehouse.build import BuildError, build
from tests.helpers_build import (
    EPISODES,
    HEADER,
    cin_child,
    cin_details,
    cin_xml,
    csv,
    dq,
    episode,
    rows,
    write,
)

D = dt.date


@pytest.fixture(scope="module")
def returns(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src")
    # ---- 903, return year 2023 (folder name)
    csv(root / "ssda903/2023/header.csv", HEADER,
        "A,1,01/01/2012,WBRI,,,", "B,2,01/01/2013,BAFR,,,", "C,1,01/01/2010,WBRI,,,", "D,1,01/01/2010,WBRI,,,",
        "E,1,01/01/2010,WBRI,,,", "F,1,01/01/2010,WBRI,,,", "G,1,01/01/2010,WBRI,,,", "H,1,01/01/2010,WBRI,,,",
        "J,2,01/01/2010,WBRI,,,", "K,X,01/01/2010,ZZZZ,,,")
    csv(root / "ssda903/2023/episodes.csv", EPISODES,
        episode("A", "01/05/2022", "S", "C2", "U4", "01/09/2022", "X1"),      # row 1: A period 1, episode 1
        episode("A", "01/09/2022", "P", "C2", "U6"),                          # row 2: open here, closed in 2024
        episode("C", "01/01/2023", "S", "C2", "U4"),                          # row 3: open, but C4 starts later
        episode("C", "01/02/2023", "P", "C2", "U6", "01/03/2023", "E13"),     # row 4
        episode("D", "01/01/2023", "S", "C2", "U4", "15/03/2023", "X1"),      # row 5: ends after next starts
        episode("D", "01/03/2023", "T", "C2", "U6", "20/03/2023", "E13"),     # row 6
        episode("E", "01/01/2023", "S", "C2", "U4", "01/02/2023", "X1"),      # row 7: X1, next starts 10 Feb
        episode("E", "10/02/2023", "P", "C2", "U6", "01/03/2023", "E13"),     # row 8
        episode("F", "01/01/2023", "S", "C2", "U4", "01/02/2023", "X1"),      # row 9: X1, nothing follows
        episode("G", "01/03/2023", "S", "C2", "U4", "01/02/2023", "E13"),     # row 10: ends before it starts
        episode("H", "01/01/2023", "S", "V3", "U4", "02/01/2023", "E13"),     # row 11: duplicate of row 12
        episode("H", "01/01/2023", "S", "V3", "U4", "03/01/2023", "E13"),     # row 12: wins (later row)
        episode("Z", "01/01/2023", "S", "C2", "U4"),                          # row 13: no header: orphan
        episode("J", "31/02/2023", "S", "C2", "U4"),                          # row 14: no such date
        episode("J", "01/03/2023", "L", "C2", "Q9", "05/03/2023", "X1"),     # row 15: unknown PLACE
        "J,05/03/2023,S,C2,N1,U4,PR1,06/03/2023,,,=HYPERLINK(1),,",           # row 16: formula; DEC without REC
        "J,10/03/2023,S,C2",                                                  # row 17: short row
        )
    # ---- 903, return year 2024: A's second episode revised (closed), a new period for A; SEX in the 2025 coding
    csv(root / "ssda903/2024/header.csv", HEADER, "A,M,01/01/2012,WBRI,,,", "B,F,01/01/2013,BAFR,,,")
    csv(root / "ssda903/2024/episodes.csv", EPISODES,
        episode("A", "01/09/2022", "P", "C2", "U5", "10/01/2024", "E13"),     # row 1: revises 2023 row 2 (U6)
        episode("A", "01/03/2024", "S", "V2", "U4"),                          # row 2: A period 2, open
        episode("B", "01/04/2023", "S", "C2", "U4", "", "E13"))              # row 3: REC without DEC
    # ---- CIN census 2023 and 2024 for child K (also in the 903 header with SEX X: unknown code)
    k23 = cin_child("K", cin_details(
        "2022-06-01",
        "<Assessments>\n<AssessmentActualStartDate>2022-06-02</AssessmentActualStartDate>"
        "<AssessmentAuthorisationDate>2022-07-01</AssessmentAuthorisationDate><FactorsIdentifiedAtAssessment>"
        "<AssessmentFactors>1A</AssessmentFactors><AssessmentFactors>2B</AssessmentFactors>"
        "</FactorsIdentifiedAtAssessment></Assessments>\n"), sex="<GenderCurrent>2</GenderCurrent>",
        ethnicity="BAFR", disabilities="AUT")
    l23 = cin_child("L", cin_details("2023-01-05", nfa="true"), sex="<GenderCurrent>1</GenderCurrent>",
                    disabilities="NONE")
    write(root / "cin/CIN_Census_2023.xml", cin_xml("2023-03-31", k23 + l23))
    k24 = cin_child("K", cin_details(
        "2022-06-01",
        "<Assessments>\n<AssessmentActualStartDate>2023-05-01</AssessmentActualStartDate></Assessments>\n"
        "<ChildProtectionPlans>\n<CPPstartDate>2023-05-10</CPPstartDate><InitialCategoryOfAbuse>NEG"
        "</InitialCategoryOfAbuse><LatestCategoryOfAbuse>EMO</LatestCategoryOfAbuse><NumberOfPreviousCPP>0"
        "</NumberOfPreviousCPP><Reviews><CPPreviewDate>2023-08-01</CPPreviewDate></Reviews>"
        "</ChildProtectionPlans>\n<PreProceedingsandFGDM><PPStartDate>2023-09-09</PPStartDate>"
        "</PreProceedingsandFGDM>\n", closure="2023-06-30"), ethnicity="BAFR", disabilities="AUT")
    write(root / "cin/CIN_Census_2024.xml", cin_xml("2024-03-31", k24))
    # ---- local extracts; identifiers in Windows-1252 (the e with diaeresis is byte 0xEB)
    write(root / "local/identifiers.csv",
          "child_id,given_name,family_name,address,postcode,nhs_number,upn\n"
          "A,Zo\xeb,Smith,1 High St,LS6 2AB,9434765919,\nB,Ann,Jones,2 Low St,M11AA,,\n".encode("cp1252"))
    csv(root / "local/teams.csv", "team_id,team_name,locality", "T01,North,North")
    csv(root / "local/allocations.csv", "child_id,team_id,worker_id,start_date,end_date",
        "A,T01,W1,2022-05-01,", "B,T99,W2,01/04/2023,")                            # row 2: team T99 unknown
    csv(root / "local/objections.csv", "child_id,recorded_date,scope", "B,2023-05-01,non_care")
    csv(root / "local/population.csv", "mid_year,age,sex,population", "2022,0,M,1000", "2022,0,F,950",
        "2022,18,F,5")                                                               # row 3: age out of range
    write(root / "README.md", "not a return")
    return root


@pytest.fixture(scope="module")
def wh(returns, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    build([returns], out, progress=False)
    return out


# ------------------------------------------------------------------ 903 merge and periods of care

def test_later_return_supersedes_earlier_for_same_child_and_decom(wh):
    # A's 01/09/2022 episode: open U6 in the 2023 return, closed 10/01/2024 E13 as U5 in the 2024 return ->
    # 2024 wins; filling in DEC/REC is normal progress, the changed PLACE makes it a reported revision
    assert rows(wh, "SELECT decom, dec, rec, return_year FROM episode WHERE child_id = 'A' ORDER BY decom") == [
        (D(2022, 5, 1), D(2022, 9, 1), "X1", 2023),
        (D(2022, 9, 1), D(2024, 1, 10), "E13", 2024),
        (D(2024, 3, 1), None, None, 2024)]
    assert [(r[0], r[1], r[4]) for r in dq(wh, "revised") if r[2] == "episodes"] == [
        ("episodes.csv", 2, "A+2022-09-01")]


def test_x1_chain_is_one_period_and_non_x1_ends_it(wh):
    # A: 01/05/2022 -X1-> 01/09/2022 -E13 10/01/2024- : one period of 2 episodes; 01/03/2024 starts period 2
    assert rows(wh, "SELECT start_date, end_date, end_reason, episodes, short_breaks_only FROM period_of_care "
                    "WHERE child_id = 'A' ORDER BY start_date") == [
        (D(2022, 5, 1), D(2024, 1, 10), "E13", 2, False), (D(2024, 3, 1), None, None, 1, False)]
    # every episode's period_id points at a period of the same child
    assert rows(wh, "SELECT count(*) FROM episode e JOIN period_of_care p USING (period_id) "
                    "WHERE e.child_id <> p.child_id") == [(0,)]


def test_open_episode_followed_by_another_is_closed_the_day_the_next_starts(wh):
    assert rows(wh, "SELECT decom, dec, rec FROM episode WHERE child_id = 'C' ORDER BY decom")[0] == (
        D(2023, 1, 1), D(2023, 2, 1), "X1")
    assert rows(wh, "SELECT count(*) FROM period_of_care WHERE child_id = 'C'") == [(1,)]
    assert [(r[0], r[1], r[3]) for r in dq(wh, "overlap_open")] == [("episodes.csv", 3, "DEC")]


def test_overlapping_episode_is_trimmed_to_the_next_start(wh):
    # D row 5 ends 15/03 but row 6 starts 01/03 -> DEC becomes 01/03, chain X1 continues: one period
    assert rows(wh, "SELECT dec FROM episode WHERE child_id = 'D' ORDER BY decom")[0] == (D(2023, 3, 1),)
    assert rows(wh, "SELECT start_date, end_date FROM period_of_care WHERE child_id = 'D'") == [
        (D(2023, 1, 1), D(2023, 3, 20))]
    assert [(r[1], r[4], r[5]) for r in dq(wh, "overlap")] == [(5, "2023-03-15", "trimmed")]


def test_gap_after_x1_breaks_the_period(wh):
    assert rows(wh, "SELECT start_date, end_date, end_reason FROM period_of_care WHERE child_id = 'E' "
                    "ORDER BY 1") == [(D(2023, 1, 1), D(2023, 2, 1), "X1"), (D(2023, 2, 10), D(2023, 3, 1), "E13")]
    assert [r[1] for r in dq(wh, "gap_after_x1")] == [7]


def test_x1_without_successor_ends_period_with_reason_x1(wh):
    assert rows(wh, "SELECT end_date, end_reason FROM period_of_care WHERE child_id = 'F'") == [(D(2023, 2, 1), "X1")]
    assert [r[1] for r in dq(wh, "x1_without_successor") if r[0] == "episodes.csv"] == [9]


def test_end_before_start_is_dropped_and_reported(wh):
    assert rows(wh, "SELECT count(*) FROM episode WHERE child_id = 'G'") == [(0,)]
    (hit,) = [r for r in dq(wh, "end_before_start") if r[2] == "episodes"]
    assert hit[1] == 10 and hit[3] == "DEC" and hit[5] == "dropped" and "before DECOM" in hit[6]


def test_duplicate_in_one_return_keeps_the_later_row(wh):
    assert rows(wh, "SELECT dec FROM episode WHERE child_id = 'H'") == [(D(2023, 1, 3),)]
    assert [(r[1], r[5]) for r in dq(wh, "duplicate") if r[2] == "episodes"] == [(11, "superseded")]
    # H's only episode is V3: a short-breaks-only period
    assert rows(wh, "SELECT short_breaks_only FROM period_of_care WHERE child_id = 'H'") == [(True,)]


def test_orphan_episode_is_kept_and_child_created(wh):
    assert [(r[1], r[4]) for r in dq(wh, "orphan") if r[2] == "episodes"] == [(13, "Z")]
    assert rows(wh, "SELECT sex, source FROM child WHERE child_id = 'Z'") == [(None, "903")]


def test_bad_date_names_file_row_field(wh):
    (hit,) = dq(wh, "bad_date")
    assert hit[:6] == ("episodes.csv", 14, "episodes", "DECOM", "31/02/2023", "dropped")
    assert "dd/mm/YYYY" in hit[6]


def test_unknown_code_kept_and_reported(wh):
    assert rows(wh, "SELECT place FROM episode WHERE child_id = 'J' AND decom = DATE '2023-03-01'") == [("Q9",)]
    got = {(r[0], r[1], r[3], r[4], r[5]) for r in dq(wh, "unknown_code")}
    assert ("episodes.csv", 15, "PLACE", "Q9", "kept") in got
    assert ("header.csv", 10, "ETHNIC", "ZZZZ", "kept") in got
    assert ("header.csv", 10, "SEX", "X", "set_null") in got


def test_rec_without_dec_and_dec_without_rec(wh):
    # B's 2024 episode has REC E13 but no DEC
    assert [(r[0], r[1], r[4], r[5]) for r in dq(wh, "rec_without_dec")] == [("episodes.csv", 3, "E13", "set_null")]
    assert rows(wh, "SELECT dec, rec FROM episode WHERE child_id = 'B'") == [(None, None)]
    assert [r[1] for r in dq(wh, "dec_without_rec")] == [16]


def test_formula_prefix_is_kept_as_text_and_reported(wh):
    assert rows(wh, "SELECT home_post FROM episode WHERE child_id = 'J' AND decom = DATE '2023-03-05'") == [
        ("=HYPERLINK(1)",)]
    assert [(r[1], r[3], r[5]) for r in dq(wh, "formula_prefix")] == [(16, "HOME_POST", "kept")]


def test_short_row_is_padded_and_reported(wh):
    (hit,) = dq(wh, "short_row")
    assert hit[:4] == ("episodes.csv", 17, "episodes", "CIN") and "4 of 13" in hit[6]
    assert rows(wh, "SELECT place, dec FROM episode WHERE child_id = 'J' AND decom = DATE '2023-03-10'") == [
        (None, None)]


def test_period_start_not_s_reported(wh):
    # J's 01/03/2023 episode (RNE L) starts a period because the 31/02 episode before it was dropped
    assert ("episodes.csv", 15) in {(r[0], r[1]) for r in dq(wh, "period_start_not_s")}


def test_sex_codings_are_one(wh):
    # 903 2023 SEX 1/2, 2024 M/F; CIN GenderCurrent 2 (2023) and Sex F (2024), GenderCurrent 1 for L
    assert rows(wh, "SELECT child_id, sex FROM child WHERE child_id IN ('A','B','K','L') ORDER BY 1") == [
        ("A", "M"), ("B", "F"), ("K", "F"), ("L", "M")]


# ------------------------------------------------------------------ CIN merge

def test_cin_episode_latest_census_wins_and_subrecords_merge(wh):
    assert rows(wh, "SELECT cin_episode_id, referral_date, closure_date, closure_reason, referral_nfa, census_year "
                    "FROM cin_episode WHERE child_id = 'K'") == [(1, D(2022, 6, 1), D(2023, 6, 30), "RC7", False, 2024)]
    # the 2022 assessment is only in the 2023 census, the 2023 one only in 2024: both kept, ids by start date
    assert rows(wh, "SELECT assessment_id, cin_episode_id, start_date, authorisation_date FROM assessment "
                    "ORDER BY 1") == [(1, 1, D(2022, 6, 2), D(2022, 7, 1)), (2, 1, D(2023, 5, 1), None)]
    assert rows(wh, "SELECT assessment_id, factor FROM assessment_factor ORDER BY 1, 2") == [(1, "1A"), (1, "2B")]
    assert rows(wh, "SELECT cp_plan_id, start_date, initial_category, latest_category, previous_cpp FROM cp_plan") == [
        (1, D(2023, 5, 10), "NEG", "EMO", 0)]
    assert rows(wh, "SELECT cp_plan_id, review_date FROM cp_review") == [(1, D(2023, 8, 1))]
    # the 2023 census had no closure date; the 2024 one fills it in: normal progress, not a reported revision
    assert [r for r in dq(wh, "revised") if r[2] == "CINdetails"] == []


def test_referral_nfa_true_false_and_unknown_block(wh):
    assert rows(wh, "SELECT referral_nfa FROM cin_episode WHERE child_id = 'L'") == [(True,)]
    (hit,) = dq(wh, "unknown_element")
    assert hit[0] == "CIN_Census_2024.xml" and hit[3] == "CINdetails/PreProceedingsandFGDM" and hit[5] == "ignored"


def test_child_derived_columns(wh):
    # K: BAFR -> Black, disability AUT; L: NONE is not a disability; K is in the 903 header too
    assert rows(wh, "SELECT child_id, ethnicity_group, is_disabled, source FROM child WHERE child_id IN ('K','L') "
                    "ORDER BY 1") == [("K", "Black", True, "cin+903"), ("L", "White", False, "cin")]


# ------------------------------------------------------------------ local extracts

def test_local_extracts_cp1252_postcode_district_orphan_team(wh):
    assert rows(wh, "SELECT child_id, given_name, postcode_district FROM person_identifier ORDER BY 1") == [
        ("A", "Zoë", "LS6"), ("B", "Ann", "M1")]
    assert [r[0] for r in dq(wh, "encoding_cp1252")] == ["identifiers.csv"]
    assert [(r[0], r[1], r[4]) for r in dq(wh, "orphan") if r[2] == "allocations"] == [("allocations.csv", 2, "T99")]
    assert rows(wh, "SELECT * FROM allocation ORDER BY child_id") == [
        ("A", "T01", "W1", D(2022, 5, 1), None), ("B", "T99", "W2", D(2023, 4, 1), None)]
    assert rows(wh, "SELECT count(*) FROM population") == [(2,)]
    assert [(r[1], r[5]) for r in dq(wh, "out_of_range")] == [(3, "dropped")]


def test_planning_views_leave_out_objectors(wh):
    assert rows(wh, "SELECT count(*) FROM planning.child WHERE child_id = 'B'") == [(0,)]
    assert rows(wh, "SELECT count(*) FROM main.child WHERE child_id = 'B'") == [(1,)]


def test_code_lookup_and_column_doc_complete(wh):
    sets = {r[0] for r in rows(wh, "SELECT DISTINCT code_set FROM code_lookup")}
    assert {"rne", "legal_status", "placement", "rec", "ethnicity", "primary_need", "closure_reason",
            "referral_source", "disability", "category_of_abuse", "assessment_factor", "missing_type", "sex"} <= sets
    assert rows(wh, "SELECT label FROM code_lookup WHERE code_set = 'rec' AND code = 'X1'")[0][0].startswith("Episode")
    # every column of every table has a documented meaning, and the schema comment is the one used
    missing = rows(wh, "SELECT table_name, column_name FROM information_schema.columns c WHERE table_schema = 'main' "
                       "AND NOT EXISTS (SELECT 1 FROM column_doc d WHERE d.table_name = c.table_name "
                       "AND d.column_name = c.column_name AND d.meaning <> '')")
    assert missing == []
    assert rows(wh, "SELECT meaning FROM column_doc WHERE table_name = 'episode' AND column_name = 'decom'") == [
        ("episode start",)]


def test_return_year_inferred_from_latest_activity_date(tmp_path):
    # no <YYYY> folder: latest activity date is DEC 02/04/2021 -> year ending 31 March 2022
    csv(tmp_path / "in/header.csv", HEADER, "A,1,01/01/2012,WBRI,,,")
    csv(tmp_path / "in/episodes.csv", EPISODES, episode("A", "01/05/2020", "S", "C2", "U4", "02/04/2021", "E13"))
    out = tmp_path / "w.duckdb"
    report = build([tmp_path / "in"], out, progress=False)
    assert report.return_years == [2022]
    assert rows(out, "SELECT return_year FROM episode") == [(2022,)]
    assert {r[0] for r in dq(out, "return_year_inferred")} == {"header.csv", "episodes.csv"}


# ------------------------------------------------------------------ atomic, deterministic, CLI

def test_failed_build_leaves_previous_warehouse_untouched(returns, tmp_path):
    out = tmp_path / "warehouse.duckdb"
    build([returns], out, progress=False)
    before = out.read_bytes()
    bad = write(tmp_path / "bad/episodes.xml", "<EXPSSDA903><CHILD><HEADER>")
    with pytest.raises(BuildError) as err:
        build([returns, bad], out, progress=False)
    assert err.value.file == str(bad) and "not well-formed" in err.value.reason
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "warehouse.duckdb"]   # no temp file left


def _content(path: Path) -> dict[str, list]:
    con = db.open_readonly(path)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    finally:
        con.close()


def test_same_inputs_give_identical_warehouse(returns, tmp_path):
    build([returns], tmp_path / "one.duckdb", progress=False)
    build([returns], tmp_path / "two.duckdb", progress=False)
    one, two = _content(tmp_path / "one.duckdb"), _content(tmp_path / "two.duckdb")
    assert one.keys() == two.keys() and len(one) > 25
    for table in one:
        assert one[table] == two[table], table


def test_cli_build_and_summary(returns, tmp_path):
    out = tmp_path / "cli.duckdb"
    res = CliRunner().invoke(app, ["build", "--source", str(returns), "--warehouse", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "rows/s" in res.output and "period_start_not_s" in res.output and "First examples" in res.output
    # `summary` reads the warehouse through the gate: tests/test_summary.py


@pytest.mark.functional
def test_sample_data_builds(sample_warehouse):
    # the bundled synthetic authority loads: every file recognised, CIN and 903 years present, views made
    kinds = {r[0].split(":")[0] for r in rows(sample_warehouse, "SELECT kind FROM source_file")}
    assert kinds == {"903_csv", "cin_xml", "local"}
    assert rows(sample_warehouse, "SELECT count(*) > 0 FROM child")[0][0]
    assert rows(sample_warehouse, "SELECT count(DISTINCT census_year) > 1 FROM cin_episode")[0][0]
    assert rows(sample_warehouse, "SELECT count(*) FROM planning.child")[0][0] <= rows(
        sample_warehouse, "SELECT count(*) FROM main.child")[0][0]


def test_short_breaks_only_needs_every_episode_v3_v4(tmp_path):
    # P: one V3 episode -> True; Q: a V4 episode then a blank-LS episode (unknown, not a short break) -> False
    csv(tmp_path / "ssda903/2024/header.csv", HEADER, "P,1,01/01/2012,WBRI,,,", "Q,2,01/01/2012,WBRI,,,")
    csv(tmp_path / "ssda903/2024/episodes.csv", EPISODES,
        episode("P", "01/05/2023", "S", "V3", "U4", "03/05/2023", "E13"),
        episode("Q", "01/05/2023", "S", "V4", "U4", "03/05/2023", "X1"),
        episode("Q", "03/05/2023", "L", "", "U4"))
    out = tmp_path / "w.duckdb"
    build([tmp_path / "ssda903"], out, progress=False)
    assert rows(out, "SELECT child_id, episodes, short_breaks_only FROM period_of_care ORDER BY 1") == [
        ("P", 1, True), ("Q", 2, False)]


def test_a_warehouse_from_another_version_is_refused_with_what_to_do(tmp_path):
    """A file whose baked-in schema/macros differ from this version's is refused up front (not a catalog error
    in the middle of a page), by every path that opens the warehouse."""
    import duckdb
    from typer.testing import CliRunner

    from dashboard.cli import app
    from dashboard.warehouse import db

    wh = tmp_path / "old.duckdb"
    con = duckdb.connect(str(wh))
    db.create_schema(con)
    db.create_planning_views(con)
    con.execute("UPDATE build_info SET value = 'an-older-version' WHERE key = 'code_version'")
    con.close()
    assert not db.is_current(wh)
    r = CliRunner().invoke(app, ["--warehouse", str(wh), "--audit", str(tmp_path / "a.duckdb"), "query",
                                 "cin_at_31_march", "--as", "service_manager"])
    assert r.exit_code != 0
    assert "built by a different version" in r.output and "csc-dashboard build" in r.output
    assert "Traceback" not in r.output
