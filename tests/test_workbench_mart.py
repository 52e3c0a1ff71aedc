"""The workbench over the real planning mart (policy gate) and the `sql` command end to end.

Fixture warehouse: tests/helpers_policy.py (12 children C01..C12; C03 and C08, both boys, objected).
Worked by hand: the mart's children are the other 10; girls C01 C02 C05 C06 C07 C09 C11 = 7, boys C04 C10 C12 = 3
(the mart shows sex for 6 of them: k-anonymity, worked in test_mart_holds_no_objector_and_answers_by_hand).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dashboard.config import Settings
from dashboard.policy import Gate, Principal
from dashboard.warehouse.coldoc import column_docs
from dashboard.workbench import Workbench, WorkbenchError, bench_workbench
from tests.helpers_policy import CHILDREN, KEY_ENV, OBJECTORS, build_warehouse

SEX_SQL = "SELECT sex, count(*) AS n FROM child GROUP BY sex ORDER BY sex"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = build_warehouse(tmp_path_factory.mktemp("wb-wh") / "warehouse.duckdb")
    con = duckdb.connect(str(path))
    try:
        con.executemany("INSERT INTO column_doc VALUES (?, ?, ?, ?)", column_docs(con))
    finally:
        con.close()
    return path


@pytest.fixture
def gate(warehouse, tmp_path):
    g = Gate.open(Settings(warehouse=warehouse, audit=tmp_path / "audit.duckdb"), env=KEY_ENV)
    yield g
    g.close()


@pytest.fixture
def analyst(gate):
    with Workbench.open(gate, Principal(user="amy", role="bi_analyst", purpose="planning")) as wb:
        yield wb


def test_mart_holds_no_objector_and_answers_by_hand(analyst):
    # k-anonymity (access_policies/anonymity.yml, k = 5; withheld in the order postcode, postcode district, month
    # of birth, ethnicity, ethnicity group, sex), worked on the 10 mart children:
    #   postcodes LS1..LS12 and months of birth all differ: every child alone, so all are withheld;
    #   by (ethnicity, group, sex): WBRI/White/F = C01 C02 C05 C06 C09 C11 (6 >= 5) keep theirs; C07 MWBC/F,
    #   C04 BAFR/M and C10 C12 WBRI/M (2) lose ethnicity, then group (Mixed 1, Black 1, White/M 2), then sex
    #   ((F) C07 alone; (M) C04 C10 C12 = 3 < 5). So 6 girls are shown as girls and 4 children have no sex shown.
    res = analyst.run(SEX_SQL)
    assert list(res.frame.iter_rows()) == [("F", 6), (None, 4)]
    assert analyst.run("SELECT count(*) AS n FROM child").frame.item() == 10
    assert analyst.run("SELECT count(*) AS n FROM cin_episode").frame.item() == 10


def test_no_direct_identifier_in_any_mart_column(analyst, gate):
    raw_ids = {c[0] for c in CHILDREN}
    raw_values = raw_ids | {f"Given{i}" for i in range(1, 13)} | {f"Family{i}" for i in range(1, 13)} | {
        f"{9000000000 + i}" for i in range(1, 13)} | {f"UPN{i:09d}" for i in range(1, 13)} | {"SW001"}
    for table in analyst.schema():
        for col in table.columns:
            cls = gate.policy.columns[(table.name, col.name)]
            # a direct identifier is only ever present as its keyed pseudonym
            assert cls.cls != "direct_identifier" or cls.pseudonymise, f"{table.name}.{col.name}"
            assert not cls.free_text, f"{table.name}.{col.name}"
        frame = analyst.run(f"SELECT * FROM {table.name}").frame
        for name, dtype in frame.schema.items():
            if dtype == pl.String:
                values = set(frame[name].drop_nulls().to_list())
                assert not values & raw_values, f"{table.name}.{name}"
                assert not any("High Street" in v for v in values), f"{table.name}.{name}"
    # the 10 pseudonyms are not the council's ids, and none is an objector's
    ids = analyst.run("SELECT child_id FROM child").frame["child_id"].to_list()
    assert len(ids) == 10 and not set(ids) & raw_ids and not set(ids) & OBJECTORS
    assert "objection" not in {t.name for t in analyst.schema()}


def test_metadata_leaks_no_warehouse_path(analyst, warehouse):
    text = ""
    for sql in ("SELECT * FROM duckdb_databases()", "SELECT name, value FROM duckdb_settings()"):
        frame = analyst.run(sql).frame
        text += " ".join(str(v) for row in frame.select(pl.col(pl.String)).iter_rows() for v in row)
    assert str(warehouse) not in text
    assert str(warehouse.parent) not in text
    assert "warehouse.duckdb" not in text


def test_attack_on_real_mart_leaves_it_working(analyst):
    for sql in ("SELECT * FROM read_csv_auto('/etc/passwd')", "DROP TABLE child", "ATTACH ':memory:' AS x"):
        with pytest.raises(WorkbenchError):
            analyst.run(sql)
        assert list(analyst.run(SEX_SQL).frame.iter_rows()) == [("F", 6), (None, 4)]


def test_schema_browser_meaning_from_column_doc(analyst):
    child = {t.name: t for t in analyst.schema()}["child"]
    sex = {c.name: c for c in child.columns}["sex"]
    assert sex.meaning.startswith("one coding for every year: M, F or U")
    key = "; key variable: empty where fewer than 5 children share the values"
    assert sex.classification == "ordinary" + key
    assert {c.name: c for c in child.columns}["dob"].classification == "quasi_identifier (coarsened to month)" + key
    assert {c.name: c for c in child.columns}["is_disabled"].classification == "special_category"


def test_export_from_real_mart_suppresses_small_counts(analyst):
    # 6 girls shown; the 4 children whose sex k-anonymity withheld are a count of 4, hidden under dfe (1..5 -> c)
    out = analyst.export(analyst.run(SEX_SQL))
    assert out.rows == [["F", 6], [None, "c"]]


# ------------------------------------------------------------------------------------------ subject access
# Hand-worked from the fixture: in the mart (C03 and C08 objected) sex is shown as F for C01 C02 C05 C06 C09 C11
# and withheld by k-anonymity for C04 C07 C10 C12 (see test_mart_holds_no_objector_and_answers_by_hand). Each
# statement's entry names the children whose pseudonymised rows it displayed, however they were displayed, and
# none when the statement hides them.
BOYS = ["C04", "C07", "C10", "C12"]          # the children whose sex is not shown (three boys and C07)
GIRLS = ["C01", "C02", "C05", "C06", "C09", "C11"]


def _statement_entry(gate, res):
    return gate.trail.frame().filter(seq=res.audit_seq).row(0, named=True)


@pytest.mark.parametrize(("sql", "children"), [
    ("SELECT child_id, sex FROM child WHERE sex IS NULL", BOYS),
    ("SELECT child_id AS who FROM child WHERE sex = 'F'", GIRLS),              # renamed column
    ("SELECT sex, list(child_id ORDER BY child_id) AS ids FROM child GROUP BY sex", sorted(BOYS + GIRLS)),
    ("SELECT 'child ' || child_id AS label FROM child WHERE sex IS NULL", BOYS),  # pseudonym inside text
    ("SELECT c FROM child c WHERE sex IS NULL", BOYS),                            # the whole row as a struct
    ("SELECT sex, count(*) AS n FROM child GROUP BY sex", []),                  # aggregate: no child's row shown
    ("SELECT count(DISTINCT child_id) AS n FROM cin_episode", []),
])
def test_statement_entry_names_the_children_behind_the_pseudonyms_it_displayed(gate, analyst, sql, children):
    res = analyst.run(sql)
    e = _statement_entry(gate, res)
    assert (e["event"], e["outcome"]) == ("sql", "allowed")
    assert sorted(e["child_ids"]) == children
    assert not set(OBJECTORS) & set(e["child_ids"])
    # the map stays in Python: the analyst's result and instance never hold a council id
    shown = {str(v) for row in res.frame.iter_rows() for v in row}
    assert not any(cid in v for v in shown for cid in (c[0] for c in CHILDREN))


def test_pseudonym_map_is_not_in_the_analysts_instance(analyst):
    raw = {c[0] for c in CHILDREN}
    tables = analyst.run("SELECT table_name FROM information_schema.tables").frame["table_name"].to_list()
    for t in tables:
        for row in analyst.run(f'SELECT * FROM "{t}"').frame.iter_rows():
            assert not {str(v) for v in row} & raw, t


def test_statement_showing_a_truncated_result_names_only_the_rows_displayed(gate):
    from dashboard.workbench import Limits

    with Workbench.open(gate, Principal(user="amy", role="bi_analyst", purpose="planning"),
                        limits=Limits(row_cap=2)) as wb:
        res = wb.run("SELECT child_id FROM child WHERE sex IS NULL")
    assert res.row_count == 4 and res.frame.height == 2
    assert len(_statement_entry(gate, res)["child_ids"]) == 2      # two of C04 C07 C10 C12 were put on screen
    assert set(_statement_entry(gate, res)["child_ids"]) < set(BOYS)


@pytest.mark.parametrize(("role", "purpose"), [("service_manager", "service_management"),
                                               ("partner", "planning")])
def test_role_without_pseudonymised_tier_is_refused_and_recorded(gate, role, purpose):
    with pytest.raises(WorkbenchError, match="only for the pseudonymised tier"):
        Workbench.open(gate, Principal(user="sam", role=role, purpose=purpose))
    last = gate.trail.frame().sort("seq").row(-1, named=True)
    assert (last["user"], last["outcome"], last["path"]) == ("sam", "refused", "workbench")


# ------------------------------------------------------------------------------------------ the CLI
def cli(warehouse: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **KEY_ENV, "CSC_WAREHOUSE": str(warehouse), "CSC_AUDIT": str(tmp_path / "audit.duckdb"),
           "CSC_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "dashboard", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.functional
def test_cli_sql_json_shape(warehouse, tmp_path):
    r = cli(warehouse, tmp_path, "sql", SEX_SQL, "--as", "bi_analyst", "--user", "amy", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["query"] == SEX_SQL
    assert doc["principal"]["role"] == "bi_analyst" and doc["principal"]["purpose"] == "planning"
    assert doc["ruleset"] == "dfe"
    assert doc["columns"] == [{"name": "sex", "kind": "value"}, {"name": "n", "kind": "value"}]
    assert doc["rows"] == [["F", 6], [None, 4]]          # k-anonymity: see the first test
    assert (doc["row_count"], doc["truncated"]) == (2, False)
    # recorded before it was printed, on the CLI's path
    con = duckdb.connect(str(tmp_path / "audit.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT path, outcome, sql, tables_read FROM audit_entry WHERE event = 'sql'").fetchall()
    finally:
        con.close()
    assert rows == [("cli:sql", "allowed", SEX_SQL, ["child"])]


@pytest.mark.functional
def test_cli_sql_csv(warehouse, tmp_path):
    r = cli(warehouse, tmp_path, "sql", SEX_SQL, "--as", "bi_analyst", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["sex,n", "F,6", ",4"]


@pytest.mark.functional
@pytest.mark.parametrize(("args", "says"), [
    (["SELECT * FROM read_csv('/etc/passwd')", "--as", "bi_analyst"], "read_csv() reads files"),
    (["DROP TABLE child", "--as", "bi_analyst"], "the mart is read-only"),
    (["SELECT 1", "--as", "service_manager"], "no pseudonymised tier"),
    (["SELECT 1", "--as", "wizard"], "unknown role 'wizard'"),
    (["SELECT 1", "--as", "bi_analyst", "--purpose", "direct_care"], "may not act under"),
])
def test_cli_sql_refusals_exit_nonzero_without_traceback(warehouse, tmp_path, args, says):
    r = cli(warehouse, tmp_path, "sql", *args)
    assert r.returncode != 0
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and says in r.stderr
    assert "Traceback" not in r.stderr


def test_bench_workbench_reports_figures(warehouse, monkeypatch, capsys):
    monkeypatch.setenv("CSC_PSEUDONYM_KEY_PLANNING", KEY_ENV["CSC_PSEUDONYM_KEY_PLANNING"])
    figures = bench_workbench(warehouse)
    assert capsys.readouterr() == ("", "")
    assert figures["open_total_s"] > 0 and figures["aggregate_first_s"] > 0
    # the fixture has no looked-after episodes: the typical aggregate has no rows; the mart has 10 children
    assert figures["aggregate_rows"] == 0
    assert figures["mart_tables"] >= 20


# ------------------------------------------------------------------------------------------ one mart, many sessions
# The mart is built once per (warehouse, policy, purpose, key) and each session opens its own locked instance.
MART_CHILDREN = sorted({c[0] for c in CHILDREN} - OBJECTORS)        # C01..C12 without C03 and C08: 10 children


def _ref(value: str, key: str = KEY_ENV["CSC_PSEUDONYM_KEY_PLANNING"]) -> str:
    import hashlib
    import hmac

    return "P" + hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:20]


def _mart_entries(gate, user):
    return gate.trail.frame().filter(user=user, query="planning_mart").sort("seq").rows(named=True)


def test_second_session_reuses_the_mart_but_gets_its_own_instance(gate):
    amy = Principal(user="amy", role="bi_analyst", purpose="planning")
    ben = Principal(user="ben", role="bi_analyst", purpose="planning")
    image_a, map_a = gate.planning_mart_keyed(amy)
    image_b, map_b = gate.planning_mart_keyed(ben)
    assert image_a is image_b and map_a is map_b                 # built once
    # ... but each call was decided and recorded on its own, listing every child in the mart
    for user in ("amy", "ben"):
        (entry,) = _mart_entries(gate, user)
        assert entry["outcome"] == "allowed" and sorted(entry["child_ids"]) == MART_CHILDREN
    from dashboard.workbench import Limits

    with Workbench(amy, image_a, audit=gate.trail, policy=gate.policy, children=map_a) as wa, \
            Workbench(ben, image_b, audit=gate.trail, policy=gate.policy, children=map_b,
                      limits=Limits(memory_limit="256MB")) as wb:
        limit = "SELECT current_setting('memory_limit') AS m"
        assert wa.run(limit).frame.item() != wb.run(limit).frame.item()      # two instances, two settings
        paths = "SELECT path FROM duckdb_databases() WHERE database_name = 'mart'"
        assert wa.run(paths).frame.item() != wb.run(paths).frame.item()
        wa.close()                                                            # one session ends ...
        assert list(wb.run(SEX_SQL).frame.iter_rows()) == [("F", 6), (None, 4)]   # ... the other goes on


def test_a_cached_mart_is_still_refused_to_a_role_without_the_tier(gate):
    from dashboard.policy import Refusal

    gate.planning_mart_keyed(Principal(user="amy", role="bi_analyst", purpose="planning"))
    with pytest.raises(Refusal, match="does not have the pseudonymised tier"):
        gate.planning_mart_keyed(Principal(user="pat", role="partner", purpose="planning"))
    (entry,) = _mart_entries(gate, "pat")
    assert entry["outcome"] == "refused" and not entry["child_ids"]


def test_a_new_key_builds_a_new_mart_with_new_pseudonyms(gate):
    amy = Principal(user="amy", role="bi_analyst", purpose="planning")
    old_image, _ = gate.planning_mart_keyed(amy)
    with Workbench(amy, old_image, audit=gate.trail, policy=gate.policy) as old_session:
        rotated = "rotated-planning-key-9876543210"
        gate.env = {"CSC_PSEUDONYM_KEY_PLANNING": rotated}
        new_image, new_map = gate.planning_mart_keyed(amy)
        assert new_image is not old_image
        assert set(new_image["child"]["child_id"]) == {_ref(c, rotated) for c in MART_CHILDREN}
        assert dict(new_map.items()) == {_ref(c, rotated): c for c in MART_CHILDREN}
        # the session opened under the old key keeps its own instance and its old pseudonyms
        old_ids = set(old_session.run("SELECT child_id FROM child").frame["child_id"])
        assert old_ids == {_ref(c) for c in MART_CHILDREN}


def test_worker_ids_in_the_mart_are_the_keyed_pseudonyms(analyst):
    # allocations left after the objectors C03 (SW001) and C08 (SW003): SW001 C01 C02 C11, SW002 C04,
    # SW003 C05 C06 C07, SW004 C09 C10 (C12 never allocated)
    rows = analyst.run("SELECT worker_id, count(*) AS n FROM allocation GROUP BY ALL").frame.rows()
    assert dict(rows) == {_ref("SW001"): 3, _ref("SW002"): 1, _ref("SW003"): 3, _ref("SW004"): 2}


def test_the_mart_leaves_no_file_and_holds_no_key(gate, analyst):
    key = KEY_ENV["CSC_PSEUDONYM_KEY_PLANNING"].encode()
    from dashboard.policy.pseudonym import hmac_pads

    secrets = [key, *hmac_pads(key).values()]
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "csc-mart-" in target or "csc-wb-" in target:
            found += 1
            # nothing on any file system: the file and its folder went as soon as the mart was written
            assert target.endswith("(deleted)"), target
            data = Path(f"/proc/self/fd/{fd}").read_bytes()
            assert data and not any(s in data for s in secrets)
    assert found >= 1
