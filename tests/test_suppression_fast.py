"""The fast protection path: what it caches must never change an answer, and the gate's cube encoding.

protect() keeps three things between calls: a memo of whole answers (keyed on every count, the structure and the
rule-set), the search tables of each table structure (_Cube: moves, view, margin weights) and small index grids.
An attacker-visible failure of any of them would be a pattern that depends on what was asked before or on
another thread, so these tests compare answers across orders, threads and rule-sets. Safety itself (every hidden
cell's LP interval) is checked in tests/test_suppression.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.policy.gate import cube_axes
from dashboard.policy.lp_audit import audit_table
from dashboard.policy.model import load_policy
from dashboard.policy.suppression import PRIMARY, PUBLISHED, SECONDARY, clear_memo, protect
from tests.helpers_suppression import flat_rels, with_margins

POLICY = load_policy()


@pytest.mark.property
def test_a_remembered_answer_is_a_copy_the_caller_cannot_spoil():
    # sex: F=3, M=10, U=0, Total=13 (dfe): F is primary, M its partner (see test_suppression.py for the working)
    v = np.array([13, 3, 10, 0])
    rs = POLICY.rulesets["dfe"]
    clear_memo()
    first = protect(v, flat_rels(v), rs)
    first.status[:] = PUBLISHED                      # a careless caller overwrites what it was given
    first.published[:] = 99
    again = protect(v, flat_rels(v), rs)             # answered from the memo
    assert again.status.tolist() == [PUBLISHED, PRIMARY, SECONDARY, PUBLISHED]
    assert again.published[0] == 13 and again.published[3] == 0 and np.isnan(again.published[1:3]).all()


@pytest.mark.property
def test_the_memo_never_answers_for_another_rule_set():
    # 59 = 9 + 10 + 40. Under dfe (1-5) nothing is small; under ons (1-9) the 9 is, and needs a partner.
    v = np.array([59, 9, 10, 40])
    clear_memo()
    dfe = protect(v, flat_rels(v), POLICY.rulesets["dfe"])
    assert (dfe.status == PUBLISHED).all()
    ons = protect(v, flat_rels(v), POLICY.rulesets["ons"])
    assert ons.status[1] == PRIMARY and (ons.status[[0, 2, 3]] == SECONDARY).sum() >= 1


@pytest.mark.property
def test_the_memo_never_answers_for_a_table_with_the_same_team_tables():
    # team x sex x disability, published up to 2-way. In both cubes T1 has 2 girls and 1 boy, 2 disabled and 1
    # not (the same team x sex and team x disability tables); they differ in who is who (a: the boy is the
    # non-disabled one; b: one girl is), so sex x disability differs and which records exist (the record swaps)
    # differs. The answer for b must be the one b gets asked first, not a's remembered one.
    a = np.zeros((2, 2, 2), dtype=int)
    a[0, 0, 0], a[0, 1, 1] = 2, 1
    a[1] = [[10, 10], [15, 15]]
    b = a.copy()
    b[0, 0, 0], b[0, 0, 1], b[0, 1, 0], b[0, 1, 1] = 1, 1, 1, 0
    va, vb = with_margins(a), with_margins(b)
    assert (va[1, :, 0] == vb[1, :, 0]).all() and (va[1, 0, :] == vb[1, 0, :]).all()   # T1's tables agree
    rs = POLICY.rulesets["dfe"]
    clear_memo(structures=True)
    fresh_b = protect(vb, flat_rels(vb), rs, max_dims=2).status.copy()
    clear_memo(structures=True)
    protect(va, flat_rels(va), rs, max_dims=2)
    after_a = protect(vb, flat_rels(vb), rs, max_dims=2).status
    assert (after_a == fresh_b).all()
    assert audit_table(vb, after_a, flat_rels(vb), rs, full=True) == []


small_count = st.one_of(st.integers(0, 4), st.integers(0, 15))


def linked_cube(shape):
    return st.lists(small_count, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda xs: with_margins(np.array(xs).reshape(shape)))


@pytest.mark.property
@pytest.mark.parametrize("ruleset", ["dfe", "nhs"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=linked_cube((3, 2, 2)), second=linked_cube((3, 2, 2)))
def test_a_pattern_does_not_depend_on_what_was_protected_before(ruleset, first, second):
    """The per-structure search tables are shared by every table of one shape: protecting `second` after `first`
    (tables warm) gives exactly the pattern protecting `second` in a fresh process gives (tables cold)."""
    rs = POLICY.rulesets[ruleset]
    clear_memo(structures=True)
    cold = protect(second, flat_rels(second), rs, max_dims=2).status.copy()
    clear_memo(structures=True)
    protect(first, flat_rels(first), rs, max_dims=2)
    clear_memo()                                     # the answer memo off: the search itself runs again
    warm = protect(second, flat_rels(second), rs, max_dims=2)
    assert (warm.status == cold).all()
    assert audit_table(second, warm.status, flat_rels(second), rs, full=True) == []


@pytest.mark.property
def test_many_threads_get_the_patterns_one_thread_gets():
    rng = np.random.default_rng(7)
    rs = POLICY.rulesets["dfe"]
    tables = [with_margins(rng.choice([0, 1, 2, 3, 8, 20], size=shape)) for shape in
              [(3, 2, 2), (4, 3, 2), (2, 2, 2, 2), (5, 3), (3, 3, 2, 2)]]
    clear_memo(structures=True)
    alone = []
    for v in tables:
        clear_memo()
        alone.append(protect(v, flat_rels(v), rs, max_dims=2).status.copy())
    clear_memo(structures=True)
    # every thread starts on cold tables at once: the shared search tables are filled concurrently
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: protect(tables[i % 5], flat_rels(tables[i % 5]), rs, max_dims=2).status,
                            range(40)))
    for i, status in enumerate(got):
        assert (status == alone[i % 5]).all()


# ---------------------------------------------------------------------------------------------- cube_axes


@pytest.mark.functional
def test_cube_axes_puts_total_first_reads_null_as_not_known_and_sorts_by_code_point():
    df = pl.DataFrame({
        "team": ["T2", "Total", "T1", None, "T2", "Total"],
        "sex": ["F", "F", "Total", "M", "Total", "Total"],
        "place": ["Zed", "Éire", "Zed", "Abbey", "Éire", "Zed"],      # no Total: codes start at 0
        "year": [2024, 2023, 2024, 2023, 2024, 2024],                  # not text: read as its text
    })
    labels, flat = cube_axes(df, ["team", "sex", "place", "year"])
    # 'Not known' < 'T1' < 'T2'; 'Abbey' < 'Zed' < 'Éire' (É is U+00C9, after every ASCII letter)
    assert labels == [["Total", "Not known", "T1", "T2"], ["Total", "F", "M"], ["Abbey", "Zed", "Éire"],
                      ["2023", "2024"]]
    shape = (4, 3, 3, 2)
    # row 0: T2 (3), F (1), Zed (1), 2024 (1); row 3: Not known (1), M (2), Abbey (0), 2023 (0)
    assert flat[0] == np.ravel_multi_index((3, 1, 1, 1), shape)
    assert flat[3] == np.ravel_multi_index((1, 2, 0, 0), shape)
    assert flat[1] == np.ravel_multi_index((0, 1, 2, 0), shape)
    assert len(set(flat.tolist())) == 6


@pytest.mark.functional
def test_cube_axes_of_no_dimensions_is_one_cell():
    labels, flat = cube_axes(pl.DataFrame({"n": [5]}), [])
    assert labels == [] and flat.tolist() == [0]


# ---------------------------------------------------------------------------------------------- protect_frame


def one_way_spec():
    from pathlib import Path

    from dashboard.warehouse.queries import Column, QuerySpec

    cols = (Column("sex", "dimension"), Column("children", "count"), Column("children_again", "count"),
            Column("pct_of_all", "percentage", numerator="children", denominator="children_again"),
            Column("mystery_rate", "rate"))
    return QuerySpec("sex_split", "Children by sex", "", "", "children", "aggregate", (), ("sex",), cols, "",
                     Path("sex_split.sql"))


def frame_answer(df):
    from dashboard.policy import Principal
    from dashboard.policy.gate import protect_frame

    p = Principal("sam", "service_manager", (), "service_management")
    grant = POLICY.roles["service_manager"].grants["service_management"]
    return protect_frame(df, one_way_spec(), POLICY.rulesets["dfe"], p, grant,
                         POLICY.purposes["service_management"], {}, "all")


@pytest.mark.functional
def test_protect_frame_hides_the_same_cells_of_equal_columns_and_their_rates():
    # sex: Total 13 = F 3 + M 10 + U 0 (U arrives as a null count: no children). dfe: F (3) is 1..5 -> c; alone
    # it would be 13 - 10 - 0, so M goes too (the cheapest non-zero partner); U is a true zero, shown.
    # children_again is the same column (protected once: the same cells hidden); pct_of_all is computed from
    # both, so it is hidden where they are; mystery_rate names no counts, so it is never shown.
    df = pl.DataFrame({"sex": ["Total", "F", "M", "U"], "children": [13, 3, 10, None],
                       "children_again": [13, 3, 10, 0], "pct_of_all": [100.0, 100.0, 100.0, None],
                       "mystery_rate": [1.0, 2.0, 3.0, 4.0]})
    res = frame_answer(df)
    assert res.rows == [["Total", 13, 13, 100.0, "c"], ["F", "c", "c", "c", "c"], ["M", "c", "c", "c", "c"],
                        ["U", 0, 0, None, "c"]]
    assert {k: v.kind for k, v in res.hidden.items() if k[1] == "children"} == {(1, "children"): "primary",
                                                                                  (2, "children"): "secondary"}
    assert res.hidden[(1, "children_again")].kind == "primary" and res.hidden[(3, "mystery_rate")].kind == "derived"
    assert res.cells_suppressed == 2 + 2 + 2 + 4


@pytest.mark.functional
def test_protect_frame_refuses_a_count_that_is_not_a_number():
    from dashboard.policy import Refusal

    df = pl.DataFrame({"sex": ["Total", "F", "M"], "children": [13.0, float("nan"), 10.0],
                       "children_again": [13, 3, 10], "pct_of_all": [1.0, 1.0, 1.0], "mystery_rate": [1.0] * 3})
    with pytest.raises(Refusal, match="negative or fractional"):
        frame_answer(df)
