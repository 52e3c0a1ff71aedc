"""Figures for the lead's `bench` command: how long an analyst waits for their instance and a typical aggregate."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from dashboard.config import Settings

#: a typical planning question: looked-after episodes by sex of child, over the pseudonymised mart
TYPICAL_AGGREGATE = """
SELECT c.sex, count(DISTINCT e.child_id) AS children, count(*) AS episodes
FROM episode e JOIN child c USING (child_id)
GROUP BY ALL ORDER BY ALL
"""


def bench_workbench(warehouse_path: Path | str, role: str = "bi_analyst", sql: str = TYPICAL_AGGREGATE) -> dict:
    """Seconds to build the analyst's mart, to load and lock their instance, and to run a typical aggregate
    (audited, twice; then once more in the engine alone, so the audit trail's share shows).

    Prints nothing. Writes its audit entries to a throw-away trail, never the real one.
    """
    from dashboard.audit import AuditTrail
    from dashboard.policy import Gate, Principal
    from dashboard.workbench.session import Workbench, grant_for, workbench_purpose

    with tempfile.TemporaryDirectory(prefix="csc-wb-bench-") as tmp:
        settings = Settings(warehouse=Path(warehouse_path), audit=Path(tmp) / "audit.duckdb")
        gate = Gate.open(settings)
        principal = Principal(user="bench", role=role, purpose=workbench_purpose(gate.policy, role, None))
        grant = grant_for(gate.policy, principal)
        trail = AuditTrail(settings.audit)
        t0 = time.perf_counter()
        mart = gate.planning_mart(principal)
        t1 = time.perf_counter()
        wb = Workbench(principal, mart, audit=trail, policy=gate.policy,
                       ruleset=gate.policy.rulesets.get(grant.ruleset) if grant.ruleset else None)
        t2 = time.perf_counter()
        try:
            res = wb.run(sql)
            t3 = time.perf_counter()
            res2 = wb.run(sql)
            t4 = time.perf_counter()
            wb.sandbox.run(sql)  # the same statement without its audit entry: the engine's share of the time
            t5 = time.perf_counter()
        finally:
            wb.close()
            close = getattr(gate, "close", None)
            if close:
                close()
    return {
        "mart_s": round(t1 - t0, 4),
        "open_instance_s": round(t2 - t1, 4),
        "open_total_s": round(t2 - t0, 4),
        "aggregate_first_s": round(t3 - t2, 4),
        "aggregate_again_s": round(t4 - t3, 4),
        "aggregate_engine_only_s": round(t5 - t4, 4),
        "mart_tables": len(mart),
        "mart_rows": sum(f.height for f in mart.values()),
        "aggregate_rows": res.row_count,
        "aggregate_rows_again": res2.row_count,
    }
