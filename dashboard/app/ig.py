"""Information-governance pages: reading the audit trail is itself an access, checked and recorded first.

Data comes from dashboard.audit (search, subject access report, emergency queue, unusual activity). Each read is
written to the trail BEFORE it is shown; if that write fails, nothing is shown (fail closed), as with the gate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from dashboard.app import export, guard, session

SHOWN_COLUMNS = ["seq", "ts", "user", "role", "purpose", "path", "event", "outcome", "query", "child_ids",
                 "reason", "emergency_reason", "tier", "ruleset", "rows", "cells_suppressed"]


def require(page_key: str):
    return guard.require(page_key)


def record(g, principal, path: str, *, event: str = "audit_read", params: dict | None = None,
           child_ids: list[str] | None = None, reason: str | None = None) -> None:
    """Write the officer's read to the trail through the gate, or stop the page: an unrecorded read of the trail
    is not allowed."""
    from dashboard.policy import Refusal

    try:
        g.record_access(principal, path, event=event, params=params or {}, child_ids=child_ids or [],
                        reason=reason)
    except Refusal as e:
        st.error(f"Nothing is shown: {e}")
        st.stop()


def flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists joined with '; ' so a table shows them plainly."""
    return frame.with_columns([pl.col(c).cast(pl.List(pl.Utf8)).list.join("; ")
                               for c, t in frame.schema.items() if isinstance(t, pl.List)])


def show(frame: pl.DataFrame, columns: list[str] | None = None, height: int = 420) -> pl.DataFrame:
    f = flat(frame)
    if columns:
        f = f.select([c for c in columns if c in f.columns])
    st.dataframe(f, hide_index=True, width="stretch", height=height)
    return f


def downloads(g, principal, frame_fn: Callable[[], pl.DataFrame], name: str, params: dict[str, Any],
              child_ids: list[str] | None = None) -> None:
    """CSV and Excel of the table as shown; the export is recorded in the trail when the file is made."""

    def make(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            # recorded first through the gate (Refusal propagates: no file without a record); the grant is checked
            # again here because the file is made on a later click, and its lawful basis goes with it into the
            # child's subject access report
            g.record_access(principal, f"export:{fmt}", event="audit_export", params=params, query=name,
                            child_ids=child_ids or [])
            f = frame_fn()
            header, rows = f.columns, [list(r) for r in f.iter_rows()]
            rows = [[str(v) if v is not None and not isinstance(v, int | float) else v for v in r] for r in rows]
            return export.to_csv(header, rows) if fmt == "csv" else export.to_xlsx(header, rows, sheet=name)
        return build

    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("CSV", data=make("csv"), file_name=f"{name}.csv", mime="text/csv", key=f"csv-{name}",
                       icon=":material/download:", on_click="ignore")
    c2.download_button("Excel", data=make("xlsx"), file_name=f"{name}.xlsx", key=f"xlsx-{name}",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:", on_click="ignore")


def warehouse_path():
    return session.settings().warehouse
