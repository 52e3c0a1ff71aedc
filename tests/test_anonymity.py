"""k-anonymity of pseudonymised row-level releases (dashboard/policy/anonymity.py, access_policies/anonymity.yml).

Hand-worked small frames, Hypothesis frames checked group by group, and the sample authority's planning mart as
the BI analyst gets it.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.config import Settings
from dashboard.policy import Gate, Principal
from dashboard.policy.anonymity import Anonymity, k_anonymise, k_anonymise_tables
from dashboard.policy.model import load_policy


def groups(df: pl.DataFrame, keys: list[str], entity: str) -> pl.DataFrame:
    """Children per combination of shown key values, leaving out children with every key value empty."""
    shown = df.filter(~pl.all_horizontal([pl.col(c).is_null() for c in keys]))
    return shown.group_by(keys).agg(pl.col(entity).n_unique().alias("n"))


@pytest.mark.spec
def test_small_groups_lose_key_values_in_order_until_k():
    # k = 2, keys withheld in the order pc, dob, sex. Groups by (pc, dob, sex):
    #   a b (AB1, 2010-01, F) = 2: kept.   d e (AB1, 2011-05, M) = 2: kept.
    #   c (AB2, 2010-01, M), f (AB9, 2012-03, F), g (AB1, -, F): alone.
    # pc withheld for c f g -> (-, 2010-01, M), (-, 2012-03, F), (-, -, F): still alone.
    # dob withheld for c f (g has none to lose) -> (-, -, M) c alone; (-, -, F) f g = 2: kept.
    # sex withheld for c -> c shows nothing. Values withheld: pc 3 + dob 2 + sex 1 = 6, children c f g = 3.
    df = pl.DataFrame({"id": list("abcdefg"),
                       "dob": ["2010-01", "2010-01", "2010-01", "2011-05", "2011-05", "2012-03", None],
                       "sex": ["F", "F", "M", "M", "M", "F", "F"],
                       "pc": ["AB1", "AB1", "AB2", "AB1", "AB1", "AB9", "AB1"],
                       "need": ["N1", "N2", "N3", "N4", "N5", "N6", "N7"]})
    out, w = k_anonymise(df, ["pc", "dob", "sex"], 2, "id")
    rows = {r[0]: r[1:] for r in out.iter_rows()}
    assert rows["a"] == ("2010-01", "F", "AB1", "N1") and rows["e"] == ("2011-05", "M", "AB1", "N5")
    assert rows["c"] == (None, None, None, "N3")
    assert rows["f"] == (None, "F", None, "N6") and rows["g"] == (None, "F", None, "N7")
    assert (w.values, w.children, w.smallest_group) == (6, 3, 2)
    assert "k = 2" in w.note() and "6 value(s) withheld for 3 child(ren)" in w.note()


@pytest.mark.spec
def test_a_child_with_several_rows_counts_once_and_loses_the_same_values_on_each():
    # x has three rows (three episodes), y one: by child, (F, 2015-01) x and (F, 2015-02) y are each alone with
    # k = 2, so both lose dob (first in order) and then share (F): kept. Counting rows would have kept x's dob.
    df = pl.DataFrame({"child": ["x", "x", "x", "y"], "dob": ["2015-01"] * 3 + ["2015-02"], "sex": ["F"] * 4,
                       "episode": [1, 2, 3, 4]})
    out, w = k_anonymise(df, ["dob", "sex"], 2, "child")
    assert out["dob"].to_list() == [None] * 4 and out["sex"].to_list() == ["F"] * 4
    assert out["episode"].to_list() == [1, 2, 3, 4]
    assert (w.values, w.children) == (2, 2)


@pytest.mark.spec
def test_tables_are_made_k_anonymous_together_on_the_childs_combined_key():
    # child holds dob and sex, person_identifier the postcode district. Combined (district, dob, sex):
    #   a b (AB1, 2010-01, F) = 2: kept. c (AB2, 2010-01, F) and d (AB1, 2011-02, M): alone.
    # district withheld for c d; then (-, 2010-01, F) c and (-, 2011-02, M) d are alone: dob withheld;
    # then (-, -, F) c and (-, -, M) d alone: sex withheld. Table by table, child alone would have kept c's
    # (2010-01, F), which a b share, and person_identifier's AB2 (c's alone) would have been withheld only there.
    child = pl.DataFrame({"child_id": list("abcd"), "dob": ["2010-01", "2010-01", "2010-01", "2011-02"],
                          "sex": ["F", "F", "F", "M"], "other": [1, 2, 3, 4]})
    pid = pl.DataFrame({"child_id": list("abcd"), "postcode": ["AB1", "AB1", "AB2", "AB1"]})
    unrelated = pl.DataFrame({"code": ["N1"]})
    policy = Anonymity(2, (("person_identifier", "postcode"), ("child", "dob"), ("child", "sex")))
    out, w = k_anonymise_tables({"child": child, "person_identifier": pid, "lookup": unrelated}, policy)
    assert out["child"].rows() == [("a", "2010-01", "F", 1), ("b", "2010-01", "F", 2), ("c", None, None, 3),
                                   ("d", None, None, 4)]
    assert out["person_identifier"]["postcode"].to_list() == ["AB1", "AB1", None, None]
    assert out["lookup"].equals(unrelated)
    assert (w.values, w.children) == (6, 2)


frames = st.integers(1, 60).flatmap(lambda n: st.fixed_dictionaries({
    "id": st.just([f"c{i}" for i in range(n)]),
    "a": st.lists(st.sampled_from(["x", "y", "z", None]), min_size=n, max_size=n),
    "b": st.lists(st.sampled_from(["1", "2"]), min_size=n, max_size=n),
    "c": st.lists(st.sampled_from(["p", "q", "r", "s", "t"]), min_size=n, max_size=n),
}))


@pytest.mark.property
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=frames, k=st.integers(2, 6))
def test_every_shown_combination_describes_at_least_k_children(data, k):
    df = pl.DataFrame(data)
    keys = ["c", "a", "b"]
    out, w = k_anonymise(df, keys, k, "id")
    g = groups(out, keys, "id")
    assert g.height == 0 or g["n"].min() >= k
    # nothing but key values changes, and a value is only ever withheld, never altered
    assert out["id"].to_list() == df["id"].to_list()
    for c in keys:
        changed = [(o, n) for o, n in zip(df[c].to_list(), out[c].to_list(), strict=True) if o != n]
        assert all(n is None for _, n in changed)
    # children already in a group of k or more keep every value
    before = df.join(groups(df, keys, "id").rename({"n": "n0"}), on=keys, how="left", nulls_equal=True)
    big = before.filter(pl.col("n0") >= k)["id"].to_list()
    assert out.filter(pl.col("id").is_in(big)).rows() == df.filter(pl.col("id").is_in(big)).rows()
    assert w.children == out.join(df, on="id", suffix="_0").filter(
        pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_0")) for c in keys])).height


@pytest.mark.functional
def test_the_analysts_planning_mart_is_k_anonymous_on_the_sample_authority(sample_warehouse, tmp_path):
    policy = load_policy()
    k = policy.anonymity.k
    gate = Gate.open(Settings(warehouse=sample_warehouse, audit=tmp_path / "audit.duckdb"),
                     env={"CSC_PSEUDONYM_KEY_PLANNING": "test-key-for-planning-0123456789abcdef"})
    try:
        mart, _ = gate.planning_mart_keyed(Principal(user="amy", role="bi_analyst", purpose="planning"),
                                           path="test")
        child, pid = mart["child"], mart["person_identifier"]
        assert child.height > 1000
        joined = child.join(pid, on="child_id", how="left")
        keys = [c for t, c in policy.anonymity.key_variables if c in joined.columns]
        assert {"dob", "sex", "ethnicity", "postcode_district"} <= set(keys)
        g = groups(joined, keys, "child_id")
        assert g.height > 0 and g["n"].min() >= k
        # what was withheld is said, and most children keep their sex (a large group on its own)
        assert mart.anonymity is not None and mart.anonymity.k == k and mart.anonymity.children > 0
        assert child["sex"].null_count() < child.height // 10
        # what is shown is still coarsened: a month of birth, a postcode district
        assert child["dob"].drop_nulls().str.contains(r"^\d{4}-\d{2}$").all()
        assert not pid["postcode_district"].drop_nulls().str.contains(" ").any()

        # the same analyst's case list (a named query's pseudonymised rows) is k-anonymous too
        res = gate.query(Principal(user="amy", role="bi_analyst", purpose="planning"), "children_list",
                         {"census_year": 2025}, path="test")
        names = [c.name for c in res.columns]
        rows = pl.DataFrame(res.rows, schema=names, orient="row", infer_schema_length=None)
        keys = [n for n in ("postcode", "dob", "ethnicity", "sex") if n in names]
        assert len(keys) == 4 and rows.height > 500
        g = groups(rows, keys, "child_id")
        assert g["n"].min() >= k
        assert any(n.startswith(f"k-anonymity (k = {k})") for n in res.notes)
    finally:
        gate.close()


@pytest.mark.functional
def test_the_command_line_says_what_k_anonymity_withheld(sample_warehouse, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CSC_PSEUDONYM_KEY_PLANNING": "test-key-for-planning-0123456789abcdef",
           "CSC_WAREHOUSE": str(sample_warehouse), "CSC_AUDIT": str(tmp_path / "audit.duckdb")}
    r = subprocess.run([sys.executable, "-m", "dashboard", "query", "children_list", "--as", "bi_analyst",
                        "--format", "csv"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split(",")
    assert "dob" in header and "given_name" not in header        # stdout stays plain CSV
    assert "note: k-anonymity (k = 5) on postcode, dob, ethnicity, sex:" in r.stderr
    r = subprocess.run([sys.executable, "-m", "dashboard", "query", "children_list", "--as", "bi_analyst"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Note: k-anonymity (k = 5)" in r.stdout.splitlines()[-1]
