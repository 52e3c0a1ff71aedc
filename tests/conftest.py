"""Shared fixtures. Area-specific helpers live in tests/helpers_<area>.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
SAMPLE_DATA = PROJECT_ROOT / "sample_data"


def pytest_configure(config):
    # builds keep their empty warehouse in a cache folder (db.new_warehouse): the tests' own, not the project's
    os.environ.setdefault("CSC_CACHE_DIR", tempfile.mkdtemp(prefix="csc-test-cache-"))


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Path:
    """The bundled sample authority, built once per test session into a temporary warehouse file."""
    from dashboard.warehouse.build import build

    out = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    build([SAMPLE_DATA], out, progress=False)
    return out
