"""``csc-dashboard summary``: what the warehouse holds, through the gate like every other path to data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dashboard.audit import AuditTrail
from dashboard.cli import app

pytestmark = pytest.mark.functional
runner = CliRunner()


def summary(warehouse: Path, audit: Path, *args: str):
    return runner.invoke(app, ["--warehouse", str(warehouse), "--audit", str(audit), "summary", *args])


def count(warehouse: Path, sql: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()[0][0]


def test_service_manager_sees_the_build_summary_and_it_is_recorded(sample_warehouse, tmp_path):
    audit = tmp_path / "audit.duckdb"
    res = summary(sample_warehouse, audit, "--as", "service_manager", "--user", "sam")
    assert res.exit_code == 0, res.output
    # the years the sample covers (sample_data/ holds census years 2020-2025) and the child table's own count
    assert "CIN census years: 2020, 2021, 2022, 2023, 2024, 2025" in res.output
    n_child = count(sample_warehouse, "SELECT count(*) FROM child")
    assert any(line.split() == ["child", f"{n_child:,}"] for line in res.output.splitlines())
    last = AuditTrail(audit).frame().row(-1, named=True)
    assert (last["user"], last["role"], last["path"], last["outcome"]) == ("sam", "service_manager",
                                                                           "cli:summary", "allowed")


def test_a_role_without_a_service_management_or_audit_purpose_is_refused(sample_warehouse, tmp_path):
    audit = tmp_path / "audit.duckdb"
    res = summary(sample_warehouse, audit, "--as", "partner")
    assert res.exit_code != 0
    assert "refused" in res.output and "data-quality summary" in res.output
    assert "Tables:" not in res.output and "Traceback" not in res.output
    assert AuditTrail(audit).frame().row(-1, named=True)["outcome"] == "refused"


def test_unknown_role_and_missing_role_are_refused(sample_warehouse, tmp_path):
    res = summary(sample_warehouse, tmp_path / "audit.duckdb", "--as", "superuser")
    assert res.exit_code != 0 and "unknown role 'superuser'" in res.output and "Tables:" not in res.output
    res = summary(sample_warehouse, tmp_path / "audit.duckdb")
    assert res.exit_code != 0 and "--as" in res.output


def test_not_a_warehouse_is_a_clean_error(tmp_path):
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_bytes(b"this is not a database")
    res = summary(bogus, tmp_path / "audit.duckdb", "--as", "service_manager")
    assert res.exit_code != 0 and str(bogus) in res.output and "Traceback" not in res.output
