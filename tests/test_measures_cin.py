"""Children in need census measures on hand-built fixtures. Census year 2025 = 1 April 2024 to 31 March 2025.

Every expected number is worked out by hand in the comments; nothing is copied from the code under test.
Default child (helpers_measures): boy, White, not disabled, born 2015-06-01 (age 9 at 31 March 2025, band 5-9).
"""

from __future__ import annotations

import pytest
from helpers_measures import Warehouse, cell

pytestmark = pytest.mark.spec


# ---------------------------------------------------------------------------------------------- CIN at 31 March
@pytest.fixture(scope="module")
def cin_wh() -> Warehouse:
    w = Warehouse()
    # A: referred 1 May 2024, still open                                   -> in need at 31 March
    w.child("A")
    w.referral("A", "2024-05-01")
    w.allocate("A", "T1", "2024-05-01")
    # B: closed ON 31 March (closure must be LATER than 31 March)          -> not counted
    w.child("B")
    w.referral("B", "2023-01-01", closure="2025-03-31")
    # C: closed 1 April 2025                                               -> counted
    w.child("C")
    w.referral("C", "2024-01-01", closure="2025-04-01")
    # D: referred ON 31 March (starts on 31 March)                        -> counted (awaiting assessment counts)
    w.child("D")
    w.referral("D", "2025-03-31")
    # E: referred 1 April 2025 (next census year)                          -> not counted
    w.child("E")
    w.referral("E", "2025-04-01")
    # F: referral marked NFA and never closed                              -> not counted
    w.child("F")
    w.referral("F", "2024-11-01", nfa=True)
    # G: two open episodes                                                 -> counted once
    w.child("G")
    w.referral("G", "2024-06-01", need="N1")
    w.referral("G", "2024-09-01", need="N5")
    # H: girl, disabled, no date of birth                                  -> counted, age band 'Not known'
    w.child("H", sex="F", dob=None, disabled=True)
    w.referral("H", "2024-07-01")
    # O: girl whose family objected                                        -> counted for "all", not for planning
    w.child("O", sex="F")
    w.referral("O", "2024-08-01")
    w.object("O")
    return w


def test_cin_at_31_march_boundaries_and_nfa(cin_wh):
    df = cin_wh.run("cin_at_31_march")
    # counted: A, C, D, G, H, O = 6 (B closed on 31 March, E referred 1 April, F NFA)
    assert cell(df, "children", "cin_at_31_march") == 6
    # boys A, C, D, G = 4; girls H, O = 2
    assert cell(df, "children", "cin_at_31_march", sex="Male") == 4
    assert cell(df, "children", "cin_at_31_march", sex="Female") == 2
    # H is the only disabled child
    assert cell(df, "children", "cin_at_31_march", disability="Disabled") == 1
    # team at 31 March: A in T1; the other five unallocated
    assert cell(df, "children", "cin_at_31_march", team="T1") == 1
    assert cell(df, "children", "cin_at_31_march", team="Unallocated") == 5


def test_cin_not_known_is_its_own_row_never_the_margin(cin_wh):
    df = cin_wh.run("cin_at_31_march")
    # age bands: H has no DOB -> 'Not known' 1; the other five are 5-9; margin 6 = 5 + 1
    assert cell(df, "children", "cin_at_31_march", age_band="Not known") == 1
    assert cell(df, "children", "cin_at_31_march", age_band="5-9") == 5
    assert cell(df, "children", "cin_at_31_march", age_band="Total") == 6
    for dim in ("age_band", "sex", "ethnicity_group", "disability", "team"):
        assert df[dim].null_count() == 0, f"{dim} has NULLs that could merge with a margin"


def test_cin_planning_population_leaves_out_objectors(cin_wh):
    df = cin_wh.run("cin_at_31_march", population="no_objectors")
    # O is left out: 6 - 1 = 5, girls 2 - 1 = 1
    assert cell(df, "children", "cin_at_31_march") == 5
    assert cell(df, "children", "cin_at_31_march", sex="Female") == 1


def test_cin_primary_need_latest_open_episode(cin_wh):
    df = cin_wh.run("cin_primary_need")
    # G has two open episodes: the later referral (1 Sept 2024, N5) gives the need; every other child has N1
    assert cell(df, "children", "cin_primary_need", primary_need="N5 Family dysfunction") == 1
    assert cell(df, "children", "cin_primary_need", primary_need="N1 Abuse or neglect") == 5
    assert cell(df, "children", "cin_primary_need") == 6


def test_cin_census_year_parameter(cin_wh):
    # census year 2026 (1 April 2025 - 31 March 2026): open at 31 March 2026 are A, D, G, H, O (never closed)
    # and E (referred 1 April 2025); C closed 1 April 2025, B closed earlier, F is NFA -> 6
    df = cin_wh.run("cin_at_31_march", census_year=2026)
    assert cell(df, "children", "cin_at_31_march") == 6


# ---------------------------------------------------------------------------------------------- referrals
@pytest.fixture(scope="module")
def ref_wh() -> Warehouse:
    w = Warehouse()
    for c in "ABCDEF":
        w.child(c)
    # A: previous referral 10 June 2023 (census year 2024), again 1 May 2024: 2023-06-10 >= 2023-05-01
    #    -> re-referral, found by looking back across census years
    w.referral("A", "2023-06-10", closure="2023-09-01", census_year=2024)
    w.referral("A", "2024-05-01")
    # B: previous referral 30 April 2023, again 1 May 2024: 12 months before is 1 May 2023 -> NOT a re-referral
    w.referral("B", "2023-04-30", closure="2023-06-01", census_year=2024)
    w.referral("B", "2024-05-01")
    # C: NFA referral on 1 April 2024 (first day of the year), referred again 1 Sept 2024
    #    -> the first is a referral in the year (NFA, not a re-referral); the second is a re-referral
    #       (an earlier NFA referral counts as a previous referral)
    w.referral("C", "2024-04-01", closure="2024-04-01", nfa=True, source="6")
    w.referral("C", "2024-09-01")
    # D: referred on 31 March 2025 (in the year) and 1 April 2025 (next year)
    w.referral("D", "2025-03-31")
    w.referral("D", "2025-04-01", census_year=2026)
    # E: the same referral twice (duplicate rows, same date) -> one referral, not a re-referral of itself
    w.referral("E", "2024-07-01")
    w.referral("E", "2024-07-01")
    # F: 1 June 2024 and 15 January 2025 -> the second is a re-referral
    w.referral("F", "2024-06-01", closure="2024-08-01")
    w.referral("F", "2025-01-15")
    return w


def test_referrals_in_year_and_nfa(ref_wh):
    df = ref_wh.run("referrals_in_year")
    # in the year: A 1 May, B 1 May, C 1 Apr, C 1 Sep, D 31 Mar, E 1 Jul (once), F 1 Jun, F 15 Jan = 8
    assert cell(df, "referrals", "referrals_in_year") == 8
    # NFA: C's 1 April referral = 1 -> 1/8 = 12.5%
    assert cell(df, "nfa_referrals", "referrals_in_year") == 1
    assert cell(df, "pct_nfa", "referrals_in_year") == 12.5
    # distinct children A-F = 6
    assert cell(df, "children", "referrals_in_year") == 6


def test_re_referrals_look_back_across_census_years(ref_wh):
    df = ref_wh.run("re_referrals")
    # re-referrals: A (look-back into 2023-24), C's second (after an NFA), F's second = 3 of 8 = 37.5%
    assert cell(df, "referrals", "re_referrals") == 8
    assert cell(df, "re_referrals", "re_referrals") == 3
    assert cell(df, "pct_re_referrals", "re_referrals") == 37.5


def test_referrals_by_source(ref_wh):
    df = ref_wh.run("referrals_by_source")
    # C's NFA referral came from the police (6); the other 7 from individuals (1A)
    assert cell(df, "referrals", "referrals_by_source", referral_source="Police") == 1
    assert cell(df, "nfa_referrals", "referrals_by_source", referral_source="Police") == 1
    assert cell(df, "referrals", "referrals_by_source", referral_source="Individual") == 7
    assert cell(df, "referrals", "referrals_by_source") == 8


# ---------------------------------------------------------------------------------------------- assessments
def test_assessment_timeliness_working_days_and_bands():
    w = Warehouse()
    rows = [
        # child, start, authorised: working days (start = day 1), band
        ("a1", "2024-06-03", "2024-06-03"),  # Mon, same day: 1 working day, 'Same day', within 45
        ("a2", "2024-06-03", "2024-06-14"),  # Mon 3 - Fri 14 June: 2 full weeks = 10, '1-10 days'
        # Mon 2 Dec 2024: Dec 2-6 (5), 9-13 (10), 16-20 (15), 23-24 (17), 25-26 Christmas/Boxing Day not
        # counted, 27 (18), 30-31 (20), 1 Jan New Year not counted, Jan 2-3 (22), 6-10 (27), 13-17 (32),
        # 20-24 (37), 27-31 (42), Feb 3 (43), 4 (44), 5 (45), 6 (46).
        ("a3", "2024-12-02", "2025-02-05"),  # 45: within, '41-45 days' (weekdays alone would give 48)
        ("a4", "2024-12-02", "2025-02-06"),  # 46: not within, '46-50 days'
        ("a5", None, "2024-07-01"),          # no start date: 'Not known', in the denominator, not within
        ("a6", "2025-03-31", "2025-03-31"),  # authorised ON 31 March (Mon): in the year, 'Same day'
        ("a7", "2025-03-31", "2025-04-01"),  # authorised 1 April 2025: next year, left out
    ]
    for child, start, auth in rows:
        w.child(child)
        e = w.referral(child, "2024-05-01")
        w.assessment(e, child, start, auth)
    df = w.run("assessment_timeliness")
    # denominator a1-a6 = 6; within 45: a1, a2, a3, a6 = 4 -> 66.7%
    assert cell(df, "assessments", "assessment_timeliness") == 6
    assert cell(df, "within_45", "assessment_timeliness") == 4
    assert cell(df, "pct_within_45", "assessment_timeliness") == 66.7
    band = lambda b: cell(df, "assessments", "assessment_timeliness", duration_band=b, missing=0)  # noqa: E731
    assert band("Same day") == 2
    assert band("1-10 days") == 1
    assert band("41-45 days") == 1
    assert band("46-50 days") == 1
    assert band("Not known") == 1
    # median of the known spans 1, 10, 45, 46, 1 -> sorted 1, 1, 10, 45, 46 -> 10
    assert cell(df, "median_working_days", "assessment_timeliness") == 10


# ---------------------------------------------------------------------------------------------- ICPC
def test_icpc_within_15_working_days_over_easter():
    w = Warehouse()
    # S47 Fri 15 March 2024: Mar 15 (1), 18-22 (6), 25-28 (10), Good Friday 29 Mar and Easter Monday 1 Apr not
    # counted, Apr 2 (11), 3 (12), 4 (13), 5 (14), 8 (15), 9 (16)
    for child, s47, icpc, not_required in [
        ("i1", "2024-03-15", "2024-04-08", False),  # 15 working days: within
        ("i2", "2024-03-15", "2024-04-09", False),  # 16: not within
        ("i3", "2024-05-01", None, True),           # ICPC not required: leaves the denominator
        ("i4", "2024-05-01", "2024-05-03", True),   # not required but dated (bad data): still left out
        ("i5", "2025-03-25", "2025-04-01", False),  # ICPC 1 April 2025: next census year
        ("i6", "2025-03-20", "2025-03-31", False),  # Thu 20 (1), 21 (2), 24-28 (7), Mon 31 (8): within
    ]:
        w.child(child)
        e = w.referral(child, "2024-03-01")
        w.s47(e, child, s47, icpc, not_required)
    df = w.run("icpc_timeliness")
    # ICPCs held in the year: i1, i2, i6 = 3; within 15: i1, i6 = 2 -> 66.7%
    assert cell(df, "icpcs", "icpc_timeliness") == 3
    assert cell(df, "within_15", "icpc_timeliness") == 2
    assert cell(df, "pct_within_15", "icpc_timeliness") == 66.7


# ---------------------------------------------------------------------------------------------- CP plans
@pytest.fixture(scope="module")
def cp_wh() -> Warehouse:
    w = Warehouse()
    plans = [
        # child, start, end, initial, latest, NumberOfPreviousCPP
        ("A", "2024-06-01", None, "NEG", "NEG", 0),           # open at 31 March; starts in year; first plan
        ("B", "2024-01-01", "2025-03-31", "NEG", "NEG", 0),   # ends ON 31 March: not open; ended, 15 months
        ("C", "2025-03-31", None, "EMO", "EMO", 1),           # starts ON 31 March: open; previous CPP returned 1
        ("D", "2023-01-01", "2025-04-01", "NEG", "PHY", 0),   # open at 31 March (ends 1 April), latest PHY
        ("E", "2023-05-01", None, "SAB", "SAB", 0),           # E has two open plans: the later one (MUL)
        ("E", "2024-09-01", None, "MUL", "MUL", 0),           #   gives the category; it is a subsequent plan
        ("F", "2024-04-10", "2024-06-10", "NEG", "NEG", 0),   # F: two plans starting in the year; the first
        ("F", "2024-10-01", None, "NEG", "NEG", 0),           #   ends after 2 months, the second is open
        ("G", "2023-02-01", "2025-02-01", "NEG", "NEG", 0),   # exactly 2 years: '2 years or more'
        ("H", "2024-01-01", "2024-04-01", "NEG", "NEG", 0),   # exactly 3 months: '3 months or less'
        ("I", "2024-01-01", "2024-04-02", "NEG", "NEG", 0),   # 3 months and a day: 'Over 3 to 6 months'
    ]
    for child in sorted({p[0] for p in plans}):
        w.child(child)
    for child, start, end, initial, latest, previous in plans:
        e = w.referral(child, "2023-01-01")
        w.cp_plan(e, child, start, end, initial, latest, previous)
    return w


def test_cp_plans_at_31_march_by_latest_category(cp_wh):
    df = cp_wh.run("cp_plans_at_31_march")
    # open at 31 March: A, C, D, E (once), F (second plan) = 5; B ended on 31 March
    assert cell(df, "children", "cp_plans_at_31_march") == 5
    cat = lambda c: cell(df, "children", "cp_plans_at_31_march", latest_category=c, missing=0)  # noqa: E731
    assert cat("Neglect") == 2          # A, F
    assert cat("Emotional abuse") == 1  # C
    assert cat("Physical abuse") == 1   # D: latest category, not the initial NEG
    assert cat("Multiple") == 1         # E: the later of its two open plans
    assert cat("Sexual abuse") == 0     # E's older plan does not count a second time


def test_cp_plans_starting(cp_wh):
    df = cp_wh.run("cp_plans_starting")
    # started in the year: A (1 Jun), C (31 Mar), E (1 Sep), F (10 Apr), F (1 Oct) = 5 plans, 4 children
    assert cell(df, "plans", "cp_plans_starting") == 5
    assert cell(df, "children", "cp_plans_starting") == 4
    assert cell(df, "plans", "cp_plans_starting", initial_category="Neglect") == 3  # A, F, F


def test_second_or_subsequent_plans(cp_wh):
    df = cp_wh.run("cp_plans_subsequent")
    # children starting a plan: A, C, E, F = 4; with an earlier plan: C (NumberOfPreviousCPP 1),
    # E (a plan from 2023 in the data), F (its April plan precedes its October plan) = 3 -> 75%
    assert cell(df, "children", "cp_plans_subsequent") == 4
    assert cell(df, "subsequent", "cp_plans_subsequent") == 3
    assert cell(df, "pct_subsequent", "cp_plans_subsequent") == 75.0


def test_cp_plans_ending_by_duration(cp_wh):
    df = cp_wh.run("cp_plans_ending")
    # ended in the year: B (15 months), F's first (2 months), G (2 years exactly), H (3 months exactly),
    # I (3 months + 1 day) = 5; D ends 1 April 2025 (next year)
    assert cell(df, "plans", "cp_plans_ending") == 5
    band = lambda b: cell(df, "plans", "cp_plans_ending", duration_band=b, missing=0)  # noqa: E731
    assert band("3 months or less") == 2               # F, H
    assert band("Over 3 to 6 months") == 1             # I
    assert band("Over 6 months to 1 year") == 0
    assert band("Over 1 year to under 2 years") == 1   # B
    assert band("2 years or more") == 1                # G
    # 1 of 5 lasted 2 years or more = 20%
    assert cell(df, "plans_2y_plus", "cp_plans_ending") == 1
    assert cell(df, "pct_2y_plus", "cp_plans_ending") == 20.0


# ---------------------------------------------------------------------------------------------- flows
def test_intervention_flows():
    w = Warehouse()
    for c in ("F1", "F2", "F3", "F4"):
        w.child(c)
    w.referral("F1", "2024-05-01", closure="2024-05-01", nfa=True)   # Referral -> No further action
    e2 = w.referral("F2", "2024-05-01")                               # Referral -> Assessment -> CIN plan
    w.assessment(e2, "F2", "2024-05-01", "2024-05-20")
    w.cin_plan(e2, "F2", "2024-06-01")
    e3 = w.referral("F3", "2024-05-01")                               # Referral -> Assessment -> Section 47
    w.assessment(e3, "F3", "2024-05-01", "2024-05-10")                #   -> CP plan -> Looked after
    w.s47(e3, "F3", "2024-05-05", "2024-05-20")
    w.cp_plan(e3, "F3", "2024-05-20")
    w.episode("F3", "2024-11-01", rne="S")
    w.referral("F4", "2025-03-20")                                    # Referral -> Awaiting or no assessment
    df = w.run("intervention_flows")
    link = lambda s, t: cell(df, "children", "intervention_flows", source=s, target=t, missing=0)  # noqa: E731
    assert link("Referral", "No further action") == 1
    assert link("Referral", "Assessment") == 2
    assert link("Referral", "Awaiting or no assessment") == 1
    assert link("Assessment", "CIN plan") == 1
    assert link("Assessment", "Section 47") == 1
    assert link("Section 47", "CP plan") == 1
    assert link("CP plan", "Looked after") == 1
    # margins are distinct children: 4 left 'Referral'; 4 children in all; 2 entered 'Assessment'
    assert link("Referral", "Total") == 4
    assert link("Total", "Total") == 4
    assert link("Total", "Assessment") == 2
