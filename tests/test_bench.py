"""The benchmark command runs end to end on a tiny authority and prints every kind of figure it promises.

No time is asserted (speed goals are read from its output by people, docs/benchmarks.md); this only keeps the
command from rotting.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dashboard.cli import app

pytestmark = [pytest.mark.functional, pytest.mark.slow]


def test_bench_prints_build_query_page_workbench_and_audit_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("CSC_PSEUDONYM_KEY_PLANNING", "test-only-bench-key")
    result = CliRunner().invoke(app, ["bench", "--scale", "authority", "--authority-children", "600",
                                      "--repeat", "1", "--workdir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "rows/s" in out                      # build throughput
    assert "cin_at_31_march" in out and "gate / DuckDB" in out  # every named query, raw beside gated
    assert "kept / DuckDB" in out               # and once its protected cube is kept on disk
    assert "largest cube" in out
    assert "overview" in out and "equalities" in out           # each report page
    assert "workbench:" in out and "open_total_s" in out
    assert "audit record:" in out and "median_ms" in out


def test_bench_refuses_an_unknown_scale():
    result = CliRunner().invoke(app, ["bench", "--scale", "county"])
    assert result.exit_code != 0
    assert "--scale must be" in result.output
