"""The analyst's SQL workbench: what an attacker at the SQL prompt sees, with and without the parser pre-check.

Every refusal is checked twice: with the friendly pre-check (DuckDB's parser) and with it switched off, where
only the locked DuckDB instance stands in the way. After each refusal a good query must still work.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from dashboard.audit import AuditTrail
from dashboard.policy.model import load_policy
from dashboard.workbench import Library, Limits, Workbench, WorkbenchError, check_output, examples
from dashboard.workbench.library import library_path
from dashboard.workbench.session import grant_for, workbench_purpose
from tests.helpers_workbench import GOOD_ROWS, GOOD_SQL, FakePrincipal, small_mart


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    return AuditTrail(tmp_path / "audit.duckdb")


def open_wb(trail, policy, *, precheck=True, limits=None, user="amy", mart=None) -> Workbench:
    return Workbench(FakePrincipal(user), mart or small_mart(), audit=trail, policy=policy,
                     ruleset=policy.rulesets["dfe"], limits=limits, precheck=precheck)


def last_entry(trail: AuditTrail) -> dict:
    frame = trail.frame()
    return frame.sort("seq").row(-1, named=True)


def assert_still_works(wb: Workbench) -> None:
    res = wb.run(GOOD_SQL)
    assert list(res.frame.iter_rows()) == GOOD_ROWS


# ------------------------------------------------------------------------------------------ attacks
# (sql, what the pre-check says, what the locked engine says when the pre-check is off)
FILES_ENGINE = "cannot read or write files"
ATTACKS = [
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files", FILES_ENGINE, id="read_csv"),
    pytest.param("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto() reads files", FILES_ENGINE,
                 id="read_csv_auto"),
    pytest.param("SELECT * FROM read_text('/etc/passwd')", "read_text() reads files", FILES_ENGINE, id="read_text"),
    pytest.param("SELECT * FROM read_blob('/etc/passwd')", "read_blob() reads files", FILES_ENGINE, id="read_blob"),
    pytest.param("SELECT * FROM read_parquet('/tmp/x.parquet')", "read_parquet() reads files", FILES_ENGINE,
                 id="read_parquet"),
    pytest.param("SELECT * FROM read_json('/etc/passwd')", "read_json() reads files", FILES_ENGINE, id="read_json"),
    pytest.param("SELECT * FROM glob('/etc/*')", "glob() reads files", FILES_ENGINE, id="glob"),
    pytest.param("SELECT * FROM 'x.csv'", "'x.csv' looks like a file path", FILES_ENGINE, id="quoted-csv"),
    # the engine does not even treat a quoted name without an extension as a file: it is an unknown table
    pytest.param("SELECT * FROM '/etc/passwd'", "'/etc/passwd' looks like a file path", "does not exist",
                 id="quoted-passwd"),
    pytest.param("ATTACH '{tmp}/other.duckdb' AS other", "cannot be attached", FILES_ENGINE, id="attach"),
    pytest.param("COPY child TO '{tmp}/out.csv'", "COPY reads or writes files", FILES_ENGINE, id="copy-to"),
    pytest.param("COPY (SELECT * FROM child) TO '{tmp}/out.parquet' (FORMAT parquet)", "COPY reads or writes files",
                 FILES_ENGINE, id="copy-query-to"),
    pytest.param("EXPORT DATABASE '{tmp}/dump'", "EXPORT DATABASE writes files", FILES_ENGINE, id="export-db"),
    pytest.param("INSTALL httpfs", "extensions cannot be installed or loaded", "load extensions", id="install"),
    pytest.param("LOAD httpfs", "extensions cannot be installed or loaded", "load extensions", id="load"),
    pytest.param("SET enable_external_access = true", "settings are fixed", "settings are fixed", id="set"),
    pytest.param("SET threads = 8", "settings are fixed", "settings are fixed", id="set-threads"),
    pytest.param("RESET memory_limit", "settings are fixed", "settings are fixed", id="reset"),
    pytest.param("PRAGMA memory_limit='8GB'", "settings are fixed", "settings are fixed", id="pragma-set"),
    pytest.param("PRAGMA enable_profiling", "PRAGMA reads or changes settings", "settings are fixed",
                 id="pragma"),
    pytest.param("CREATE TABLE child2 AS SELECT * FROM child", "the mart is read-only", "the mart is read-only",
                 id="create"),
    pytest.param("CREATE VIEW v AS SELECT 1", "the mart is read-only", "the mart is read-only", id="create-view"),
    pytest.param("DROP TABLE child", "the mart is read-only", "the mart is read-only", id="drop"),
    pytest.param("INSERT INTO child VALUES ('x', 'M', 1)", "the mart is read-only", "the mart is read-only",
                 id="insert"),
    pytest.param("UPDATE child SET sex = 'F'", "the mart is read-only", "the mart is read-only", id="update"),
    pytest.param("DELETE FROM child", "the mart is read-only", "the mart is read-only", id="delete"),
    pytest.param("SELECT 1; DROP TABLE child", "one statement at a time", "one statement at a time",
                 id="two-statements"),
    pytest.param("SELECT * FROM child; SELECT * FROM episode", "one statement at a time", "one statement at a time",
                 id="two-selects"),
]


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "engine-only"])
@pytest.mark.parametrize(("sql", "pre_says", "engine_says"), ATTACKS)
def test_attack_refused_cleanly_and_workbench_still_works(trail, policy, tmp_path, precheck, sql, pre_says,
                                                         engine_says):
    target = tmp_path / "target"
    target.mkdir()
    sql = sql.format(tmp=target)
    with open_wb(trail, policy, precheck=precheck) as wb:
        with pytest.raises(WorkbenchError) as info:
            wb.run(sql)
        reason = info.value.reason
        assert (pre_says if precheck else engine_says) in reason
        assert "Traceback" not in reason and "root:" not in reason  # no stack, no file content
        # nothing was written where the statement pointed
        assert list(target.iterdir()) == []
        # the refusal is in the trail with the statement text, before anything else happens
        entry = last_entry(trail)
        assert (entry["outcome"], entry["sql"], entry["path"]) == ("refused", sql, "workbench")
        assert (pre_says if precheck else engine_says) in entry["reason"]
        if sql.startswith("CREATE TABLE child2"):
            # the parser names the tables of a refused statement where it can bind it (not DROP/COPY on the
            # locked instance: those are recorded by their text)
            assert "child" in entry["tables_read"]
        # and the mart is intact: the hand-worked answer is unchanged
        assert_still_works(wb)
        assert wb.run("SELECT count(*) AS n FROM child").frame.item() == 12


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "engine-only"])
def test_python_variable_is_not_scanned(trail, policy, precheck):
    # a frame that exists in this very frame of the caller: DuckDB's replacement scan would find it by name
    secret_frame = pl.DataFrame({"nhs_number": ["9434765919"]})
    assert secret_frame.height == 1
    with open_wb(trail, policy, precheck=precheck) as wb:
        with pytest.raises(WorkbenchError) as info:
            wb.run("SELECT * FROM secret_frame")
        assert ("no table 'secret_frame' in your mart" if precheck else "does not exist") in info.value.reason
        assert "9434765919" not in info.value.reason
        assert_still_works(wb)


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "engine-only"])
def test_long_cross_join_is_stopped_by_the_time_limit(trail, policy, precheck):
    # 10^12 rows: hours of work. The limit is short for the test; the interrupt comes from the timer.
    with open_wb(trail, policy, precheck=precheck, limits=Limits(time_limit_s=0.5)) as wb:
        with pytest.raises(WorkbenchError) as info:
            wb.run("SELECT count(*) FROM range(1000000) a, range(1000000) b")
        assert "time limit of 0.5 s" in info.value.reason
        assert last_entry(trail)["outcome"] == "refused"
        assert_still_works(wb)


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "engine-only"])
def test_query_that_would_exhaust_memory_fails_cleanly(trail, policy, precheck):
    # 50 million BIGINTs in one list is 400 MB: over a 64MB limit, and nothing may spill to disk
    with open_wb(trail, policy, precheck=precheck, limits=Limits(memory_limit="64MB")) as wb:
        with pytest.raises(WorkbenchError) as info:
            wb.run("SELECT list(i) AS l FROM range(50000000) t(i)")
        assert "memory limit (64MB)" in info.value.reason
        assert_still_works(wb)


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "engine-only"])
def test_instance_metadata_names_no_file_that_exists(trail, policy, precheck, tmp_path):
    with open_wb(trail, policy, precheck=precheck) as wb:
        text = ""
        for sql in ("SELECT * FROM duckdb_databases()", "SELECT name, value FROM duckdb_settings()"):
            frame = wb.run(sql).frame
            text += " ".join(str(v) for row in frame.select(pl.col(pl.String)).iter_rows() for v in row)
        # the mart file was unlinked as soon as it was opened: no path the instance shows leads to data
        paths = {w.strip("[]',\"") for w in text.split() if w.strip("[]',\"").startswith("/")}
        assert paths, "expected at least the (removed) mart path to be listed"
        for p in paths:
            assert not Path(p).exists() or Path(p).is_dir() and not any(Path(p).iterdir()), p
        assert "warehouse" not in text


def test_create_temp_objects_stay_in_own_instance_between_two_analysts_in_threads(trail, policy):
    # engine-only, so temp tables can be made at all; each analyst's mart holds different children
    a = open_wb(trail, policy, precheck=False, user="amy", mart=small_mart(sex="M"))
    b = open_wb(trail, policy, precheck=False, user="bob", mart=small_mart(sex="F"))
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def analyst(wb: Workbench, mine: str, name: str, other: str) -> None:
        try:
            barrier.wait()
            wb.run(f"CREATE TEMP TABLE {name} AS SELECT * FROM child")
            for _ in range(5):
                sexes = {r[0] for r in wb.run("SELECT DISTINCT sex FROM child").frame.iter_rows()}
                if sexes != {mine}:
                    errors.append(f"{name} saw {sexes}")
                if wb.run(f"SELECT count(*) AS n FROM {name}").frame.item() != 12:
                    errors.append(f"{name} lost its own temp table")
            time.sleep(0.05)  # both temp tables now exist; the other's must still be invisible
            try:
                wb.run(f"SELECT * FROM {other}")
                errors.append(f"{name} could read {other}")
            except WorkbenchError as e:
                if "does not exist" not in e.reason:
                    errors.append(e.reason)
        except Exception as e:  # noqa: BLE001 - reported through the list, asserted below
            errors.append(repr(e))

    ta = threading.Thread(target=analyst, args=(a, "M", "amy_tmp", "bob_tmp"))
    tb = threading.Thread(target=analyst, args=(b, "F", "bob_tmp", "amy_tmp"))
    ta.start()
    tb.start()
    ta.join(60)
    tb.join(60)
    a.close()
    b.close()
    assert errors == []


def test_one_statement_at_a_time_per_session(trail, policy):
    with open_wb(trail, policy, limits=Limits(time_limit_s=20)) as wb:
        got: list[str] = []
        t = threading.Thread(target=lambda: got.append(_reason(wb, "SELECT count(*) FROM range(1000000) a, "
                                                                   "range(1000000) b")))
        t.start()
        deadline = time.monotonic() + 10
        second = None
        while time.monotonic() < deadline:
            second = _reason(wb, "SELECT 1")
            if second and "one statement at a time" in second:
                break
            time.sleep(0.02)
        wb.interrupt()  # the page's Stop button
        t.join(30)
        assert second is not None and "one statement at a time" in second
        assert got == ["stopped at your request"]
        assert_still_works(wb)


def _reason(wb, sql) -> str | None:
    try:
        wb.run(sql)
    except WorkbenchError as e:
        return e.reason
    return None


# ------------------------------------------------------------------------------------------ results and audit
def test_awkward_result_types_give_clean_messages(trail, policy):
    with open_wb(trail, policy) as wb:
        res = wb.run("SELECT 1 AS a, 2 AS a")
        assert res.frame.columns == ["a", "a_2"] and res.frame.row(0) == (1, 2)
        with pytest.raises(WorkbenchError, match="cast it to VARCHAR"):
            wb.run("SELECT INTERVAL 3 DAY AS i")
        assert wb.run("SELECT (INTERVAL 3 DAY)::VARCHAR AS i").frame.item() == "3 days"
        with pytest.raises(WorkbenchError, match="could not parse"):
            wb.run("SELEC 1")
        with pytest.raises(WorkbenchError, match="no SQL to run"):
            wb.run("   ")
        assert_still_works(wb)


def test_row_cap_shows_true_row_count(trail, policy):
    with open_wb(trail, policy, limits=Limits(row_cap=5)) as wb:
        res = wb.run("SELECT * FROM child ORDER BY child_id")
        assert (res.frame.height, res.row_count, res.truncated) == (5, 12, True)
        assert res.frame["child_id"].to_list() == ["p00", "p01", "p02", "p03", "p04"]
        # 12 x 12 = 144 rows counted while only 5 are kept
        res = wb.run("SELECT a.child_id FROM child a, child b")
        assert (res.frame.height, res.row_count) == (5, 144)
        assert last_entry(trail)["rows"] == 144


def test_audit_entry_names_statement_tables_columns_before_result(trail, policy):
    with open_wb(trail, policy) as wb:
        sql = ("WITH e AS (SELECT child_id FROM episode WHERE place = 'U1') "
               "SELECT c.sex, count(*) AS n FROM child c JOIN e USING (child_id) WHERE c.age > 1 GROUP BY c.sex")
        res = wb.run(sql)
        entry = last_entry(trail)
        assert entry["seq"] == res.audit_seq
        assert (entry["sql"], entry["outcome"], entry["path"], entry["event"]) == (sql, "allowed", "workbench", "sql")
        assert (entry["user"], entry["role"], entry["purpose"], entry["tier"]) == ("amy", "bi_analyst", "planning",
                                                                                     "pseudonymised")
        # the CTE name e is not a table; episode and child are
        assert sorted(entry["tables_read"]) == ["child", "episode"]
        # episode: child_id (join) and place (filter); child: child_id (join), sex (output), age (filter).
        assert sorted(entry["columns_read"]) == ["child.age", "child.child_id", "child.sex", "episode.child_id",
                                                 "episode.place"]
        assert json.loads(entry["extra"])["columns_source"] == "explain"
        # U1 episodes are p00,p02,p04,p06 (all M); ages 0,2,4,0 -> age > 1: p02, p04 -> M 2
        assert list(res.frame.iter_rows()) == [("M", 2)]
        assert entry["rows"] == 1
        # a table the optimiser never scans is still recorded as named by the statement
        wb.run("SELECT count(*) AS n FROM episode WHERE false")
        assert last_entry(trail)["tables_read"] == ["episode"]


def test_no_result_when_the_audit_cannot_be_written(tmp_path, policy):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with open_wb(AuditTrail(blocker / "audit.duckdb"), policy) as wb:
        with pytest.raises(WorkbenchError) as info:
            wb.run(GOOD_SQL)
        assert "audit trail cannot be written" in info.value.reason


def test_workbench_needs_an_audit_trail(policy):
    with pytest.raises(WorkbenchError, match="needs an audit trail"):
        Workbench(FakePrincipal("amy"), small_mart(), audit=None, policy=policy)


# ------------------------------------------------------------------------------------------ who gets one
@pytest.mark.parametrize(("role", "purpose"), [("service_manager", "service_management"),
                                               ("social_worker", "direct_care"), ("partner", "planning"),
                                               ("team_manager", "direct_care")])
def test_roles_without_pseudonymised_tier_get_no_workbench(policy, role, purpose):
    with pytest.raises(WorkbenchError, match="only for the pseudonymised tier"):
        grant_for(policy, FakePrincipal("x", role=role, purpose=purpose))
    with pytest.raises(WorkbenchError, match="no pseudonymised tier"):
        workbench_purpose(policy, role, None)


def test_unknown_role_and_purpose_refused(policy):
    with pytest.raises(WorkbenchError, match="unknown role 'wizard'"):
        grant_for(policy, FakePrincipal("x", role="wizard"))
    with pytest.raises(WorkbenchError, match="may not act under purpose 'direct_care'"):
        grant_for(policy, FakePrincipal("x", role="bi_analyst", purpose="direct_care"))
    assert workbench_purpose(policy, "bi_analyst", None) == "planning"


# ------------------------------------------------------------------------------------------ schema browser
def test_schema_browser_lists_mart_tables_with_meaning_and_classification(trail, policy):
    docs = {("child", "sex"): "one coding for every year: M, F or U"}
    wb = Workbench(FakePrincipal("amy"), small_mart(), audit=trail, policy=policy, docs=docs)
    with wb:
        tables = {t.name: t for t in wb.schema()}
    assert sorted(tables) == ["child", "episode"]
    assert (tables["child"].rows, tables["episode"].rows) == (12, 8)
    cols = {c.name: c for c in tables["child"].columns}
    assert [c.name for c in tables["child"].columns] == ["child_id", "sex", "age"]
    assert cols["sex"].meaning == "one coding for every year: M, F or U"
    # sex is a key variable of k-anonymity (access_policies/anonymity.yml): the browser says what that means
    assert cols["sex"].classification == "ordinary; key variable: empty where fewer than 5 children share the values"
    assert cols["sex"].type == "VARCHAR"
    assert cols["child_id"].classification == "direct_identifier (keyed pseudonym)"
    assert "keyed pseudonym" in cols["child_id"].meaning
    # a column the policy does not classify says so (child.age is not a warehouse column)
    assert cols["age"].classification == "unclassified"


# ------------------------------------------------------------------------------------------ output checking
def test_export_of_grouped_counts_is_suppressed_under_the_role_ruleset(policy):
    # dfe: 1..5 -> 'c', 0 shown, rates beside a hidden count hidden too
    frame = pl.DataFrame({"team": ["A", "B", "C", "D"], "children": [0, 3, 12, 6],
                          "pct": [0.0, 50.0, 25.0, 10.0]})
    out = check_output(frame, policy.rulesets["dfe"])
    assert out.rows == [["A", 0, 0.0], ["B", "c", "c"], ["C", 12, 25.0], ["D", 6, 10.0]]
    assert out.suppressed == 1
    assert "dfe" in out.note and "'c'" in out.note
    csv_text = out.to_csv().decode("utf-8-sig")
    assert csv_text.splitlines()[2] == "B,c,c"
    assert "Note: Output checked against the dfe rule-set" in csv_text


def test_export_rounds_and_suppresses_under_nhs_rules(policy):
    # nhs: 1..7 -> '*', others rounded to nearest 5: 12 -> 10, 13 -> 15, 8 -> 10, 0 stays 0
    frame = pl.DataFrame({"census_year": [2024, 2024, 2025, 2025, 2025], "sex": ["F", "M", "F", "M", "U"],
                          "n": [12, 13, 7, 8, 0]})
    out = check_output(frame, policy.rulesets["nhs"])
    assert [r[2] for r in out.rows] == [10, 15, "*", 10, 0]
    # census_year is a grouping column, not a count: 2024 is not rounded
    assert [r[0] for r in out.rows] == [2024, 2024, 2025, 2025, 2025]


def test_summed_counts_are_counts_too(trail, policy):
    with open_wb(trail, policy) as wb:
        # episodes per place summed from per-sex counts: K2 4, U1 4 (HUGEINT from sum) -> both hidden under dfe
        res = wb.run("WITH s AS (SELECT place, c.sex, count(*) AS k FROM episode JOIN child c USING (child_id) "
                     "GROUP BY ALL) SELECT place, sum(k) AS episodes FROM s GROUP BY place ORDER BY place")
        assert wb.export(res).rows == [["K2", "c"], ["U1", "c"]]


def test_single_count_is_checked_too(policy):
    out = check_output(pl.DataFrame({"count_star()": [4]}), policy.rulesets["dfe"])
    assert out.rows == [["c"]]


def test_row_level_and_truncated_results_do_not_leave(policy):
    rows = pl.DataFrame({"child_id": ["p1", "p1", "p2"], "sdq_score": [3, 4, 20]})
    with pytest.raises(WorkbenchError, match="only aggregate tables leave the workbench"):
        check_output(rows, policy.rulesets["dfe"])
    with pytest.raises(WorkbenchError, match="only aggregate tables"):
        check_output(pl.DataFrame({"child_id": ["p1"], "dob_month": ["2015-03"]}), policy.rulesets["dfe"])
    with pytest.raises(WorkbenchError, match="longer than the workbench shows"):
        check_output(pl.DataFrame({"sex": ["F"], "n": [9]}), policy.rulesets["dfe"], truncated=True)


def test_export_through_session_is_audited_with_suppressed_count(trail, policy):
    with open_wb(trail, policy) as wb:
        res = wb.run("SELECT place, count(*) AS children FROM episode GROUP BY place ORDER BY place")
        out = wb.export(res)
        # 8 episodes: K2 x4, U1 x4 -> both 1..5 under dfe
        assert out.rows == [["K2", "c"], ["U1", "c"]]
        entry = last_entry(trail)
        assert (entry["event"], entry["outcome"], entry["cells_suppressed"]) == ("workbench_export", "allowed", 2)
        with pytest.raises(WorkbenchError):
            wb.export(wb.run("SELECT * FROM child"))
        assert (last_entry(trail)["event"], last_entry(trail)["outcome"]) == ("workbench_export", "refused")


# ------------------------------------------------------------------------------------------ saved queries
def test_saved_queries_are_personal_and_hold_no_results(tmp_path):
    amy = Library("amy@council.gov.uk", tmp_path)
    bob = Library("bob", tmp_path)
    amy.save("Boys by age", "SELECT age, count(*) FROM child WHERE sex = 'M' GROUP BY age")
    amy.save("Episodes", "SELECT count(*) FROM episode")
    amy.save("Episodes", "SELECT count(*) AS n FROM episode")  # same title replaces
    assert [q.title for q in amy.list()] == ["Boys by age", "Episodes"]
    assert amy.get("Episodes").sql == "SELECT count(*) AS n FROM episode"
    assert bob.list() == []
    doc = json.loads(amy.path.read_text())
    assert set(doc) == {"user", "queries"}
    assert all(set(q) == {"title", "sql", "saved_at"} for q in doc["queries"])
    amy.delete("Boys by age")
    assert [q.title for q in amy.list()] == ["Episodes"]
    with pytest.raises(WorkbenchError, match="no saved query titled"):
        amy.delete("nope")
    with pytest.raises(WorkbenchError, match="needs a title"):
        amy.save("  ", "SELECT 1")


@pytest.mark.parametrize("user", ["../bob", "..", "a/b", "/etc/passwd", "x\\y"])
def test_library_file_stays_in_the_library_folder(tmp_path, user):
    path = library_path(user, tmp_path)
    assert path.parent == tmp_path
    assert os.sep not in path.name and not path.name.startswith(".")
    Library(user, tmp_path).save("t", "SELECT 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_vetted_queries_are_offered_read_only(tmp_path):
    (tmp_path / "one.sql").write_text(
        "-- title: One\n-- definition: a test measure\n-- source: test\n-- unit: count of children\n"
        "-- columns:\n--   - {name: n, kind: count}\nSELECT count(*) AS n FROM child\n")
    ex = examples(tmp_path)
    assert [(e.name, e.title, e.sql) for e in ex] == [("one", "One", "SELECT count(*) AS n FROM child")]
