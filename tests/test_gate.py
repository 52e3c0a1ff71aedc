"""The gate end to end on a hand-made warehouse (tests/helpers_policy.py has the table of children).

Everything here is what a user or an attacker would see: rows and cells returned, refusals, the audit trail.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pytest
from helpers_policy import CHILDREN, KEY_ENV, NOW, OBJECTORS, build_warehouse, write_queries

from dashboard.audit import AuditTrail
from dashboard.config import Settings
from dashboard.policy import Gate, Principal, Refusal
from dashboard.policy.lp_audit import audit_table
from dashboard.policy.pseudonym import pseudonym
from dashboard.policy.suppression import PUBLISHED, flat_relations

NAMES = {f"Given{i}" for i in range(1, 13)} | {f"Family{i}" for i in range(1, 13)}
NHS = {str(9000000000 + i) for i in range(1, 13)}
ALL_CHILDREN = {c[0] for c in CHILDREN}


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    return build_warehouse(d / "w.duckdb"), write_queries(d / "q")


@pytest.fixture
def env(tmp_path, built):
    wh, q = built
    clock = Clock()
    gate = Gate.open(Settings(wh, tmp_path / "audit.duckdb"), queries_dir=q, env=KEY_ENV, clock=clock)
    yield gate, clock, tmp_path
    gate.close()


def P(user, role, purpose, teams=(), worker=None):
    return Principal(user, role, tuple(teams), purpose, worker)


SAM = P("sam", "service_manager", "service_management")
TARA = P("tara", "team_manager", "direct_care", ["T01"])
TOM = P("tom", "team_manager", "direct_care", ["T02"])
WILL = P("will", "social_worker", "direct_care", ["T01"], "SW001")
WENDY = P("wendy", "social_worker", "direct_care", ["T02"], "SW003")
BEA = P("bea", "bi_analyst", "planning")
PAT = P("pat", "partner", "planning")
IGGY = P("iggy", "ig_officer", "audit")


def cell(res, **dims):
    names = [c.name for c in res.columns]
    for r in res.rows:
        if all(r[names.index(k)] == v for k, v in dims.items()):
            return dict(zip(names, r, strict=True))
    raise KeyError(dims)


# ---------------------------------------------------------------------------------------------- aggregate


@pytest.mark.functional
def test_service_manager_sees_suppressed_cube_worked_by_hand(env):
    gate, _, _ = env
    res = gate.query(SAM, "children_by_team_sex", {"census_year": 2025}, path="test")
    # At 31 March 2025: T01 has C01-C04 and C11 (F 3, M 2, total 5); T02 has C05-C10 (F 4, M 2, total 6);
    # Unallocated has C12 (M 1, F 0). Totals: F 7, M 5, all 12.
    # Primary (1..5): T01 F/M/Total, T02 F/M, Unallocated M/Total, Total M. Not small: T02 Total 6, Total F 7,
    # Total Total 12; Unallocated F is a true 0 (no row at all: absent cells are zeros; never hidden).
    # The Total row reads 12 = F 7 + M, so M (5) would be worked out: one more cell of that row must go, Total/F
    # (7) or the grand total (12). The optimal search hides the cheaper one: Total/F, a 1-way figure, costs
    # (1 + 7) x 4 = 32 against (1 + 12) x 7 = 91 for the headline (optimal.cell_costs), and nothing else is needed:
    # writing a..i for T01 F, T01 M, T01 Total, T02 F, T02 M, Unallocated M, Unallocated Total, Total F, Total M,
    # the attacker knows a+b=c, d+e=6, f=g, a+d=h, b+e+f=i, h+i=12, c+6+g=12, each hidden cell >= 1. So
    # Unallocated M = f = g = 6 - c with c = a+b >= 2: f anywhere in 1..4 (f=4: a=b=1, d+e=6 fits every sum),
    # a range of 3, at least dfe's protection width of 2. The hypercube search, move by move, hid the grand
    # total instead.
    assert cell(res, team="T02", sex="Total")["children"] == 6
    assert cell(res, team="Total", sex="Total")["children"] == 12
    for team, sex in [("T01", "F"), ("T01", "M"), ("T01", "Total"), ("T02", "F"), ("T02", "M"),
                      ("Unallocated", "M"), ("Unallocated", "Total"), ("Total", "M"), ("Total", "F")]:
        assert cell(res, team=team, sex=sex)["children"] == "c", (team, sex)
    i = [(r[0], r[1]) for r in res.rows].index(("Total", "F"))
    assert res.hidden[(i, "children")].kind == "secondary"
    assert not any(r[0] == "Unallocated" and r[1] == "F" for r in res.rows)
    # girls: 7 in all, all of them in the F column; 7 of the 12 children are girls: 58.3% (dfe: one decimal).
    # Among the girls the percentage would be 100, but its denominator (Total/F) is hidden, so it is too.
    assert cell(res, team="Total", sex="Total")["girls"] == 7
    assert cell(res, team="Total", sex="Total")["pct_girls"] == 58.3
    assert cell(res, team="Total", sex="F")["pct_girls"] == "c"
    # a percentage whose numerator or denominator is hidden is hidden too, and says why
    i = [r[0] for r in res.rows].index("T01")
    assert res.rows[i][4] == "c" and res.hidden[(i, "pct_girls")].kind == "derived"
    assert res.to_json()["ruleset"] == "dfe"


@pytest.mark.functional
def test_published_cube_survives_a_differencing_attack(env):
    """Every filter the page offers (team, sex, and their 'Total') is a slice of one published cube. Rebuild the
    attacker's view from the returned rows only and solve for every hidden cell: none can be pinned down."""
    gate, _, _ = env
    res = gate.query(SAM, "children_by_team_sex", {}, path="test")
    rs = gate.policy.rulesets["dfe"]
    teams = ["Total"] + sorted({r[0] for r in res.rows} - {"Total"})
    sexes = ["Total"] + sorted({r[1] for r in res.rows} - {"Total"})
    for col in ("children", "girls"):
        j = [c.name for c in res.columns].index(col)
        v = np.zeros((len(teams), len(sexes)))                 # absent rows are zeros (the attacker knows this)
        status = np.zeros(v.shape, dtype=np.int8)
        for r in res.rows:
            a, b = teams.index(r[0]), sexes.index(r[1])
            if r[j] == "c":
                status[a, b] = 1
                v[a, b] = 1                                      # placeholder: hidden values do not enter the LP
            else:
                v[a, b] = r[j]
        rels = [flat_relations(len(teams)), flat_relations(len(sexes))]
        # published slices must add up (a cube, not unrelated numbers) where nothing is hidden
        assert audit_table(v, status, rels, rs, full=True) == []
        assert (status != PUBLISHED).sum() >= 2 or (status != PUBLISHED).sum() == 0


@pytest.mark.functional
def test_partner_gets_the_stricter_rule_set_and_no_objectors(env):
    gate, _, _ = env
    res = gate.query(PAT, "children_by_team_sex", {}, path="test")
    assert res.ruleset == "partner" and res.population == "no_objectors"
    # 10 children without objectors: 10 is inside partner's 1..10, so even the grand total is hidden
    assert cell(res, team="Total", sex="Total")["children"] == "c"


@pytest.mark.functional
def test_planning_counts_leave_objectors_out(env):
    gate, _, _ = env
    res = gate.query(BEA, "children_by_team_sex", {}, path="test")
    all_ = gate.query(SAM, "children_by_team_sex", {}, path="test")
    # T02 has C05-C10 = 6 children (shown to the service manager); without the objector C08 it is 5 -> c
    assert cell(all_, team="T02", sex="Total")["children"] == 6
    assert cell(res, team="T02", sex="Total")["children"] == "c"
    assert res.population == "no_objectors" and all_.population == "all"
    # girls are unaffected (both objectors are boys): 7
    assert cell(res, team="Total", sex="Total")["girls"] == 7


# ---------------------------------------------------------------------------------------------- row tiers


@pytest.mark.functional
def test_team_manager_sees_only_own_team_named(env):
    gate, _, _ = env
    res = gate.query(TARA, "caseload", {}, path="test")
    ids = [r[0] for r in res.rows]
    # allocated to T01 on 1 June 2025: C01-C04 (C11's allocation ended 1 May 2025)
    assert ids == ["C01", "C02", "C03", "C04"]
    names = [c.name for c in res.columns]
    assert "given_name" in names and res.rows[0][names.index("given_name")] == "Given1"
    assert "note" not in names                                 # no classification: never shown


@pytest.mark.functional
def test_social_worker_sees_own_caseload_then_emergency_child(env):
    gate, clock, _ = env
    assert [r[0] for r in gate.query(WILL, "caseload", {}, path="test").rows] == ["C01", "C02", "C03"]
    with pytest.raises(Refusal, match="reason"):
        gate.grant_emergency(WILL, "C09", "", minutes=30)
    expires = gate.grant_emergency(WILL, "C09", "Child presented at A&E out of hours", minutes=30)
    assert expires == NOW + timedelta(minutes=30)
    assert [r[0] for r in gate.query(WILL, "caseload", {}, path="test").rows] == ["C01", "C02", "C03", "C09"]
    # another worker does not inherit Will's emergency access: Wendy (SW003) has C05-C08, not C09 (SW004)
    assert [r[0] for r in gate.query(WENDY, "caseload", {}, path="test").rows] == ["C05", "C06", "C07", "C08"]
    clock.now = NOW + timedelta(minutes=31)
    assert [r[0] for r in gate.query(WILL, "caseload", {}, path="test").rows] == ["C01", "C02", "C03"]
    em = gate.trail.frame().filter(event="emergency_access", outcome="allowed")
    assert em.height == 1 and em["emergency_reason"][0] == "Child presented at A&E out of hours"


@pytest.mark.functional
def test_pseudonymised_rows_for_planning(env):
    gate, _, _ = env
    res = gate.query(BEA, "caseload", {}, path="test")
    names = [c.name for c in res.columns]
    assert set(names) == {"child_id", "postcode", "dob", "sex", "ethnicity", "worker"}
    key = KEY_ENV["CSC_PSEUDONYM_KEY_PLANNING"].encode()
    expected = {pseudonym(c, key) for c in ALL_CHILDREN - OBJECTORS}
    assert {r[0] for r in res.rows} == expected                # objectors C03 and C08 left out
    # C01: worker SW001 -> keyed pseudonym. Its dob (2015-01-10 -> month 2015-01) and postcode ('LS1 1AB' ->
    # district LS1) are coarsened and then withheld by k-anonymity (k = 5; anonymity.yml withholds postcode, then
    # dob, then ethnicity, then sex): every child's postcode and month of birth differ, so all are withheld;
    # by (ethnicity, sex) WBRI/F = C01 C02 C05 C06 C09 C11 (6) keep theirs; C07 (MWBC, F), C04 (BAFR, M) and
    # C10 C12 (WBRI, M) lose ethnicity, then (F) C07 alone and (M) C04 C10 C12 (3) lose sex too.
    by_child = {r[0]: dict(zip(names, r, strict=True)) for r in res.rows}
    row = by_child[pseudonym("C01", key)]
    assert row["dob"] is None and row["postcode"] is None and row["worker"] == pseudonym("SW001", key)
    assert (row["sex"], row["ethnicity"]) == ("F", "WBRI")
    for c in ("C04", "C07", "C10", "C12"):
        assert (by_child[pseudonym(c, key)]["sex"], by_child[pseudonym(c, key)]["ethnicity"]) == (None, None)
    assert sum(r["sex"] == "F" for r in by_child.values()) == 6
    # withheld: 10 postcodes + 10 months + 4 ethnicities + 4 sexes, for all 10 children; and the answer says so
    assert "k-anonymity (k = 5) on postcode, dob, ethnicity, sex: 28 value(s) withheld for 10 child(ren)" \
        in " ".join(res.notes)


@pytest.mark.functional
def test_pseudonym_key_missing_is_refused(env, tmp_path):
    gate, _, _ = env
    gate.env = {}
    with pytest.raises(Refusal, match="no pseudonym key for purpose 'planning'"):
        gate.query(BEA, "caseload", {}, path="test")
    with pytest.raises(Refusal, match="no pseudonym key"):
        gate.planning_mart(BEA)


@pytest.mark.functional
def test_planning_mart_is_pseudonymised_coarsened_and_objector_free(env):
    gate, _, _ = env
    mart = gate.planning_mart(BEA)
    key = KEY_ENV["CSC_PSEUDONYM_KEY_PLANNING"].encode()
    assert "objection" not in mart and "data_quality" not in mart
    assert set(mart["child"]["child_id"]) == {pseudonym(c, key) for c in ALL_CHILDREN - OBJECTORS}
    assert set(mart["person_identifier"].columns) == {"child_id", "postcode", "postcode_district"}
    assert "upn" not in mart["child"].columns and mart["child"]["dob"].dtype.is_(mart["child"]["sex"].dtype)
    every_value = {str(v) for f in mart.values() for col in f.columns for v in f[col].to_list()}
    assert not (every_value & (NAMES | NHS | ALL_CHILDREN | {"SW001", "SW003"}))


# ---------------------------------------------------------------------------------------------- every role x query


@pytest.mark.functional
def test_every_role_and_query_respects_tier_scope_and_objections(env):
    gate, _, _ = env
    pol = gate.policy
    scope = {"own_team": {"C01", "C02", "C03", "C04"}, "own_caseload": {"C01", "C02", "C03"}}
    queries = ["children_by_team_sex", "caseload"]
    for (role_name, role), q in itertools.product(pol.roles.items(), queries):
        for purpose, grant in role.grants.items():
            p = P(f"u-{role_name}", role_name, purpose, ["T01"], "SW001")
            try:
                res = gate.query(p, q, {}, path="test")
            except Refusal:
                continue
            values = {str(v) for r in res.rows for v in r}
            if grant.tier != "identifiable":
                assert not (values & (NAMES | NHS | ALL_CHILDREN)), (role_name, purpose, q)
            if grant.tier == "aggregate":
                assert all(c.kind != "dimension" or c.name in ("team", "sex") for c in res.columns)
            if grant.tier == "identifiable" and q == "caseload":
                assert {r[0] for r in res.rows} <= scope[grant.scope], (role_name, purpose)
            if pol.purposes[purpose].exclude_objectors:
                assert res.population == "no_objectors"
                assert not (values & OBJECTORS)
    entries = gate.trail.frame()
    assert entries.height >= len(pol.roles) * len(queries)


@pytest.mark.functional
def test_no_cache_cross_talk(env):
    gate, _, _ = env
    a = gate.query(TARA, "caseload", {}, path="test")
    b = gate.query(TOM, "caseload", {}, path="test")
    assert [r[0] for r in a.rows] == ["C01", "C02", "C03", "C04"]
    assert [r[0] for r in b.rows] == ["C05", "C06", "C07", "C08", "C09", "C10"]
    assert a.principal.user == "tara" and b.principal.user == "tom"
    s = gate.query(SAM, "children_by_team_sex", {}, path="test")
    p = gate.query(PAT, "children_by_team_sex", {}, path="test")
    assert cell(s, team="T02", sex="Total")["children"] == 6     # dfe: 6 is shown
    assert cell(p, team="T02", sex="Total")["children"] == "c"   # partner: 1..10 hidden
    # the same question again (served from cache) is still recorded
    before = gate.trail.frame().height
    gate.query(TARA, "caseload", {}, path="test")
    assert gate.trail.frame().height == before + 1


@pytest.mark.functional
@pytest.mark.parametrize("principal,query,message", [
    (P("x", "admin", "service_management"), "children_by_team_sex", "unknown role 'admin'"),
    (P("x", "service_manager", "marketing"), "children_by_team_sex", "unknown purpose 'marketing'"),
    (P("x", "service_manager", "direct_care"), "children_by_team_sex", "may not act under the purpose"),
    (SAM, "no_such_query", "unknown query 'no_such_query'"),
    (SAM, "caseload", "counts only"),
    (WILL, "children_by_team_sex", "authority-wide count"),
    (P("x", "social_worker", "direct_care", ["T01"]), "caseload", "no worker id"),
    (P("x", "team_manager", "direct_care"), "caseload", "no team"),
])
def test_refusals_are_clear_and_recorded(env, principal, query, message):
    gate, _, _ = env
    with pytest.raises(Refusal, match=message):
        gate.query(principal, query, {}, path="test")
    last = gate.trail.frame().tail(1)
    assert last["outcome"][0] == "refused" and message.split("'")[0] in last["reason"][0]


@pytest.mark.functional
def test_unknown_parameter_refused(env):
    gate, _, _ = env
    with pytest.raises(Refusal, match="no parameter 'team_id'"):
        gate.query(SAM, "children_by_team_sex", {"team_id": "T01"}, path="test")


@pytest.mark.functional
def test_audit_failure_means_nothing_is_shown(env, tmp_path):
    gate, _, _ = env
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    gate.trail = AuditTrail(blocker / "audit.duckdb")          # cannot be created: a file is in the way
    with pytest.raises(Refusal, match="audit trail could not record"):
        gate.query(SAM, "children_by_team_sex", {}, path="test")


@pytest.mark.functional
def test_choices_show_only_what_the_principal_may_see(env):
    gate, _, _ = env
    assert gate.choices(SAM, "team") == ["T01", "T02"]
    assert gate.choices(P("t", "team_manager", "direct_care", ["T01"]), "team") == ["T01"]
    assert gate.choices(SAM, "census_year") == [2025]
    assert gate.choices(SAM, "sex", {"query": "children_by_team_sex"}) == ["F", "M"]
    assert gate.choices(SAM, "team", {"query": "children_by_team_sex"}) == ["T01", "T02"]


@pytest.mark.functional
def test_identity_claims_map_to_principals(env):
    from dashboard.policy import persona_principals, principals_from_claims

    gate, _, _ = env
    ps = principals_from_claims(gate.policy, {"email": "amy@council.gov.uk", "roles": ["CSC.TeamManager"],
                                              "teams": ["CSC.Team.T01", "CSC.Team.T99"]})
    assert [(p.role, p.purpose, p.teams) for p in ps] == [
        ("team_manager", "service_management", ("T01",)), ("team_manager", "direct_care", ("T01",))]
    assert principals_from_claims(gate.policy, {"email": "x@y", "roles": ["Global.Admin"]}) == []
    assert [p.worker_id for p in persona_principals(gate.policy, "will")] == ["SW01077"]
    assert persona_principals(gate.policy, "nobody") == []
