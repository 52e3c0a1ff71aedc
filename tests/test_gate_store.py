"""The gate's protected-cube store, its warm-up and page-sized batches (query_many), on the hand-made warehouse
of tests/helpers_policy.py (12 children, two teams, objectors C03 and C08).

What matters to a user or an attacker: an answer kept for one principal is never handed to a principal whose
rule-set or population differs; every answer, from the store or not, is in the audit trail before it is returned;
a warm-up shows nothing to anybody and so records nothing; a batch whose records cannot be written returns nothing.
"""

from __future__ import annotations

import threading

import pytest
from helpers_policy import KEY_ENV, NOW, build_warehouse, write_queries

from dashboard.audit import AuditTrail
from dashboard.config import Settings
from dashboard.policy import Gate, Principal, Refusal
from dashboard.policy.gate import AuditUnavailable

pytestmark = pytest.mark.functional

SAM = Principal("sam", "service_manager", (), "service_management")
AMY = Principal("amy", "team_manager", ("T01",), "service_management")     # aggregate grant, with a team
PAT = Principal("pat", "partner", (), "planning")                            # partner rule-set, no objectors
BEA = Principal("bea", "bi_analyst", (), "planning")                         # dfe rule-set, no objectors
Q = "children_by_team_sex"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate-store")
    return build_warehouse(d / "w.duckdb"), write_queries(d / "q")


@pytest.fixture
def gate(tmp_path, built):
    wh, q = built
    g = Gate.open(Settings(wh, tmp_path / "audit.duckdb"), queries_dir=q, env=KEY_ENV, clock=lambda: NOW)
    yield g
    g.close()


def cell(res, team, sex, column="children"):
    names = [c.name for c in res.columns]
    for r in res.rows:
        if r[0] == team and r[1] == sex:
            return r[names.index(column)]
    raise KeyError((team, sex))


def entries(g):
    return g.trail.frame() if g.trail.path.exists() else None


def test_store_never_hands_one_rule_set_or_population_anothers_answer(gate):
    # By hand (helpers_policy): T02 holds C05-C10 = 6 children; without the objector C08, 5. All children: 12;
    # without C03 and C08: 10. dfe hides 1..5; partner hides 1..10.
    first = gate.query(SAM, Q, {}, path="test")                 # dfe, all children: kept in the store
    assert cell(first, "T02", "Total") == 6
    pat = gate.query(PAT, Q, {}, path="test")                   # partner, no objectors: 10 is hidden
    bea = gate.query(BEA, Q, {}, path="test")                   # dfe, no objectors: T02 is 5, hidden
    assert (pat.ruleset, pat.population) == ("partner", "no_objectors")
    assert cell(pat, "Total", "Total") == "c" and cell(pat, "T02", "Total") == "c"
    assert (bea.ruleset, bea.population) == ("dfe", "no_objectors")
    assert cell(bea, "T02", "Total") == "c"
    # and the other way round: the partner's kept answer does not leak into the service manager's
    assert cell(gate.query(SAM, Q, {}, path="test"), "T02", "Total") == 6
    assert gate.store_info()["entries"] == 3


def test_store_is_keyed_on_the_parameters(gate):
    # the fixture's episodes are all in census year 2025; 2024 has no child at all
    assert cell(gate.query(SAM, Q, {"census_year": 2025}, path="test"), "T02", "Total") == 6
    empty = gate.query(SAM, Q, {"census_year": 2024}, path="test")
    assert cell(empty, "Total", "Total") == 0 and len(empty.rows) == 1    # only the grand total: nobody


def test_a_shared_answer_carries_the_askers_identity_and_every_one_is_recorded(gate):
    s = gate.query(SAM, Q, {}, path="page:a")
    a = gate.query(AMY, Q, {}, path="page:b")                   # same rule-set and population: shared cells
    assert a.rows == s.rows and a.hidden == s.hidden
    assert (s.principal.user, a.principal.user) == ("sam", "amy")
    assert a.tier == "aggregate" and a.params == {"census_year": 2025}
    log = entries(gate)
    assert log["user"].to_list() == ["sam", "amy"]
    assert log["role"].to_list() == ["service_manager", "team_manager"]
    assert log["teams"].to_list() == [[], ["T01"]]
    assert log["outcome"].to_list() == ["allowed", "allowed"]
    assert log["path"].to_list() == ["page:a", "page:b"]


def test_warm_up_fills_the_store_and_records_nothing(gate):
    gate.warm_up()
    # one answer per (rule-set, population) some grant uses (dfe/all, dfe/no_objectors, partner/no_objectors)
    # for the fixture's one aggregate query in its one census year
    assert gate.store_info()["entries"] == 3
    assert gate.warm_status["state"] == "done"
    assert entries(gate) is None or entries(gate).height == 0
    # answers now come from the store, still recorded before they are returned, and still per rule-set
    assert cell(gate.query(SAM, Q, {}, path="test"), "T02", "Total") == 6
    assert cell(gate.query(BEA, Q, {}, path="test"), "T02", "Total") == "c"
    assert entries(gate)["user"].to_list() == ["sam", "bea"]


def test_warm_up_and_pages_at_once_give_the_same_answers(gate):
    got, errors = [], []

    def ask(p):
        try:
            got.append((p.user, cell(gate.query(p, Q, {}, path="test"), "T02", "Total")))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=gate.warm_up)] + [threading.Thread(target=ask, args=(p,))
                                                         for p in (SAM, PAT, BEA, SAM)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(got) == [("bea", "c"), ("pat", "c"), ("sam", 6), ("sam", 6)]
    assert entries(gate).height == 4


def test_query_many_answers_in_order_and_records_every_decision(gate):
    out = gate.query_many(SAM, [(Q, {}), ("no_such_query", {}), ("caseload", {}), (Q, {"census_year": 2024})],
                          path="page:overview")
    assert cell(out[0], "T02", "Total") == 6
    assert isinstance(out[1], Refusal) and "unknown query" in out[1].reason
    assert isinstance(out[2], Refusal) and "counts only" in out[2].reason
    assert cell(out[3], "Total", "Total") == 0 and len(out[3].rows) == 1
    log = entries(gate)
    assert log["query"].to_list() == [Q, "no_such_query", "caseload", Q]
    assert log["outcome"].to_list() == ["allowed", "refused", "refused", "allowed"]
    assert set(log["path"].to_list()) == {"page:overview"}
    assert log["seq"].to_list() == [1, 2, 3, 4]
    assert gate.trail.verify().ok


def test_query_many_returns_nothing_when_the_trail_cannot_record(gate, tmp_path):
    gate.warm_up()                                              # answers ready: only the record is missing
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    gate.trail = AuditTrail(blocker / "audit.duckdb")           # cannot be created: a file is in the way
    with pytest.raises(AuditUnavailable, match="audit trail could not record"):
        gate.query_many(SAM, [(Q, {}), (Q, {"census_year": 2024})], path="page:overview")
    with pytest.raises(Refusal, match="audit trail could not record"):
        gate.query(SAM, Q, {}, path="page:overview")
