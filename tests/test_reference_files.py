"""Every file under ../shared/reference either loads with a data-quality report or is refused cleanly.

Decisions (one per file, with the reason): the 903 CSVs, the 903 XML and the CIN census XMLs are returns and
load (they are deliberately messy, so each carries data-quality notes); the CIN XSDs, the 903 schema YAML files
and README.md describe returns but are not returns: a folder walk skips them (only *.csv / *.xml are taken and
.xsd is neither), and naming one explicitly is refused with a clear reason. Facts asserted below were read off
the files by hand (line counts with wc -l, values by eye).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.warehouse.build import BuildError, build
from tests.conftest import SHARED_REFERENCE
from tests.helpers_build import dq, rows

pytestmark = pytest.mark.skipif(not SHARED_REFERENCE.is_dir(), reason="../shared/reference is not present")

LOADS = {
    # file: (source rows read, why it loads / what its report must say)
    "ssda903/ad1.csv": (29, "AD1 table by its header; 30 lines - header"),
    "ssda903/episodes.csv": (5050, "Episodes table; alone, every episode is an orphan (no header file given)"),
    "ssda903/header.csv": (2675, "Header table; no activity dates, so the year comes from the latest date of any kind"),
    "ssda903/missing.csv": (43, "Missing table"),
    "ssda903/oc2.csv": (2675, "OC2 table"),
    "ssda903/oc3.csv": (53, "OC3 table"),
    "ssda903/placed_for_adoption.csv": (29, "PlacedAdoption; REASON_PLACED_CEASED is XXX on every row: unknown_code"),
    "ssda903/previous_permanence.csv": (2675, "PrevPerm table"),
    "ssda903/reviews.csv": (12582, "Reviews table"),
    "ssda903/sw_episodes.csv": (1, "SWEpisodes; header starts with a UTF-8 BOM; SW_REASON SWLAZY is unknown"),
    "ssda903/uasc.csv": (132, "UASC table"),
    "ssda903/fake_903.xml": (None, "EXPSSDA903 root; 253 CHILD elements"),
    "cin_census/BAR_cin_2022.xml": (None, "Message root, ReferenceDate 2022-03-31 -> census year 2022"),
    "cin_census/CIN_Census_2021.xml": (None, "ReferenceDate 2023-03-31 (the content, not the file name, decides)"),
    "cin_census/CIN_Census_2024.xml": (None, "assessment started 2028-04-28, authorised 2020-09-19: end_before_start"),
    "cin_census/CIN_Census_2026.xml": (None, "as 2024, plus a PreProceedingsandFGDM block the XSD lacks: ignored, noted"),
}
REFUSED = {
    "README.md": "no known header",
    **{f"cin_census/xsd/CIN_schema_{y}.xsd": "neither an SSDA903 return" for y in range(2017, 2027)},
    "ssda903/schema/SSDA903_schema_2017.yml": "no known header",
    **{f"ssda903/schema/SSDA903_schema_{y}.diff.yml": "no known header" for y in (2019, 2022, 2024, 2025, 2026)},
}


def _files() -> list[str]:
    if not SHARED_REFERENCE.is_dir():
        return []
    return sorted(str(p.relative_to(SHARED_REFERENCE)) for p in SHARED_REFERENCE.rglob("*") if p.is_file())


def test_every_reference_file_has_a_decision():
    assert _files(), "no reference files found"
    undecided = [f for f in _files() if f not in LOADS and f not in REFUSED]
    assert undecided == [], f"decide and record whether these load or are refused: {undecided}"


@pytest.mark.parametrize("rel", [f for f in _files() if f in LOADS])
def test_reference_file_loads_with_quality_report(rel, tmp_path):
    out = tmp_path / "w.duckdb"
    report = build([SHARED_REFERENCE / rel], out, progress=False)
    expected_rows, _why = LOADS[rel]
    (source,) = rows(out, "SELECT kind, rows FROM source_file")
    if expected_rows is not None:
        assert source[1] == expected_rows
    table = {"placed_for_adoption": "placed_adoption", "previous_permanence": "prev_perm"}.get(
        Path(rel).stem, Path(rel).stem)
    assert source[0] == ("cin_xml" if rel.startswith("cin_census") else
                         "903_xml" if rel.endswith(".xml") else f"903_csv:{table}")
    assert report.table_rows, "nothing loaded"
    if rel == "ssda903/placed_for_adoption.csv":
        assert {r[4] for r in dq(out, "unknown_code")} == {"XXX"} and len(dq(out, "unknown_code")) == 29
    if rel == "ssda903/sw_episodes.csv":
        assert rows(out, "SELECT child_id, sw_id, start_date::VARCHAR, reason FROM sw_episode") == [
            ("CHILD10", "SW999", "2020-01-01", "SWLAZY")]
    if rel == "ssda903/fake_903.xml":
        assert rows(out, "SELECT count(*) FROM child") == [(253,)]
    if rel == "cin_census/BAR_cin_2022.xml":
        assert report.census_years == [2022]
    if rel == "cin_census/CIN_Census_2021.xml":
        assert report.census_years == [2023]
    if rel in ("cin_census/CIN_Census_2024.xml", "cin_census/CIN_Census_2026.xml"):
        hits = dq(out, "end_before_start")
        assert ("Assessments", "AssessmentAuthorisationDate", "2020-09-19", "dropped") in {
            (r[2], r[3], r[4], r[5]) for r in hits}
    if rel == "cin_census/CIN_Census_2026.xml":
        assert [r[3] for r in dq(out, "unknown_element")] == ["CINdetails/PreProceedingsandFGDM"]


@pytest.mark.parametrize("rel", [f for f in _files() if f in REFUSED])
def test_non_return_file_named_explicitly_is_refused(rel, tmp_path):
    with pytest.raises(BuildError) as err:
        build([SHARED_REFERENCE / rel], tmp_path / "w.duckdb", progress=False)
    assert err.value.file == str(SHARED_REFERENCE / rel) and REFUSED[rel] in err.value.reason
    assert not (tmp_path / "w.duckdb").exists()


def test_whole_reference_folder_loads_and_skips_non_returns(tmp_path):
    out = tmp_path / "w.duckdb"
    report = build([SHARED_REFERENCE], out, progress=False)
    assert sorted(Path(f).relative_to(SHARED_REFERENCE).as_posix() for f in report.files) == sorted(LOADS)
    assert sorted(Path(f).relative_to(SHARED_REFERENCE).as_posix() for f in report.skipped) == sorted(REFUSED)
    # with the header file present, the fake episodes' children are known
    assert rows(out, "SELECT count(*) FROM child WHERE source = '903'")[0][0] >= 2675
    assert report.census_years == [2022, 2023, 2024]
