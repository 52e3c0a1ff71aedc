"""Which derived relation a build stores first when several are ready (storing.critical_path): the one heading the
longest chain still to run, so the build does not end with one long relation on one core. Chains worked by hand."""

from __future__ import annotations

import pytest

from dashboard.warehouse.storing import COST, COST_UNKNOWN, critical_path


def test_a_relation_counts_the_longest_chain_that_waits_for_it():
    # x <- y <- z and x <- w (w and z read x or y); names not in COST cost COST_UNKNOWN each:
    # z: 1 unit; y: 1 + z = 2; w: 1; x: 1 + max(y 2, w 1) = 3; v reads nothing and nothing reads it: 1
    needs = {"x": set(), "y": {"x", "table_a"}, "z": {"y"}, "w": {"x"}, "v": {"table_b"}}
    got = critical_path(needs)
    assert got == pytest.approx({"x": 3 * COST_UNKNOWN, "y": 2 * COST_UNKNOWN, "z": COST_UNKNOWN,
                                 "w": COST_UNKNOWN, "v": COST_UNKNOWN})


def test_at_the_end_of_a_build_the_case_list_chain_goes_before_referrals():
    # the relations waiting for the CIN tables: census_span -> child_census -> case_list is the longest chain
    # (COST: 0.004 + 0.12 + 0.22), ahead of referral -> cin_episode_flow (0.14 + 0.05) and child_day ->
    # assessment_span (0.10 + 0.06)
    needs = {"census_span": set(), "child_census": {"census_span"}, "case_list": {"census_span", "child_census"},
             "referral": set(), "cin_episode_flow": {"referral"}, "child_day": set(),
             "assessment_span": {"child_day"}}
    got = critical_path(needs)
    assert got["census_span"] == pytest.approx(COST["census_span"] + COST["child_census"] + COST["case_list"])
    assert got["referral"] == pytest.approx(COST["referral"] + COST["cin_episode_flow"])
    ready = ["referral", "census_span", "child_day"]  # derived.sql's order among those ready at once
    assert sorted(ready, key=lambda n: -got[n]) == ["census_span", "referral", "child_day"]
