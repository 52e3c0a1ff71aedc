"""Malformed and hostile inputs through the real CLI: a file that cannot be read stops the build with
`Error: <file>: <reason>` and exit code 2, no traceback, the previous warehouse untouched; a readable file with bad
records loads, and each bad record is named (file, row, field) in data_quality."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboard.cli import app
from tests.helpers_build import (
    EPISODES,
    HEADER,
    cin_child,
    cin_details,
    cin_xml,
    csv,
    dq,
    episode,
    rows,
    write,
)

BOMB = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
        '<Message><Children>&lol3;</Children></Message>')
EXTERNAL = ('<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            '<EXPSSDA903><CHILD><HEADER><CHILDID>&xxe;</CHILDID></HEADER></CHILD></EXPSSDA903>')
GOOD_CIN = cin_xml("2024-03-31", cin_child("K", cin_details("2023-06-01")))

#: name -> (file name, content, expected words in the reason)
REFUSED = {
    "truncated_xml": ("CIN_Census_2024.xml", GOOD_CIN[: len(GOOD_CIN) // 2], "not well-formed XML"),
    "not_xml_angle": ("notes.xml", "<html><body>hello</body></html>", "neither an SSDA903 return"),
    "empty": ("episodes.csv", "", "empty file"),
    "whitespace_only": ("header.csv", "\n  \n", "empty file"),
    "unknown_header": ("episodes.csv", "CHILD,START,END\n1,01/01/2020,\n", "no known header"),
    "binary_garbage": ("data.csv", bytes(range(256)) * 4, "binary content"),
    "control_chars": ("header.csv", HEADER + "\n\x01\x02\x03,1,01/01/2010,WBRI,,,\n", "binary content"),
    "undecodable": ("header.csv", (HEADER + "\nA,1,01/01/2010,WBRI,,,\x81\x8d\xff\n").encode("latin-1"),
                    "undecodable bytes"),
    "utf16": ("header.csv", (HEADER + "\nA,1,01/01/2010,WBRI,,,\n").encode("utf-16"), "UTF-16"),
    "entity_bomb": ("CIN_bomb.xml", BOMB, "unsafe XML refused"),
    "external_entity": ("fake_903.xml", EXTERNAL, "unsafe XML refused"),
    "cin_without_reference_date": ("CIN.xml", "<Message><Children/></Message>", "ReferenceDate"),
    "xsd_named_explicitly": ("CIN_schema.xsd", '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>',
                             "neither an SSDA903 return"),
}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("good")
    csv(src / "ssda903/2024/header.csv", HEADER, "A,1,01/01/2012,WBRI,,,")
    csv(src / "ssda903/2024/episodes.csv", EPISODES, episode("A", "01/05/2023", "S", "C2", "U4"))
    return src


def _build(*args: str):
    res = CliRunner().invoke(app, ["build", "--no-progress", *args])
    return res.exit_code, res.output + (res.stderr or "")


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unreadable_file_stops_build_and_keeps_old_warehouse(case, good, tmp_path):
    out = tmp_path / "warehouse.duckdb"
    code, _ = _build("--source", str(good), "--warehouse", str(out))
    assert code == 0
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    name, content, words = REFUSED[case]
    bad = write(tmp_path / "in" / name, content)
    code, output = _build("--source", str(good), "--source", str(bad), "--warehouse", str(out))
    assert code == 2
    assert f"Error: {bad}: " in output and words in output
    assert "Traceback" not in output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_missing_source_path_is_refused(tmp_path):
    code, output = _build("--source", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 2 and "no such file or folder" in output and not (tmp_path / "w.duckdb").exists()


def test_entity_bomb_is_refused_before_expansion(tmp_path):
    # the refusal names the DTD, i.e. nothing was expanded (a 10^3 expansion would still parse otherwise)
    bad = write(tmp_path / "bomb.xml", BOMB)
    code, output = _build("--source", str(bad), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 2 and "DTDForbidden" in output


def _load_one(tmp_path: Path, rel: str, content: str | bytes) -> Path:
    write(tmp_path / "in" / rel, content)
    out = tmp_path / "w.duckdb"
    code, output = _build("--source", str(tmp_path / "in"), "--warehouse", str(out))
    assert code == 0, output
    assert "Traceback" not in output
    return out


def test_header_only_file_loads_empty_with_note(tmp_path):
    out = _load_one(tmp_path, "ssda903/2024/episodes.csv", EPISODES + "\n")
    assert rows(out, "SELECT count(*) FROM episode") == [(0,)]
    assert [(r[0], r[2]) for r in dq(out, "no_rows")] == [("episodes.csv", "episodes")]


def test_bad_dates_are_named_by_file_row_field(tmp_path):
    out = _load_one(tmp_path, "ssda903/2024/episodes.csv", "\n".join([
        EPISODES,
        episode("A", "2023-05-01", "S", "C2", "U4"),              # row 1: ISO date in a 903 CSV
        episode("A", "01/06/2023", "P", "C2", "U4", "32/13/2023", "E13"),   # row 2: bad DEC
    ]) + "\n")
    assert [r[:6] for r in dq(out, "bad_date")] == [
        ("episodes.csv", 1, "episodes", "DECOM", "2023-05-01", "dropped"),
        ("episodes.csv", 2, "episodes", "DEC", "32/13/2023", "set_null")]
    assert rows(out, "SELECT decom, dec FROM episode") == [(__import__("datetime").date(2023, 6, 1), None)]


def test_short_rows_are_named(tmp_path):
    out = _load_one(tmp_path, "ssda903/2024/header.csv", f"{HEADER}\nA,1,01/01/2012\nB,2,01/01/2013,WBRI,,,\n")
    (hit,) = dq(out, "short_row")
    assert hit[:4] == ("header.csv", 1, "header", "ETHNIC") and "3 of 7" in hit[6]
    assert rows(out, "SELECT child_id, ethnicity FROM child ORDER BY 1") == [("A", None), ("B", "WBRI")]


def test_latin1_text_is_decoded_as_cp1252_with_a_note(tmp_path):
    out = _load_one(tmp_path, "local/teams.csv",
                    "team_id,team_name,locality\nT01,Équipe Nord,Bishop’s Stortford\n".encode("cp1252"))
    assert rows(out, "SELECT team_name, locality FROM team") == [("Équipe Nord", "Bishop’s Stortford")]
    (hit,) = dq(out, "encoding_cp1252")
    assert hit[0] == "teams.csv" and "Windows-1252" in hit[6]


@pytest.mark.parametrize("cell", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "=HYPERLINK(\"http://x\")"])
def test_formula_cells_are_kept_as_text_and_reported(cell, tmp_path):
    quoted = '"' + cell.replace('"', '""') + '"'
    out = _load_one(tmp_path, "local/teams.csv", f"team_id,team_name,locality\nT01,{quoted},North\n")
    assert rows(out, "SELECT team_name FROM team") == [(cell,)]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in dq(out, "formula_prefix")] == [
        ("teams.csv", 1, "team_name", cell, "kept")]


def test_unknown_xml_block_is_ignored_with_note(tmp_path):
    body = "<PreProceedingsandFGDM><PPStartDate>2024-01-01</PPStartDate></PreProceedingsandFGDM>\n"
    out = _load_one(tmp_path, "CIN_Census_2024.xml", cin_xml("2024-03-31", cin_child("K", cin_details("2023-06-01", body))))
    (hit,) = dq(out, "unknown_element")
    # lines: 1 Message..Child, 2 ChildIdentifiers, 3 ChildCharacteristics, 4 CINdetails, 5 referral fields, 6 block
    assert hit[1] == 6 and hit[3] == "CINdetails/PreProceedingsandFGDM" and hit[5] == "ignored"
    assert rows(out, "SELECT child_id, referral_date FROM cin_episode") == [("K", __import__("datetime").date(2023, 6, 1))]


def test_long_rows_are_cut_and_named(tmp_path):
    out = _load_one(tmp_path, "local/teams.csv", "team_id,team_name,locality\nT01,North,Leeds,extra,more\n")
    assert rows(out, "SELECT * FROM team") == [("T01", "North", "Leeds")]
    (hit,) = dq(out, "long_row")
    assert hit[:3] == ("teams.csv", 1, "teams") and "5 fields, the header 3" in hit[6]


def test_quoted_field_spanning_lines_is_read_whole(tmp_path):
    # the address has a line break inside quotes: one record, numbered by the line it starts on
    out = _load_one(tmp_path, "local/identifiers.csv",
                    'child_id,given_name,family_name,address,postcode,nhs_number,upn\n'
                    'A,Ann,Lee,"1 High St\nLeeds",LS6 2AB,,\nB,Bo,Kay,2 Low St,LS7 1AA,,\n')
    assert rows(out, "SELECT child_id, address, postcode_district FROM person_identifier ORDER BY 1") == [
        ("A", "1 High St\nLeeds", "LS6"), ("B", "2 Low St", "LS7")]


def test_extra_column_is_ignored_with_note(tmp_path):
    out = _load_one(tmp_path, "local/teams.csv", "team_id,team_name,locality,manager\nT01,North,Leeds,Pat\n")
    assert rows(out, "SELECT * FROM team") == [("T01", "North", "Leeds")]
    (hit,) = dq(out, "extra_column")
    assert hit[0] == "teams.csv" and hit[3] == "manager" and hit[5] == "ignored"


def test_bad_number_required_drops_row(tmp_path):
    out = _load_one(tmp_path, "local/population.csv", "mid_year,age,sex,population\n2023,4,F,1.2e3\n2023,5,F,900\n")
    assert rows(out, "SELECT age, population FROM population") == [(5, 900)]
    assert [r[:6] for r in dq(out, "bad_number")] == [("population.csv", 1, "population", "population", "1.2e3",
                                                       "dropped")]


def test_missing_required_field_drops_record(tmp_path):
    out = _load_one(tmp_path, "ssda903/2024/header.csv", f"{HEADER}\n,1,01/01/2012,WBRI,,,\nB,2,01/01/2013,WBRI,,,\n")
    assert rows(out, "SELECT child_id FROM child") == [("B",)]
    assert [r[:6] for r in dq(out, "missing_required")] == [("header.csv", 1, "header", "CHILD", None, "dropped")]


def test_the_first_unreadable_file_in_sorted_order_is_the_one_named(tmp_path):
    # files are read two at a time; whichever finishes first, the build names the first bad file in the order
    # files are walked (a/ before b/ before c/), as a one-at-a-time build would
    src = tmp_path / "in"
    write(src / "a/CIN_Census_2024.xml", GOOD_CIN)
    write(src / "b/bomb.xml", BOMB)
    write(src / "c/header.csv", "")
    code, output = _build("--source", str(src), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 2 and f"Error: {src / 'b/bomb.xml'}: unsafe XML refused" in output
    assert str(src / "c/header.csv") not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]   # no warehouse, no temp file
