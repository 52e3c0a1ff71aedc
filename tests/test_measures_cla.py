"""Looked-after (SSDA903) and stability measures on a hand-built fixture. Census year 2025 = 1 April 2024 to
31 March 2025. Default child: boy, White, born 2015-06-01 (9 at 31 March 2025, band 5-9).

Episodes are written [DECOM RNE LS PLACE -> DEC REC]. period_id is left as a dummy 0 on purpose: the measures
stitch periods of care themselves, which is what the X1 tests check.
"""

from __future__ import annotations

import pytest
from helpers_measures import Warehouse, cell

pytestmark = pytest.mark.spec


@pytest.fixture(scope="module")
def cla_wh() -> Warehouse:
    w = Warehouse()
    for c in ("K1", "K2", "K3", "K4", "K5", "K6", "K7", "K9", "K10", "K11", "K12"):
        w.child(c)
    w.child("K8", dob="2008-06-01")  # 16 at 31 March 2025
    # K1 [2024-06-01 S C2 U1 -> open]: looked after at 31 March; started in the year
    w.episode("K1", "2024-06-01", rne="S", ls="C2", place="U1")
    # K2 [2023-01-01 S C2 U1 -> 2025-03-31 E11]: ended ON 31 March -> not looked after then; ceased (adopted)
    w.episode("K2", "2023-01-01", "2025-03-31", rne="S", rec="E11")
    # K3 [2025-03-31 S V2 U1 -> open]: starts ON 31 March -> looked after; started
    w.episode("K3", "2025-03-31", rne="S", ls="V2")
    # K4 [2024-10-01 S V3 U1 -> open]: short breaks -> left out of every measure
    w.episode("K4", "2024-10-01", rne="S", ls="V3")
    # K5 X1 chain: one period of care from 2022-01-01; carer changes (P) on 2024-08-01
    w.episode("K5", "2022-01-01", "2023-06-01", rne="S", ls="C1", place="U1", rec="X1")
    w.episode("K5", "2023-06-01", "2024-08-01", rne="L", ls="C2", place="U1", rec="X1")
    w.episode("K5", "2024-08-01", rne="P", ls="C2", place="U4")
    # K6 long-term stable: same carer since 2021-01-01 (T = new placement, same carer; L = legal status only)
    w.episode("K6", "2021-01-01", "2022-06-01", rne="S", ls="C2", place="U1", rec="X1")
    w.episode("K6", "2022-06-01", "2023-01-01", rne="T", ls="C2", place="U2", rec="X1")
    w.episode("K6", "2023-01-01", rne="L", ls="E1", place="U2")
    # K7 two periods: returned home 2021 (E13 ends the period), back in care from 2023-09-01
    w.episode("K7", "2020-01-01", "2021-01-01", rne="S", rec="E13")
    w.episode("K7", "2023-09-01", rne="S")
    # K8 aged 16, in care since 2020 with one carer: not in the under-16 long-term measure
    w.episode("K8", "2020-01-01", rne="S")
    # K9 [2024-05-01 S V2 U1 -> 2024-12-01 E13]: started and ceased (returned home) in the year
    w.episode("K9", "2024-05-01", "2024-12-01", rne="S", ls="V2", rec="E13")
    # K10: in care at 1 April (1) + P on 1 Jul (2) + T on 1 Sep (3) + L on 1 Nov (legal status only) = 3 placements
    w.episode("K10", "2023-01-01", "2024-07-01", rne="S", place="U1", rec="X1")
    w.episode("K10", "2024-07-01", "2024-09-01", rne="P", place="U4", rec="X1")
    w.episode("K10", "2024-09-01", "2024-11-01", rne="T", place="U5", rec="X1")
    w.episode("K10", "2024-11-01", rne="L", ls="E1", place="U5")
    # K11 temporary placement: in care at 1 April (1); to hospital T1 for 9 days (not counted); back to the
    # SAME placement (same PLACE, provider, URN, postcode: not counted) = 1 placement, 0 moves
    w.episode("K11", "2023-01-01", "2024-06-01", rne="S", place="U1", urn="SC1", pl_post="LS6 1AA", rec="X1")
    w.episode("K11", "2024-06-01", "2024-06-10", rne="P", place="T1", rec="X1")
    w.episode("K11", "2024-06-10", rne="P", place="U1", urn="SC1", pl_post="LS6 1AA")
    # K12 entered 10 April 2024, then P, B, P: placements S+P+B+P = 4; moves = 4 carer changes - first entry = 3
    w.episode("K12", "2024-04-10", "2024-06-01", rne="S", place="U1", rec="X1")
    w.episode("K12", "2024-06-01", "2024-09-01", rne="P", place="U4", rec="X1")
    w.episode("K12", "2024-09-01", "2024-12-01", rne="B", ls="C1", place="U6", rec="X1")
    w.episode("K12", "2024-12-01", rne="P", place="K2")
    return w


# Looked after at 31 March 2025: K1, K3, K5, K6, K7, K8, K10, K11, K12 = 9
#   (K2 ended on 31 March, K4 is V3, K9 ended in December)
CLA = 9


def test_cla_at_31_march_boundaries_and_short_breaks(cla_wh):
    df = cla_wh.run("cla_at_31_march")
    assert cell(df, "children", "cla_at_31_march") == CLA
    # legal status of the open episode: C2 K1 K5 K7 K8 K11 K12 = 6; E1 K6 K10 = 2; V2 K3 = 1; V3 never
    assert cell(df, "children", "cla_at_31_march", legal_status="Full care order") == 6
    assert cell(df, "children", "cla_at_31_march", legal_status="Placement order granted") == 2
    assert cell(df, "children", "cla_at_31_march", legal_status="Voluntary agreement (s20)") == 1
    assert cell(df, "children", "cla_at_31_march", legal_status="Short breaks (V3/V4)", missing=0) == 0
    # placement: K12 in a children's home (K2), the other 8 in foster care
    assert cell(df, "children", "cla_at_31_march", placement_type="Foster placement") == 8
    assert cell(df, "children", "cla_at_31_march", placement_type="Secure unit or children's home") == 1
    # age: K8 is 16+, the other 8 are 5-9
    assert cell(df, "children", "cla_at_31_march", age_band="16+") == 1


def test_started_and_ceased(cla_wh):
    started = cla_wh.run("cla_started")
    # RNE S in the year: K1 (1 Jun), K3 (31 Mar), K9 (1 May), K12 (10 Apr) = 4; K4 is V3 -> left out
    assert cell(started, "started", "cla_started") == 4
    ceased = cla_wh.run("cla_ceased")
    # periods ended in the year: K2 (E11 on 31 March), K9 (E13 on 1 Dec) = 2.
    # The X1 ends of K5, K6, K10, K11, K12 in the year are not ceasings (X1 chains the next episode).
    assert cell(ceased, "ceased", "cla_ceased") == 2
    assert cell(ceased, "ceased", "cla_ceased", reason_ceased="Adopted") == 1
    assert cell(ceased, "ceased", "cla_ceased", reason_ceased="Returned home") == 1


def test_three_or_more_placements_with_temporary_placements(cla_wh):
    df = cla_wh.run("placements_3plus")
    # placements in the year, looked-after children at 31 March:
    #   K1 1 (S) | K3 1 (S) | K5 2 (in care at 1 April + P) | K6 1 | K7 1 | K8 1
    #   K10 3 (start + P + T; L not counted) | K11 1 (T1 and the return to the same placement not counted)
    #   K12 4 (S, P, B, P)
    # 3 or more: K10, K12 = 2 of 9 = 22.2%
    assert cell(df, "children", "placements_3plus") == CLA
    assert cell(df, "children_3plus", "placements_3plus") == 2
    assert cell(df, "pct_3plus", "placements_3plus") == 22.2


def test_long_term_stability_walks_back_through_x1_chain(cla_wh):
    df = cla_wh.run("long_term_stability")
    # under 16 and in care since on or before 30 Sep 2022 (31 March 2025 - 30 months), periods stitched over X1:
    #   K5 (period from 2022-01-01; without X1 chaining it would start 2024-08-01) and K6 (from 2021-01-01).
    #   Not: K7 (second period from 2023-09-01: E13 ended the first), K8 (16), K10/K11 (from 2023), others newer.
    # same carer 2+ years (carer start on or before 31 March 2023):
    #   K5: carer since the P on 2024-08-01 -> no
    #   K6: walk back L (2023) -> T (2022, keeps carer) -> S 2021-01-01 -> yes
    assert cell(df, "children", "long_term_stability") == 2
    assert cell(df, "same_carer_2y", "long_term_stability") == 1
    assert cell(df, "pct_same_carer_2y", "long_term_stability") == 50.0


def test_stability_index_placement_moves(cla_wh):
    df = cla_wh.run("stability_placement_moves")
    # carer changes (S, P, B) in the year minus the first entry into care in the year:
    #   K1 S - entry = 0 | K3 0 | K5 P = 1 | K10 P = 1 (T keeps the carer) | K11 0 (temporary + return)
    #   K12 S, P, B, P - entry = 3 | others 0
    assert cell(df, "children", "stability_placement_moves") == CLA
    assert cell(df, "children_1plus_moves", "stability_placement_moves") == 3   # K5, K10, K12
    assert cell(df, "children_2plus_moves", "stability_placement_moves") == 1   # K12
    assert cell(df, "pct_2plus_moves", "stability_placement_moves") == 11.1


def test_stability_index_social_worker_changes(cla_wh):
    w = cla_wh
    w.social_worker("K1", "S1", "2024-06-01", "2024-09-01")
    w.social_worker("K1", "S2", "2024-09-01", "2025-01-01")
    w.social_worker("K1", "S3", "2025-01-01")                 # K1: 3 social workers in the year = 2 changes
    w.social_worker("K5", "S1", "2022-01-01", "2024-03-31")   # ended before 1 April 2024: not in the year
    w.social_worker("K5", "S2", "2024-03-31", "2024-10-01")
    w.social_worker("K5", "S3", "2024-10-01")                 # K5: S2, S3 = 1 change
    w.social_worker("K4", "S4", "2024-10-01")                 # K4 (V3 only) is not in the population
    w.social_worker("K4", "S5", "2024-11-01")
    w.social_worker("K4", "S6", "2024-12-01")
    df = w.run("stability_sw_changes")
    # 2+ changes: K1 only -> 1 of 9 = 11.1%
    assert cell(df, "children", "stability_sw_changes") == CLA
    assert cell(df, "children_2plus_changes", "stability_sw_changes") == 1
    assert cell(df, "pct_2plus_changes", "stability_sw_changes") == 11.1


def test_stability_index_school_moves(cla_wh):
    w = cla_wh
    w.school_move("K1", "2024-11-05")                                         # mid-year: counts
    w.school_move("K5", "2024-09-04")                                         # first 3 weeks of Sept: no
    w.school_move("K6", "2024-10-01", from_phase="primary", to_phase="secondary")  # primary->secondary: no
    w.school_move("K7", "2024-09-22")                                         # day after the 3 weeks: counts
    w.school_move("K8", "2024-11-05")                                         # K8 is 16: not school age here
    df = w.run("stability_school_moves")
    # population: looked after at 31 March aged 5-15 = 9 - K8 = 8; moved mid-year K1, K7 = 2 -> 25%
    assert cell(df, "children", "stability_school_moves") == 8
    assert cell(df, "children_moved", "stability_school_moves") == 2
    assert cell(df, "pct_moved", "stability_school_moves") == 25.0


def test_missing_episodes(cla_wh):
    w = cla_wh
    w.missing("K1", "M", "2024-07-01", "2024-07-02")
    w.missing("K1", "M", "2024-08-01", "2024-08-01")
    w.missing("K1", "A", "2024-08-01", "2024-08-03")
    w.missing("K5", "A", "2025-04-01")   # next census year
    w.missing("K6", "M", "2024-03-31")   # previous census year
    w.missing("K7", "A", "2025-03-31")   # 31 March: in the year
    df = w.run("missing_episodes")
    # missing: K1 (2 episodes); away: K1, K7 (1 each); any: K1, K7 = 2 children, 4 episodes
    assert cell(df, "children", "missing_episodes", missing_type="Missing") == 1
    assert cell(df, "episodes", "missing_episodes", missing_type="Missing") == 2
    assert cell(df, "children", "missing_episodes", missing_type="Away from placement") == 2
    assert cell(df, "children", "missing_episodes") == 2   # K1 once, though he had both types
    assert cell(df, "episodes", "missing_episodes") == 4


def test_stitching_gaps_overlaps_and_duplicates():
    w = Warehouse()
    w.child("P1")
    # X1 followed by a 3-day gap: still one period (X1 says the child stayed looked after)
    w.episode("P1", "2023-01-01", "2023-05-01", rne="S", rec="X1")
    w.episode("P1", "2023-05-04", "2023-08-01", rne="P", place="U4", rec="X1")
    # an open episode overlapped by a newer one: the newer one continues the same period
    w.episode("P1", "2023-08-01", None, rne="P", place="U5")
    w.episode("P1", "2023-10-01", "2024-01-01", rne="L", ls="E1", place="U5", rec="E11")
    # a non-X1 end then a new episode the SAME day: a new period
    w.episode("P1", "2024-01-01", None, rne="S")
    # an exact duplicate row: counted once
    w.episode("P1", "2024-01-01", None, rne="S")
    rows = w.con.execute(
        "SELECT period_no, count(*), min(decom), any_value(period_start), max(period_end) "
        "FROM episodes_stitched() GROUP BY period_no ORDER BY period_no"
    ).fetchall()
    from datetime import date

    assert rows == [
        (1, 4, date(2023, 1, 1), date(2023, 1, 1), date(2024, 1, 1)),
        (2, 1, date(2024, 1, 1), date(2024, 1, 1), None),
    ]


def test_stitching_an_end_without_a_reason():
    w = Warehouse()
    w.child("P2")
    # DEC but no REC, next episode starts ON that DEC: treated as a continuation
    w.episode("P2", "2023-01-01", "2023-03-01", rne="S", rec=None)
    # DEC but no REC, and the next episode starts 8 months later: the period ended on the DEC
    w.episode("P2", "2023-03-01", "2023-05-01", rne="P", place="U4", rec=None)
    w.episode("P2", "2024-01-01", None, rne="S")
    rows = w.con.execute(
        "SELECT period_no, count(*), any_value(period_start), max(period_end) "
        "FROM episodes_stitched() GROUP BY period_no ORDER BY period_no"
    ).fetchall()
    from datetime import date

    assert rows == [(1, 2, date(2023, 1, 1), date(2023, 5, 1)), (2, 1, date(2024, 1, 1), None)]


def test_temporary_placement_spanning_1_april_is_the_first_placement():
    w = Warehouse()
    w.child("T")
    # in foster care (U1), to a temporary placement (T2) over 1 April, back to the same U1 placement:
    # first placement of the year = 1; the T2 and the return are not new -> 1 placement, 0 moves
    w.episode("T", "2023-06-01", "2024-03-25", rne="S", place="U1", urn="SC9", rec="X1")
    w.episode("T", "2024-03-25", "2024-04-05", rne="P", place="T2", rec="X1")
    w.episode("T", "2024-04-05", rne="P", place="U1", urn="SC9")
    # ...then a real move to a new carer in the summer: 2 placements, 1 move
    w.episode("T", "2024-07-01", rne="P", place="U4", urn="SC10")
    assert w.scalar("SELECT count(*) FROM placement_episodes() WHERE is_new_placement "
                    "AND decom >= DATE '2024-04-01'") == 1
    df = w.run("placements_3plus")
    assert cell(df, "children", "placements_3plus") == 1
    assert cell(df, "children_3plus", "placements_3plus") == 0
    moves = w.run("stability_placement_moves")
    assert cell(moves, "children_1plus_moves", "stability_placement_moves") == 1
    assert cell(moves, "children_2plus_moves", "stability_placement_moves") == 0
