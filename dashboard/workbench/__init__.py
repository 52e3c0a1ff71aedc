"""The analyst's SQL workbench: a locked DuckDB instance holding only their pseudonymised planning mart.

No Streamlit here (the page is dashboard/app/views/workbench.py). See docs/workbench.md.
"""

from dashboard.workbench.bench import bench_workbench
from dashboard.workbench.export import CheckedExport, check_output, is_aggregate
from dashboard.workbench.image import MartImage, MartImageError
from dashboard.workbench.library import Example, Library, SavedQuery, examples
from dashboard.workbench.sandbox import Limits, Outcome, Sandbox, WorkbenchError, locked_config
from dashboard.workbench.session import (
    Result,
    SchemaColumn,
    SchemaTable,
    Workbench,
    chart_axes,
    grant_for,
    workbench_purpose,
)

__all__ = [
    "CheckedExport", "Example", "Library", "Limits", "MartImage", "MartImageError", "Outcome", "Result", "Sandbox",
    "SavedQuery", "SchemaColumn",
    "SchemaTable", "Workbench", "WorkbenchError", "bench_workbench", "chart_axes", "check_output", "examples", "grant_for",
    "is_aggregate", "locked_config", "workbench_purpose",
]
