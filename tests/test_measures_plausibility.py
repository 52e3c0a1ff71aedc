"""Plausibility: the headline measures on the bundled sample authority land near England's published figures
(docs: domain.md section 3, DfE national figures for 2024-25; stability figures for 2024).

Tolerances are deliberately wide: a synthetic authority of a few tens of thousands of children has small
counts (a CP plan rate rests on a few hundred children), and local authorities' real rates spread widely
around England's (children in need per 10,000 ranges from about 200 to 700 between councils). The test
catches a measure or a generator that is off by a factor, a sign error or a wrong denominator, not a few points.
"""

from __future__ import annotations

import pytest

from dashboard.warehouse.db import open_readonly
from dashboard.warehouse.queries import get_query, run_query

pytestmark = pytest.mark.slow

YEAR = 2025

#: (query, column, England's figure, tolerance, how the tolerance applies)
TARGETS = [
    # rates per 10,000: within +/- 40% of England's rate
    ("rates_per_10000", "cin_rate", 330.3, 0.40, "relative"),
    ("rates_per_10000", "cpp_rate", 40.6, 0.40, "relative"),
    ("rates_per_10000", "cla_rate", 67.0, 0.40, "relative"),
    # percentages: within a number of percentage points
    ("assessment_timeliness", "pct_within_45", 86.0, 10.0, "points"),
    ("re_referrals", "pct_re_referrals", 22.6, 8.0, "points"),
    ("cp_plans_ending", "pct_2y_plus", 4.4, 4.0, "points"),
    ("placements_3plus", "pct_3plus", 10.0, 6.0, "points"),
    ("long_term_stability", "pct_same_carer_2y", 68.0, 15.0, "points"),
    ("stability_sw_changes", "pct_2plus_changes", 27.0, 12.0, "points"),
    ("stability_school_moves", "pct_moved", 8.0, 6.0, "points"),
]


@pytest.fixture(scope="module")
def con(sample_warehouse):
    c = open_readonly(sample_warehouse)
    yield c
    c.close()


def _grand_total(con, name: str, column: str):
    spec = get_query(name)
    df = run_query(con, spec, {"census_year": YEAR})
    for d in spec.dimensions:
        df = df.filter(df[d] == "Total")
    assert df.height == 1, f"{name}: no single grand-total row"
    return df[column][0]


@pytest.mark.parametrize(("name", "column", "england", "tol", "how"), TARGETS)
def test_headline_measure_is_near_england(con, name, column, england, tol, how):
    value = _grand_total(con, name, column)
    assert value is not None, f"{name}.{column} is empty on the sample authority"
    if how == "relative":
        low, high = england * (1 - tol), england * (1 + tol)
    else:
        low, high = england - tol, england + tol
    assert low <= value <= high, f"{name}.{column} = {value}, England {england}, expected {low:.1f} to {high:.1f}"


def test_median_assessment_length_is_near_england(con):
    # England 2024-25: median 33 working days; accept 23 to 43
    value = _grand_total(con, "assessment_timeliness", "median_working_days")
    assert 23 <= value <= 43, value
