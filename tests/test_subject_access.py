"""Every view of a child, through any path, reaches that child's subject access report.

The tiny authority of tests/helpers_app.py (hand-countable), in a real warehouse file, plus one objection:
C005 (T01, worker SW001) has a family objection to use beyond direct care. A real AuditTrail in tmp_path.

Hand-worked from helpers_app's docstring (census year ending 31 March 2025, every child has an open CIN episode):
- team T01 = C001..C014 (14 children), T02 = C015..C017 (3); worker SW001 = C001..C007, SW002 = C008..C014.
- C003: T01, SW001, no objection. C015: T02.
- planning (bi_analyst) sees 17 - 1 objector = 16 children, never C005.

Each access is done ONCE in a module fixture by its own user, so every trail entry can be told apart by user (and
path); the tests then read the trail, the Python subject access report and `csc-dashboard audit child`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from helpers_app import APP, AUTH, MAIN, PLANNING_KEY, T01, T02, make_warehouse
from typer.testing import CliRunner

from dashboard.audit import AuditTrail, reports
from dashboard.cli import app as cli
from dashboard.config import Settings
from dashboard.policy import Gate, Principal, Refusal

pytestmark = pytest.mark.functional

TIMEOUT = 300
KEY = PLANNING_KEY
CHILD = "C003"          # T01, caseload of SW001
OBJECTOR = "C005"       # T01, caseload of SW001, family objected to use beyond direct care
ALL = T01 + T02         # C001..C017
SW001 = T01[:7]
# lawful bases as written (by hand) from access_policies/purposes.yml
DIRECT_CARE_BASIS = ("Art 6(1)(e) public task", "Art 9(2)(g)", "para 18 (safeguarding")
PLANNING_BASIS = ("Art 6(1)(e) public task", "Art 9(2)(j) archiving, research and statistics")
runner = CliRunner()


# ------------------------------------------------------------------------------------------ the authority
@dataclass
class World:
    dir: Path
    warehouse: Path
    audit: Path

    def settings(self, audit: Path | None = None) -> Settings:
        return Settings(warehouse=self.warehouse, audit=audit or self.audit)

    def trail(self) -> AuditTrail:
        return AuditTrail(self.audit)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("subject_access")
    wh = make_warehouse(d / "warehouse.duckdb")
    con = duckdb.connect(str(wh))
    try:
        con.execute("INSERT INTO objection VALUES (?, DATE '2024-02-01', 'non_care')", [OBJECTOR])
    finally:
        con.close()
    mp = pytest.MonkeyPatch()
    mp.setenv("CSC_WAREHOUSE", str(wh))
    mp.setenv("CSC_AUDIT", str(d / "audit.duckdb"))
    mp.setenv("CSC_PSEUDONYM_KEY_PLANNING", KEY)
    mp.delenv("CSC_DEMO", raising=False)
    mp.delenv("CSC_AUDIT_KEY", raising=False)
    yield World(d, wh, d / "audit.duckdb")
    mp.undo()


def run_cli(*args: str, audit: Path | None = None):
    opts = ["--audit", str(audit)] if audit else []
    return runner.invoke(cli, [*opts, *args], env={"CSC_USER": "ivy.ig"})


def query_cli(user: str, role: str, *, team: str | None = None, purpose: str | None = None,
              worker: str | None = None, name: str = "children_list", audit: Path | None = None):
    args = ["query", name, "--as", role, "--user", user, "--format", "json"]
    args += ["--team", team] if team else []
    args += ["--purpose", purpose] if purpose else []
    args += ["--worker", worker] if worker else []
    return run_cli(*args, audit=audit)


def ids_in(payload: dict) -> list[str]:
    j = [c["name"] for c in payload["columns"]].index("child_id")
    return sorted(r[j] for r in payload["rows"])


def auth_user(*roles: str, teams=(), email: str) -> dict:
    return {"is_logged_in": True, "email": email, "name": "Test Person", "roles": list(roles),
            "teams": [f"CSC.Team.{t}" for t in teams], "exp": time.time() + 3600}


def app_run(u: dict):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.user = u
    return at.run()


def children_page(at, *, direct_care: bool):
    from dashboard.app import nav

    if direct_care:
        at.sidebar.selectbox(key="acting_as").set_value("team_manager/direct_care")
        at.run()
    at.switch_page(str(nav.BY_KEY["children"].path.relative_to(APP)))
    return at.run()


class _Column:
    """Stands in for a Streamlit column: keeps the `data` callable a download button would call on click."""

    def __init__(self, sink: dict) -> None:
        self.sink = sink

    def download_button(self, label, data=None, **_kw):
        self.sink[label] = data


class _St:
    def __init__(self) -> None:
        self.buttons: dict = {}

    def columns(self, spec):
        return [_Column(self.buttons) for _ in spec]


# ------------------------------------------------------------------------------------------ every path, once
@dataclass
class Seen:
    """One access: who, where, under which purpose, and what it actually put in front of the person."""

    user: str
    path: str
    purpose: str
    basis: tuple[str, ...]
    shown: object = None
    extra: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def seen(world) -> dict[str, Seen]:
    out: dict[str, Seen] = {}

    # 1. the gate API directly, twice (the second answer comes from the gate's result cache)
    gate = Gate.open(world.settings())
    try:
        p = Principal("tm.api", "team_manager", ("T01",), "direct_care")
        first = gate.query(p, "children_list", {"census_year": 2025}, path="test:gate")
        again = gate.query(p, "children_list", {"census_year": 2025}, path="test:gate-again")
        names = [c.name for c in first.columns]
        out["gate"] = Seen("tm.api", "test:gate", "direct_care", DIRECT_CARE_BASIS,
                           sorted(r[names.index("child_id")] for r in first.rows),
                           {"given": [r[names.index("given_name")] for r in first.rows]})
        out["gate_cached"] = Seen("tm.api", "test:gate-again", "direct_care", DIRECT_CARE_BASIS,
                                  sorted(r[names.index("child_id")] for r in again.rows))

        # 8. the planning mart for a BI analyst
        mart = gate.planning_mart(Principal("bi.mart", "bi_analyst", (), "planning"), path="test:mart")
        out["mart"] = Seen("bi.mart", "test:mart", "planning", PLANNING_BASIS, mart["child"].height)
    finally:
        gate.close()

    # 2. the CLI as a team manager of T01, direct care
    r = query_cli("tm.cli", "team_manager", team="T01", purpose="direct_care")
    assert r.exit_code == 0, r.output
    out["cli_tm"] = Seen("tm.cli", "cli:query", "direct_care", DIRECT_CARE_BASIS, ids_in(json.loads(r.stdout)),
                         {"stdout": r.stdout})

    # 3. the CLI as a social worker, own caseload (SW001 holds C001..C007)
    r = query_cli("sw.cli", "social_worker", worker="SW001")
    assert r.exit_code == 0, r.output
    out["cli_sw"] = Seen("sw.cli", "cli:query", "direct_care", DIRECT_CARE_BASIS, ids_in(json.loads(r.stdout)),
                         {"stdout": r.stdout})

    # 4. the Children page: a team manager of T01 (named) and a BI analyst (pseudonymised)
    at = children_page(app_run(auth_user("CSC.TeamManager", teams=("T01",), email="tm.app@council.example")),
                       direct_care=True)
    assert not at.exception
    df = at.dataframe[0].value
    out["page_tm"] = Seen("tm.app@council.example", "page:children", "direct_care", DIRECT_CARE_BASIS,
                          sorted(df["Child ID"]), {"given": list(df["Given name"])})
    at = children_page(app_run(auth_user("CSC.BIAnalyst", email="bi.app@council.example")), direct_care=False)
    assert not at.exception
    df = at.dataframe[0].value
    out["page_bi"] = Seen("bi.app@council.example", "page:children", "planning", PLANNING_BASIS,
                          list(df["Child ID"]), {"columns": list(df.columns)})

    # 5. the Children page's CSV and Excel downloads: the very callables its download buttons call on click
    from dashboard.app import records, render

    gate = Gate.open(world.settings())
    try:
        p = Principal("tm.export", "team_manager", ("T01",), "direct_care")
        a = render.fetch(gate, p, records.LIST_QUERY, {"census_year": 2025}, "children")
        assert a.ok, a.refusal
        fake = _St()
        real = render.st
        render.st = fake
        try:
            render.downloads(gate, p, a, "children", lambda res: records.shape(res, ""), key="children")
        finally:
            render.st = real
        files = {label: make() for label, make in fake.buttons.items()}
    finally:
        gate.close()
    out["export_csv"] = Seen("tm.export", "export:csv", "direct_care", DIRECT_CARE_BASIS,
                             files["CSV"].decode("utf-8-sig"))
    out["export_xlsx"] = Seen("tm.export", "export:xlsx", "direct_care", DIRECT_CARE_BASIS, files["Excel"])

    # 6. emergency access: a T02 team manager views T02, is granted C003 with a reason, then views again
    r = query_cli("tm.t02", "team_manager", team="T02", purpose="direct_care")
    assert r.exit_code == 0, r.output
    before = ids_in(json.loads(r.stdout))
    before_seq = reports.search(world.trail(), user="tm.t02")["seq"].max()
    gate = Gate.open(world.settings())
    try:
        gate.grant_emergency(Principal("tm.t02", "team_manager", ("T02",), "direct_care"), CHILD,
                             "Police called out of hours: sibling of a T02 child, safety check.", 30,
                             path="test:emergency")
    finally:
        gate.close()
    r = query_cli("tm.t02", "team_manager", team="T02", purpose="direct_care")
    assert r.exit_code == 0, r.output
    out["emergency_view"] = Seen("tm.t02", "cli:query", "direct_care", DIRECT_CARE_BASIS,
                                 ids_in(json.loads(r.stdout)), {"before": before, "before_seq": before_seq,
                                                                "stdout": r.stdout})

    # 7. the SQL workbench from the command line (pseudonymised rows of the mart's child table)
    r = run_cli("sql", "SELECT * FROM child", "--as", "bi_analyst", "--user", "bi.sql", "--format", "json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    out["sql"] = Seen("bi.sql", "cli:sql", "planning", PLANNING_BASIS, payload["row_count"],
                      {"rows": payload["rows"]})

    # views that did NOT include C003: SW002's caseload, and authority-wide counts for a service manager
    r = query_cli("sw2.cli", "social_worker", worker="SW002")
    assert r.exit_code == 0, r.output
    out["no_sw2"] = Seen("sw2.cli", "cli:query", "direct_care", DIRECT_CARE_BASIS, ids_in(json.loads(r.stdout)))
    r = query_cli("sm.cli", "service_manager", name="cin_at_31_march")
    assert r.exit_code == 0, r.output
    out["no_sm_cli"] = Seen("sm.cli", "cli:query", "service_management", (), r.stdout)
    at = app_run(auth_user("CSC.ServiceManager", email="sm.app@council.example"))
    assert not at.exception and at.metric
    out["no_sm_page"] = Seen("sm.app@council.example", "page:overview", "service_management", (),
                             {m.label: m.value for m in at.metric})
    return out


VIEWS = ["gate", "gate_cached", "mart", "cli_tm", "cli_sw", "page_tm", "page_bi", "export_csv", "export_xlsx",
         "emergency_view", "sql"]


def entries_of(world: World, s: Seen):
    return reports.search(world.trail(), user=s.user, path=s.path, outcome="allowed")


# ------------------------------------------------------------------------------------------ the views showed C003
def test_each_identifiable_path_really_showed_the_child(seen):
    # T01's team manager: the 14 children of T01, C003 among them, by name
    for k in ("gate", "gate_cached", "cli_tm", "page_tm"):
        assert seen[k].shown == T01, k
    assert "Given003" in seen["gate"].extra["given"] and "Given003" in seen["page_tm"].extra["given"]
    assert '"Given003"' in seen["cli_tm"].extra["stdout"]
    assert seen["cli_sw"].shown == SW001                   # SW001's caseload C001..C007
    # the download holds the list as shown: 14 named rows after the header
    lines = seen["export_csv"].shown.strip().splitlines()
    assert len(lines) == 1 + 14 and any(ln.startswith("C003,Given003,Family003") for ln in lines)
    assert seen["export_xlsx"].shown[:2] == b"PK"          # a real xlsx (zip) file came out of the button
    # emergency: T02 sees C015..C017, then C003 as well once granted
    assert seen["emergency_view"].extra["before"] == T02
    assert seen["emergency_view"].shown == sorted([CHILD, *T02])
    assert '"Given003"' in seen["emergency_view"].extra["stdout"]


def test_each_pseudonymised_path_showed_the_planning_population_without_raw_ids(seen):
    # 17 children, less the objector C005 = 16 rows; keyed pseudonyms, never the council's ids or names
    assert len(seen["page_bi"].shown) == 16 and not set(seen["page_bi"].shown) & set(ALL)
    assert "Given name" not in seen["page_bi"].extra["columns"]
    assert seen["sql"].shown == 16 and not {v for r in seen["sql"].extra["rows"] for v in r} & set(ALL)
    assert seen["mart"].shown == 16


# ------------------------------------------------------------------------------------------ ...and each is recorded
@pytest.mark.parametrize("key", VIEWS)
def test_each_view_is_recorded_with_the_childs_id_purpose_and_basis(world, seen, key):
    s = seen[key]
    e = entries_of(world, s)
    assert e.height >= 1, f"{key}: no allowed entry for {s.user} on {s.path}"
    with_child = e.filter(e["child_ids"].list.contains(CHILD))
    assert with_child.height >= 1, f"{key}: {s.user} on {s.path} recorded without {CHILD}: {e['child_ids'].to_list()}"
    row = with_child.row(0, named=True)
    assert row["purpose"] == s.purpose
    for part in s.basis:
        assert part in row["lawful_basis"], (key, part, row["lawful_basis"])


def test_identifiable_entries_list_exactly_the_children_shown(world, seen):
    # the trail's ids are the keys of the children put in front of the person, no more and no fewer
    for key in ("gate", "gate_cached", "cli_tm", "cli_sw", "page_tm", "export_csv", "export_xlsx", "emergency_view"):
        s = seen[key]
        e = entries_of(world, s)
        ids = sorted(e.filter(e["child_ids"].list.contains(CHILD))["child_ids"][-1])
        assert ids == (T01 if key not in ("cli_sw", "emergency_view") else s.shown), key


def test_pseudonymised_entries_list_every_child_behind_the_pseudonyms_but_not_the_objector(world, seen):
    planned = sorted(set(ALL) - {OBJECTOR})
    for key in ("page_bi", "mart"):
        e = entries_of(world, seen[key])
        assert sorted(e["child_ids"][-1]) == planned, key


def _workbench_statement(world):
    e = reports.search(world.trail(), user="bi.sql", path="cli:sql", event="sql", outcome="allowed")
    assert e.height == 1 and e["rows"][0] == 16                  # SELECT * FROM child: 16 rows were shown
    return e


def test_workbench_statement_is_recorded(world, seen):
    e = _workbench_statement(world)
    assert e["sql"][0] == "SELECT * FROM child"


def test_workbench_statement_that_shows_the_childs_row_lists_the_child(world, seen):
    # SELECT * FROM child showed the 16 planning children's pseudonymised rows: the entry names the 16 behind
    # them (17 less the objector C005), C003 among them, and never the pseudonyms themselves
    e = _workbench_statement(world)
    assert sorted(e["child_ids"][0]) == sorted(set(ALL) - {OBJECTOR})
    shown = {v for r in seen["sql"].extra["rows"] for v in r if isinstance(v, str)}
    assert not shown & set(e["child_ids"][0])           # what the analyst saw holds no council id


# ------------------------------------------------------------------------------------------ the subject access report
def _assert_report_has_every_view(rows: list[dict], seen: dict[str, Seen]) -> None:
    for key in VIEWS:
        s = seen[key]
        mine = [r for r in rows if r["user"] == s.user and r["path"] == s.path and r["outcome"] == "allowed"]
        assert mine, f"{key}: {s.user} on {s.path} missing from {CHILD}'s subject access report"
        assert all(r["purpose"] == s.purpose for r in mine), key
        assert all(part in r["lawful_basis"] for r in mine for part in s.basis), key


def _assert_report_has_no_unrelated_view(rows: list[dict], seen: dict[str, Seen]) -> None:
    users = {r["user"] for r in rows}
    for key in ("no_sw2", "no_sm_cli", "no_sm_page"):
        assert seen[key].user not in users, f"{key}: {seen[key].user} never saw {CHILD}"
    before = str(seen["emergency_view"].extra["before_seq"])
    assert before not in {str(r["seq"]) for r in rows}, "T02's view before the emergency grant did not show C003"


def test_python_subject_access_report_lists_every_view(world, seen):
    report = reports.subject_access_report(world.trail(), CHILD)
    rows = report.frame.to_dicts()
    _assert_report_has_every_view(rows, seen)
    _assert_report_has_no_unrelated_view(rows, seen)
    emergency = [r for r in rows if r["event"] == "emergency_access"]
    assert [(r["user"], r["path"]) for r in emergency] == [("tm.t02", "test:emergency")]
    assert "Police called out of hours" in emergency[0]["emergency_reason"]


def test_cli_subject_access_report_csv_lists_every_view(world, seen):
    r = run_cli("audit", "child", CHILD, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    _assert_report_has_every_view(rows, seen)
    _assert_report_has_no_unrelated_view(rows, seen)
    assert "Given003" not in r.stdout                      # ids only, never the name


def test_views_that_did_not_show_the_child_do_not_list_it(world, seen):
    assert seen["no_sw2"].shown == T01[7:]                 # SW002: C008..C014
    for key in ("no_sw2", "no_sm_cli", "no_sm_page"):
        e = reports.search(world.trail(), user=seen[key].user)
        assert e.height >= 1, key
        assert not e.filter(e["child_ids"].list.contains(CHILD)).height, key
    # aggregate pages and counts record no child at all
    for key in ("no_sm_cli", "no_sm_page"):
        e = reports.search(world.trail(), user=seen[key].user)
        assert all(not ids for ids in e["child_ids"].to_list()), key
    assert seen["no_sm_page"].shown["Children in need"] == "17"
    before = reports.search(world.trail(), user="tm.t02", path="cli:query")
    assert sorted(before["child_ids"][0]) == T02


def test_the_objectors_child_is_in_no_planning_entry(world, seen):
    trail = world.trail()
    planning = reports.search(trail, purpose="planning")
    assert planning.height >= 4                             # mart, page, workbench opening, workbench statement
    assert any(ids for ids in planning["child_ids"].to_list())  # planning entries do name children...
    assert not planning.filter(planning["child_ids"].list.contains(OBJECTOR)).height   # ...never the objector
    # the objection is about use beyond direct care: the T01 team manager's direct-care view still lists C005
    direct = reports.search(trail, user="tm.cli", path="cli:query")
    assert OBJECTOR in direct["child_ids"][0]
    sar = reports.subject_access_report(trail, OBJECTOR).frame
    assert sar.height >= 1 and set(sar["purpose"].to_list()) == {"direct_care"}


def test_refused_request_for_the_child_is_in_the_report_as_refused(world, seen):
    # a BI analyst has no named records: asking for break-glass access to C003 is refused, and the refusal is
    # part of C003's report (the family may ask who tried)
    gate = Gate.open(world.settings())
    try:
        with pytest.raises(Refusal):
            gate.grant_emergency(Principal("bi.tried", "bi_analyst", (), "planning"), CHILD,
                                 "Curious about this case, please let me see it.", 30, path="test:emergency")
    finally:
        gate.close()
    rows = reports.subject_access_report(world.trail(), CHILD).frame.to_dicts()
    mine = [r for r in rows if r["user"] == "bi.tried"]
    assert [(r["outcome"], r["event"], r["purpose"]) for r in mine] == [("refused", "emergency_access", "planning")]
    assert "direct care" in mine[0]["reason"]


def test_trail_still_verifies_after_every_path(world, seen):
    v = world.trail().verify()
    assert v.ok, v.problem


# ------------------------------------------------------------------------------------------ no audit, no data
@pytest.fixture(scope="module")
def broken_audit(world) -> Path:
    blocker = world.dir / "not-a-directory"
    blocker.write_text("a regular file: nothing can be created under it\n")
    return blocker / "audit.duckdb"


def test_failing_store_gate_api_shows_nothing(world, seen, broken_audit):
    gate = Gate.open(world.settings(broken_audit))
    try:
        with pytest.raises(Refusal) as r:
            gate.query(Principal("tm.broken", "team_manager", ("T01",), "direct_care"), "children_list",
                       {"census_year": 2025}, path="test:gate")
    finally:
        gate.close()
    assert "audit trail" in r.value.reason and "Given003" not in r.value.reason


def test_failing_store_cli_query_shows_nothing(world, seen, broken_audit):
    r = query_cli("tm.broken", "team_manager", team="T01", purpose="direct_care", audit=broken_audit)
    assert r.exit_code != 0
    assert r.stdout == "" and "Given003" not in r.output and CHILD not in r.output
    assert r.stderr.startswith("Error:") and "audit trail" in r.stderr and "Traceback" not in r.output


def test_failing_store_children_page_shows_a_refusal(world, seen, broken_audit, monkeypatch):
    monkeypatch.setenv("CSC_AUDIT", str(broken_audit))
    at = children_page(app_run(auth_user("CSC.TeamManager", teams=("T01",), email="tm.broken@council.example")),
                       direct_care=True)
    assert not at.exception
    assert not at.dataframe
    shown = " ".join(str(x.value) for x in (*at.warning, *at.error, *at.markdown, *at.caption))
    assert "audit trail" in shown
    assert "Given003" not in shown and CHILD not in shown


def test_failing_store_workbench_shows_nothing(world, seen, broken_audit):
    r = run_cli("sql", "SELECT * FROM child", "--as", "bi_analyst", "--user", "bi.broken", audit=broken_audit)
    assert r.exit_code == 2
    assert r.stdout == "" and r.stderr.startswith("Error:") and "audit trail" in r.stderr
    assert not broken_audit.exists()


# ------------------------------------------------------------------------------------------ the IG officer's reads
@pytest.fixture(scope="module")
def ig_seen(world, seen) -> dict[str, object]:
    """The IG officer's own views that show C003: the emergency review page (which lists tm.t02's grant of C003),
    C003's subject access report from the command line, and its download from the subject access page."""
    from dashboard.app import ig, nav

    out: dict[str, object] = {}
    at = app_run(auth_user("CSC.IGOfficer", email="ig.page@council.example"))
    at.switch_page(str(nav.BY_KEY["ig_emergency"].path.relative_to(APP)))
    at.run()
    assert not at.exception
    out["emergency_page"] = " ".join(m.value for m in at.markdown)

    r = run_cli("audit", "child", CHILD, "--format", "csv", "--officer", "ig.cli")
    assert r.exit_code == 0, r.output
    out["cli_report"] = r.stdout

    # the subject access page's download buttons, called as the page calls ig.downloads
    gate = Gate.open(world.settings())
    try:
        p = Principal("ig.dl", "ig_officer", (), "audit")
        fake = _St()
        real = ig.st
        ig.st = fake
        try:
            ig.downloads(gate, p, lambda: reports.subject_access_report(gate.trail, CHILD).frame.rename(
                reports.SAR_HEADINGS), f"subject_access_{CHILD}", {"child_id": CHILD}, child_ids=[CHILD])
        finally:
            ig.st = real
        out["download"] = fake.buttons["CSV"]().decode("utf-8-sig")
    finally:
        gate.close()
    return out


AUDIT_BASIS = "Art 15 subject access"     # access_policies/purposes.yml, purpose audit, article_6


def test_ig_views_really_showed_the_child(ig_seen):
    assert f"child {CHILD}" in ig_seen["emergency_page"] and "tm.t02" in ig_seen["emergency_page"]
    assert "tm.t02" in ig_seen["cli_report"] and "tm.t02" in ig_seen["download"]


def test_ig_subject_access_reads_are_themselves_in_the_report(world, ig_seen):
    rows = reports.subject_access_report(world.trail(), CHILD).frame.to_dicts()
    where = {(r["user"], r["path"]) for r in rows}
    assert ("ig.cli", "cli:audit child") in where
    assert ("ig.dl", "export:csv") in where
    assert all(r["purpose"] == "audit" for r in rows if r["user"] in ("ig.cli", "ig.dl"))


@pytest.mark.parametrize("who", [("ig.cli", "cli:audit child"), ("ig.dl", "export:csv")])
def test_ig_reads_in_the_report_carry_their_lawful_basis(world, ig_seen, who):
    rows = reports.subject_access_report(world.trail(), CHILD).frame.to_dicts()
    mine = [r for r in rows if (r["user"], r["path"]) == who]
    assert mine
    assert all(AUDIT_BASIS in (r["lawful_basis"] or "") for r in mine)


def test_ig_emergency_page_read_lists_the_children_it_shows(world, ig_seen):
    e = reports.search(world.trail(), user="ig.page@council.example", path="page:ig_emergency")
    assert e.height >= 1
    assert CHILD in e["child_ids"][-1]
