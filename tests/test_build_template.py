"""The build's empty warehouse (schema, calendar, macros, derived and planning views) is made once into the cache
and copied by later builds (db.new_warehouse). What a user could see go wrong: a warehouse that differs from one
made from scratch, a damaged or foreign cached file turning into a warehouse, a build failing because the cache
cannot be written."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dashboard.warehouse import db
from dashboard.warehouse.build import build
from tests.helpers_build import EPISODES, HEADER, csv, episode


@pytest.fixture(scope="module")
def returns(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src")
    csv(root / "ssda903/2024/header.csv", HEADER, "A,1,01/01/2012,WBRI,,,", "B,2,01/01/2013,BAFR,,,")
    csv(root / "ssda903/2024/episodes.csv", EPISODES,
        episode("A", "01/05/2023", "S", "C2", "U4", "01/09/2023", "E13"), episode("B", "01/06/2023", "S", "C2", "U4"))
    return root


def _content(path: Path) -> dict[str, object]:
    """Every relation's columns and rows (stored order), every macro and view definition."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, object] = {}
        for schema, name in con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                        "WHERE table_catalog = current_database() ORDER BY 1, 2").fetchall():
            rows = con.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall()
            if (schema, name) == ("main", "build_info"):  # the sources' paths differ between the two folders
                rows = [r for r in rows if r[0] != "sources"]
            if (schema, name) == ("main", "source_file"):
                rows = [r[1:] for r in rows]
            out[f"{schema}.{name}"] = (con.execute(f'DESCRIBE "{schema}"."{name}"').fetchall(), rows)
        out["macros"] = con.execute(
            "SELECT function_name, macro_definition FROM duckdb_functions() WHERE database_name = "
            "current_database() AND function_type IN ('macro', 'table_macro') AND NOT internal ORDER BY 1, 2").fetchall()
        return out
    finally:
        con.close()


def _templates(cache: Path) -> list[Path]:
    return sorted(cache.glob("empty-warehouse-*.duckdb"))


def test_a_build_from_the_cached_empty_warehouse_equals_one_from_scratch(returns, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CSC_CACHE_DIR", str(cache))
    build([returns], tmp_path / "first.duckdb", progress=False)       # makes the cached file
    assert len(_templates(cache)) == 1
    made = _templates(cache)[0].stat().st_mtime_ns
    build([returns], tmp_path / "second.duckdb", progress=False)      # copies it
    assert _templates(cache)[0].stat().st_mtime_ns == made            # used, not made again
    monkeypatch.setenv("CSC_CACHE_DIR", str(tmp_path / "not-a-folder"))
    (tmp_path / "not-a-folder").write_text("a file where the cache folder would be")
    build([returns], tmp_path / "scratch.duckdb", progress=False)     # no cache to write: made in place
    scratch = _content(tmp_path / "scratch.duckdb")
    assert len(scratch) > 60 and any(k.startswith("planning.") for k in scratch)
    assert _content(tmp_path / "first.duckdb") == scratch
    assert _content(tmp_path / "second.duckdb") == scratch
    # the copy answers queries: the planning views read the copy's own tables (2 children, no objections)
    con = duckdb.connect(str(tmp_path / "second.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM planning.child").fetchall() == [(2,)]
    con.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_version"])
def test_a_damaged_or_foreign_cached_file_is_not_used(returns, tmp_path, monkeypatch, damage):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CSC_CACHE_DIR", str(cache))
    build([returns], tmp_path / "good.duckdb", progress=False)
    template = _templates(cache)[0]
    if damage == "garbage":
        template.write_bytes(b"\x00not a database\xff" * 1000)
    elif damage == "truncated":
        template.write_bytes(template.read_bytes()[:20_000])
    else:  # a file that opens but says it is another version's empty warehouse
        con = duckdb.connect(str(template))
        con.execute("UPDATE build_info SET value = 'another version' WHERE key = 'code_version'")
        con.execute("CREATE TABLE planted AS SELECT 1 AS x")
        con.close()
    build([returns], tmp_path / "again.duckdb", progress=False)
    assert _content(tmp_path / "again.duckdb") == _content(tmp_path / "good.duckdb")
    con = db.open_readonly(tmp_path / "again.duckdb")          # this version's warehouse, nothing planted
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'planted'").fetchall() == [(0,)]
    con.close()
    # the bad file was discarded; the next build makes a good one again and uses it
    build([returns], tmp_path / "third.duckdb", progress=False)
    assert len(_templates(cache)) == 1
    con = duckdb.connect(str(_templates(cache)[0]), read_only=True)
    assert con.execute("SELECT value FROM build_info WHERE key = 'code_version'").fetchall() == [(db.code_version(),)]
    con.close()


def test_another_versions_cached_file_is_removed_when_this_version_makes_its_own(returns, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    old = cache / ("empty-warehouse-" + "0" * 32 + ".duckdb")
    old.write_bytes(b"left by an older version")
    monkeypatch.setenv("CSC_CACHE_DIR", str(cache))
    build([returns], tmp_path / "w.duckdb", progress=False)
    assert _templates(cache) == [cache / f"empty-warehouse-{db.template_key()[:32]}.duckdb"]
