"""The gate's protected-cube store, its warm-up and page-sized batches (query_many), on the hand-made warehouse
of tests/helpers_policy.py (12 children, two teams, objectors C03 and C08).

What matters to a user or an attacker: an answer kept for one principal is never handed to a principal whose
rule-set or population differs; every answer, from the store or not, is in the audit trail before it is returned;
a warm-up shows nothing to anybody and so records nothing; a batch whose records cannot be written returns nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

import duckdb
import pytest
from helpers_policy import KEY_ENV, NOW, build_warehouse, write_queries

import dashboard.policy.gate as gate_module
from dashboard.audit import AuditTrail
from dashboard.config import POLICY_DIR, Settings
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


# ---------------------------------------------------------------------------------------------- kept on disk
# A protected cube is kept beside the warehouse file (dashboard/policy/store.py), so a restarted server or a
# one-shot CLI call does not protect it again. What must hold: the kept answer is the one protection gives, it
# is found only for the same warehouse file, query, parameters, rule-set and population, a damaged or swapped
# entry is never served, and every answer is still recorded.


@pytest.fixture
def own(tmp_path):
    """A warehouse of this test's own (the disk store is per warehouse file), and its queries."""
    return build_warehouse(tmp_path / "w.duckdb"), write_queries(tmp_path / "q")


def open_gate(wh, q, audit, **kw):
    return Gate.open(Settings(wh, audit), queries_dir=q, env=KEY_ENV, clock=lambda: NOW, **kw)


def ask(wh, q, audit, p, **kw):
    """One principal's answer from a gate of its own (as a one-shot CLI call or a restarted server gets it)."""
    g = open_gate(wh, q, audit, **kw)
    try:
        return g.query(p, Q, {}, path="test")
    finally:
        g.close()


def kept_files(wh):
    return sorted((wh.parent / f"{wh.name}.protected").glob("*/*.json"))


def no_protection(*_a, **_k):
    raise AssertionError("protected again: the kept cube was not used")


def test_a_new_gate_on_the_same_file_answers_from_disk_and_still_records_it(own, tmp_path, monkeypatch):
    wh, q = own
    g1 = open_gate(wh, q, tmp_path / "a1.duckdb")
    first = g1.query(SAM, Q, {}, path="test")
    g1.close()
    assert len(kept_files(wh)) == 1
    # a restarted server: protection and the query itself are never run again for that cube
    monkeypatch.setattr(gate_module, "protect_frame", no_protection)
    monkeypatch.setattr(gate_module, "run_query", no_protection)
    g2 = open_gate(wh, q, tmp_path / "a2.duckdb")
    try:
        again = g2.query(AMY, Q, {}, path="page:again")
        assert again.rows == first.rows and again.hidden == first.hidden
        assert cell(again, "T02", "Total") == 6
        assert again.principal.user == "amy" and again.principal.teams == ("T01",)
        assert entries(g2)["user"].to_list() == ["amy"]                # recorded like any answer
    finally:
        g2.close()


def test_a_rebuilt_warehouse_never_gets_the_old_files_answers(own, tmp_path):
    wh, q = own
    assert cell(ask(wh, q, tmp_path / "a1.duckdb", SAM), "Total", "Total") == 12
    # a rebuild writes a new file and renames it over the old one; here C10 (T02, M) has left. By hand: 12 - 1
    # = 11 children; the same build record (same code, the fixture stores no sources), only the file differs
    new = build_warehouse(tmp_path / "new.duckdb")
    con = duckdb.connect(str(new))
    con.execute("DELETE FROM allocation WHERE child_id = 'C10'")
    con.execute("DELETE FROM cin_episode WHERE child_id = 'C10'")
    con.execute("DELETE FROM child WHERE child_id = 'C10'")
    con.close()
    os.replace(new, wh)
    assert cell(ask(wh, q, tmp_path / "a2.duckdb", SAM), "Total", "Total") == 11


def test_a_damaged_or_swapped_entry_is_never_served(own, tmp_path):
    wh, q = own
    assert cell(ask(wh, q, tmp_path / "a1.duckdb", SAM), "T02", "Total") == 6       # dfe, all children
    assert cell(ask(wh, q, tmp_path / "a1.duckdb", PAT), "T02", "Total") == "c"     # partner: 5 is hidden
    sam_file, pat_file = kept_files(wh)[0], kept_files(wh)[1]
    # swapped: each file now holds the other principal's cube (an attacker hoping the partner gets 6)
    a, b = sam_file.read_bytes(), pat_file.read_bytes()
    assert a != b
    sam_file.write_bytes(b)
    pat_file.write_bytes(a)
    assert cell(ask(wh, q, tmp_path / "a2.duckdb", PAT), "T02", "Total") == "c"
    assert cell(ask(wh, q, tmp_path / "a2.duckdb", SAM), "T02", "Total") == 6
    # damaged: a hidden cell's symbol replaced by a number in the kept text (its checksum no longer matches)
    for f in kept_files(wh):
        damaged = f.read_bytes().replace(b'\\"c\\"', b"5")
        assert damaged != f.read_bytes() or f == sam_file      # the partner's kept cube held a "c"
        f.write_bytes(damaged)
    assert cell(ask(wh, q, tmp_path / "a3.duckdb", PAT), "T02", "Total") == "c"


def test_a_changed_rule_set_does_not_reuse_the_cube_kept_under_the_old_one(own, tmp_path):
    wh, q = own
    assert cell(ask(wh, q, tmp_path / "a1.duckdb", SAM), "T02", "Total") == 6
    # the IG officer raises dfe's threshold from 5 to 6: T02's 6 children are now a small number
    policy = shutil.copytree(POLICY_DIR, tmp_path / "policy")
    rules = policy / "rulesets.yml"
    rules.write_text(rules.read_text().replace("    suppress_max: 5\n", "    suppress_max: 6\n", 1))
    assert cell(ask(wh, q, tmp_path / "a2.duckdb", SAM, policy_dir=policy), "T02", "Total") == "c"


def test_kept_cubes_are_readable_by_their_owner_only_and_can_be_turned_off(own, tmp_path):
    wh, q = own
    ask(wh, q, tmp_path / "a1.duckdb", SAM, persist=False)
    assert kept_files(wh) == []
    ask(wh, q, tmp_path / "a2.duckdb", SAM)
    (f,) = kept_files(wh)
    assert f.stat().st_mode & 0o077 == 0 and f.parent.stat().st_mode & 0o077 == 0


def test_protect_command_keeps_every_page_cube_so_a_later_query_does_not_protect(own, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from dashboard.cli import app

    wh, q = own
    for k, v in KEY_ENV.items():
        monkeypatch.setenv(k, v)
    base = ["--warehouse", str(wh), "--audit", str(tmp_path / "audit.duckdb")]
    r = CliRunner().invoke(app, [*base, "protect", "--no-progress", "--queries", str(q)])
    assert r.exit_code == 0, r.output
    # one aggregate query in one census year x the three (rule-set, population) pairs the grants use
    assert "Protected 3 cubes" in r.stdout and "(3 worked out now" in r.stdout
    assert len(kept_files(wh)) == 3
    assert not (tmp_path / "audit.duckdb").exists()                  # nothing shown, nothing recorded
    monkeypatch.setattr(gate_module, "protect_frame", no_protection)
    r = CliRunner().invoke(app, [*base, "protect", "--no-progress", "--queries", str(q)])
    assert r.exit_code == 0 and "(0 worked out now" in r.stdout       # a second run reads what is kept
    r = CliRunner().invoke(app, [*base, "query", Q, "--as", "partner", "--queries", str(q), "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = {(row[0], row[1]): row[2] for row in json.loads(r.stdout)["rows"]}
    assert rows[("T02", "Total")] == "c"                              # partner: 5 (C08 objected) is hidden


def test_serve_warms_up_in_its_own_process_into_the_kept_store(own, tmp_path):
    from dashboard.cli.app_cmds import start_disk_warm_up
    from dashboard.config import Settings as S

    wh, _q = own
    g = start_disk_warm_up(S(wh, tmp_path / "audit.duckdb"))
    assert g is not None
    try:
        g._warm_thread.join(120)
        assert g.warm_status["state"] == "done"
        # every cube the pages offer (the real named queries x census years x rule-set/population pairs)
        assert len(kept_files(wh)) == g.warm_status["total"] > 0
    finally:
        g.close()
    assert not (tmp_path / "audit.duckdb").exists()                  # nothing shown, nothing recorded
    # a store that cannot be made (a file is in the way of its folder): no warm-up here (the app then warms its
    # own memory instead)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(wh, other / "w.duckdb")
    (other / "w.duckdb.protected").write_text("not a folder")
    assert start_disk_warm_up(S(other / "w.duckdb", tmp_path / "audit2.duckdb")) is None
