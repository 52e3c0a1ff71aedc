"""Where things live on disk. Every path can be overridden by a CLI option or an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: the project checkout (queries/, access_policies/, sample_data/ sit beside the package)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUERIES_DIR = Path(os.environ.get("CSC_QUERIES", PROJECT_ROOT / "queries"))
POLICY_DIR = Path(os.environ.get("CSC_POLICIES", PROJECT_ROOT / "access_policies"))
SAMPLE_DATA_DIR = PROJECT_ROOT / "sample_data"


def data_dir() -> Path:
    return Path(os.environ.get("CSC_DATA_DIR", PROJECT_ROOT / "data"))


def cache_dir() -> Path:
    """What the product keeps to save work and can always make again (e.g. the build's empty warehouse)."""
    return Path(os.environ.get("CSC_CACHE_DIR", data_dir() / "cache"))


@dataclass
class Settings:
    warehouse: Path
    audit: Path

    @classmethod
    def from_env(cls, warehouse: Path | None = None, audit: Path | None = None) -> Settings:
        return cls(
            warehouse=Path(warehouse or os.environ.get("CSC_WAREHOUSE") or data_dir() / "warehouse.duckdb"),
            audit=Path(audit or os.environ.get("CSC_AUDIT") or data_dir() / "audit.duckdb"),
        )
