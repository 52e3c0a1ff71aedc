"""How the build overlaps its work (dashboard/warehouse/build.py, storing.py): CIN censuses read last, the other
returns' tables and derived relations stored while they are read, CIN records cleaned file by file, and the
bank-holiday calendar loaded from the one module of the `holidays` library that holds it. Each test states what
a person would see if the overlap changed an answer: a different warehouse, or a different file blamed."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import holidays
import pytest

from dashboard.warehouse import db, derived
from dashboard.warehouse.build import BuildError, _looks_like_cin, build
from dashboard.warehouse.calendar import FIRST_YEAR, LAST_YEAR, england_holidays
from dashboard.warehouse.dq import DQ
from dashboard.warehouse.load_cin import LoaderCIN, clean_file, read_fast
from dashboard.warehouse.storing import derived_needs
from tests.helpers_build import EPISODES, HEADER, cin_child, cin_details, cin_xml, csv, episode, write


@pytest.fixture(scope="module")
def returns(tmp_path_factory) -> Path:
    """Two years of 903 episodes (with an X1 chain, so periods and placements are derived), two CIN censuses
    with an assessment, a CP plan and a bad date, and local allocations (team spells)."""
    root = tmp_path_factory.mktemp("src")
    csv(root / "ssda903/2023/header.csv", HEADER, "A,1,01/01/2012,WBRI,,,", "K,2,01/01/2015,BAFR,,,")
    csv(root / "ssda903/2023/episodes.csv", EPISODES,
        episode("A", "01/05/2022", "S", "C2", "U4", "01/09/2022", "X1"), episode("A", "01/09/2022", "P", "C2", "U6"))
    csv(root / "ssda903/2024/header.csv", HEADER, "A,1,01/01/2012,WBRI,,,")
    csv(root / "ssda903/2024/episodes.csv", EPISODES,
        episode("A", "01/09/2022", "P", "C2", "U6", "10/01/2024", "E13"))
    k = cin_child("K", cin_details(
        "2022-06-01", "<Assessments>\n<AssessmentActualStartDate>2022-06-02</AssessmentActualStartDate>"
        "<AssessmentAuthorisationDate>2022-07-01</AssessmentAuthorisationDate></Assessments>\n"
        "<ChildProtectionPlans>\n<CPPstartDate>2022-08-10</CPPstartDate><InitialCategoryOfAbuse>NEG"
        "</InitialCategoryOfAbuse></ChildProtectionPlans>\n"), disabilities="AUT")
    m = cin_child("M", cin_details("2023-02-30"))                     # no such date: reported, episode dropped
    write(root / "cin/CIN_Census_2023.xml", cin_xml("2023-03-31", k + m))
    write(root / "cin/CIN_Census_2024.xml", cin_xml("2024-03-31", k))
    csv(root / "local/teams.csv", "team_id,team_name,locality", "T01,North,North")
    csv(root / "local/allocations.csv", "child_id,team_id,worker_id,start_date,end_date",
        "A,T01,W1,2022-05-01,", "K,T01,W2,2022-06-01,2023-01-01")
    return root


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Every table of main, rows in stored order (no ORDER BY: the order a one-at-a-time build stores)."""
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                                       "AND database_name = current_database() ORDER BY 1").fetchall()]
    return {t: con.execute(f"SELECT * FROM main.{t}").fetchall() for t in names}


def test_derived_relations_stored_alongside_equal_storing_them_one_by_one_at_the_end(returns, tmp_path):
    out = tmp_path / "w.duckdb"
    build([returns], out, progress=False)
    # the reference: the same file with every derived relation put back as a view, then derived.materialise
    # (what the build did before it overlapped them), on a copy
    ref = tmp_path / "ref.duckdb"
    shutil.copy(out, ref)
    con = duckdb.connect(str(ref))
    try:
        for name in derived.DERIVED:
            con.execute(f"DROP TABLE main.{name}")
        con.execute(db.DERIVED_SQL.read_text())
        derived.materialise(con)
        expected = _tables(con)
    finally:
        con.close()
    con = duckdb.connect(str(out), read_only=True)
    try:
        got = _tables(con)
    finally:
        con.close()
    assert got.keys() == expected.keys()
    assert got["stitched_episode"] and got["team_spell"] and got["referral"]   # the fixture exercises them
    for table in expected:
        assert got[table] == expected[table], table


def test_each_derived_relation_waits_for_what_its_view_reads():
    con = duckdb.connect()
    try:
        db.create_schema(con)
        needs = derived_needs(con)
    finally:
        con.close()
    assert set(needs) == set(derived.DERIVED)
    # read from derived.sql: stitched_episode is built FROM episode, placement_episode FROM stitched_episode,
    # team_spell from allocation; child_census reads census_span
    assert "episode" in needs["stitched_episode"]
    assert "stitched_episode" in needs["placement_episode"]
    assert "allocation" in needs["team_spell"]
    assert "census_span" in needs["child_census"]
    assert all(name not in wanted for name, wanted in needs.items())
    # no waiting in a circle: following the needs from any relation ends
    done: set[str] = set()
    while len(done) < len(needs):
        ready = {n for n, wanted in needs.items() if n not in done and not (wanted & set(needs)) - done}
        assert ready, f"circular needs among {set(needs) - done}"
        done |= ready


def test_first_unreadable_file_in_file_order_is_blamed_though_censuses_are_read_last(returns, tmp_path):
    # file order (sorted paths): cin/CIN_bad.xml, then z/bad.csv; the census is read after the CSV
    src = tmp_path / "src"
    shutil.copytree(returns, src)
    write(src / "cin/CIN_bad.xml", "<Message><Children><Child></Children></Message>")
    write(src / "z/bad.csv", b"CHILD,SEX\x00\n")
    with pytest.raises(BuildError) as err:
        build([src], tmp_path / "w.duckdb", progress=False)
    assert Path(err.value.file).name == "CIN_bad.xml" and "not well-formed" in err.value.reason
    # with the census readable, the CSV is the first bad file
    (src / "cin/CIN_bad.xml").unlink()
    with pytest.raises(BuildError) as err:
        build([src], tmp_path / "w.duckdb", progress=False)
    assert Path(err.value.file).name == "bad.csv" and "binary content" in err.value.reason
    assert not list(tmp_path.glob("w.duckdb*"))   # nothing half-written left behind


@pytest.mark.parametrize(("head", "census"), [
    (b"<Message><Header/>", True),
    (b"\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?>\r\n  <Message xmlns='http://www.dfe.gov.uk/CIN'>", True),
    (b"<Message/>", True),
    (b"<EXPSSDA903><Header/>", False),
    (b"<MessageX>", False),                              # another root that starts with the same letters
    (b"<!-- a comment first --><Message>", False),       # not decided from the first bytes: read in file order
    (b"<cin:Message xmlns:cin='u'>", False),             # a prefixed root: the tree reader decides
    (b"\xff\xfe<\x00M\x00", False),                      # UTF-16
    (b"<?xml version='1.0' encoding='ISO-8859-1'?><Message>", True),
    (b"<?xml version='1.0' encoding='cp037'?><Message>", False),   # EBCDIC: these bytes are other characters
])
def test_a_census_is_known_from_its_first_bytes_only_when_they_say_message(head, census, tmp_path):
    path = write(tmp_path / "f.xml", head + b"</Message>")
    assert _looks_like_cin(path) is census
    assert _looks_like_cin(write(tmp_path / "f.csv", head)) is False


def test_cin_records_cleaned_file_by_file_equal_cleaned_together():
    # a bad date (2023-02-30), an unknown code (ZZZ) and a blank required referral date, in two censuses
    k = cin_child("K", cin_details("2022-06-01", "<Assessments>\n<AssessmentActualStartDate>2022-13-01"
                                                 "</AssessmentActualStartDate></Assessments>\n"), ethnicity="ZZZ")
    files = [cin_xml("2023-03-31", k + cin_child("M", cin_details("2023-02-30"))),
             cin_xml("2024-03-31", k + cin_child("N", cin_details("")))]
    raw = [read_fast(f"f{n}.xml", x.encode(), n) for n, x in enumerate(files)]
    together_dq, apart_dq = DQ(), DQ()
    together, apart = LoaderCIN(together_dq), LoaderCIN(apart_dq)
    for f in raw:
        together.add_file(f)
        file_dq = DQ()
        apart.add_file(clean_file(f, file_dq))
        apart_dq.extend(file_dq)
    a, b = together.finish(), apart.finish()
    assert a.keys() == b.keys()
    for record in a:
        assert a[record].equals(b[record], null_equal=True), record
    assert together_dq.frame().equals(apart_dq.frame(), null_equal=True)
    assert {"bad_date", "unknown_code", "missing_required"} <= set(together_dq.frame()["rule"])


def test_bank_holidays_are_the_holidays_librarys_england_calendar():
    expected = holidays.country_holidays("GB", subdiv="ENG", years=range(FIRST_YEAR, LAST_YEAR + 1))
    got = england_holidays()
    assert sorted(got.items()) == sorted(expected.items())
    assert got.get(dt.date(2022, 9, 19)) == expected.get(dt.date(2022, 9, 19))   # a one-off: the state funeral
    assert dt.date(2022, 9, 19) in got and dt.date(2021, 12, 28) in got          # and a substitute day
