"""Figures for the lead's `bench` command: how long an analyst waits for their instance and a typical aggregate.

Also runnable on its own, printing the figures:
    CSC_PSEUDONYM_KEY_PLANNING=... python -m dashboard.workbench [--pseudonyms N] WAREHOUSE...
"""

from __future__ import annotations

import sys
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


class _Clock:
    """Wall and CPU seconds of each step (CPU time is the fairer figure on a shared machine)."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.figures[f"{name}_s"] = round(wall - self._wall, 4)
        self.figures[f"{name}_cpu_s"] = round(cpu - self._cpu, 4)
        self._wall, self._cpu = wall, cpu


def bench_workbench(warehouse_path: Path | str, role: str = "bi_analyst", sql: str = TYPICAL_AGGREGATE) -> dict:
    """Seconds (wall and CPU) to build the analyst's mart through the gate (first session: the image is built),
    to open their locked instance, to open a SECOND session (the image is reused: the gate's checks and audit
    entry, then a new instance), and to run a typical aggregate (audited, twice; then once more in the engine
    alone, so the audit trail's share shows).

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
        ruleset = gate.policy.rulesets.get(grant.ruleset) if grant.ruleset else None
        trail = AuditTrail(settings.audit)
        wb = wb2 = None
        clock = _Clock()
        try:
            mart, children = gate.planning_mart_keyed(principal)
            clock.lap("mart")
            wb = Workbench(principal, mart, audit=trail, policy=gate.policy, ruleset=ruleset, children=children)
            clock.lap("open_instance")
            other = Principal(user="bench2", role=role, purpose=principal.purpose)
            mart2, children2 = gate.planning_mart_keyed(other)
            wb2 = Workbench(other, mart2, audit=trail, policy=gate.policy, ruleset=ruleset, children=children2)
            clock.lap("second_session_open")
            res = wb.run(sql)
            clock.lap("aggregate_first")
            res2 = wb.run(sql)
            clock.lap("aggregate_again")
            wb.sandbox.run(sql)  # the same statement without its audit entry: the engine's share of the time
            clock.lap("aggregate_engine_only")
            shown = wb.run("SELECT child_id, sex FROM child LIMIT 5000")   # 5,000 pseudonyms looked up
            clock.lap("rows_5000_with_children")
        finally:
            for w in (wb, wb2):
                if w is not None:
                    w.close()
            gate.close()
            trail.close()
    f = clock.figures
    f["open_total_s"] = round(f["mart_s"] + f["open_instance_s"], 4)
    f.update({
        "mart_tables": len(mart.columns),
        "mart_rows": sum(mart.rows.values()),
        "mart_image_mb": round(mart.size_bytes / 2**20, 1),
        "mart_children": len(children),
        "image_reused": mart2 is mart,
        "aggregate_rows": res.row_count,
        "aggregate_rows_again": res2.row_count,
        "rows_shown": shown.frame.height,
    })
    return f


def bench_pseudonyms(n: int, key: bytes = b"bench-key-0123456789abcdef") -> dict:
    """Seconds (wall and CPU) to pseudonymise n distinct ids in DuckDB SQL and one by one in Python."""
    import polars as pl

    from dashboard.policy.pseudonym import pseudonym, pseudonymise

    values = pl.Series("v", [f"C{i:09d}" for i in range(n)])
    clock = _Clock()
    vectorised = pseudonymise(values, key)
    clock.lap("sql")
    python = [pseudonym(v, key) for v in values.to_list()]
    clock.lap("python")
    f = clock.figures
    f.update({"values": n, "identical": vectorised.to_list() == python})
    return f


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    n = 0
    if "--pseudonyms" in args:
        i = args.index("--pseudonyms")
        n = int(args[i + 1])
        del args[i:i + 2]
    if n:
        print("pseudonyms:", ", ".join(f"{k} {v}" for k, v in bench_pseudonyms(n).items()))
    for warehouse in args:
        try:
            f = bench_workbench(warehouse)
        except Exception as e:  # noqa: BLE001 - a clean message, never a traceback
            print(f"Error: {warehouse}: {e}", file=sys.stderr)
            return 1
        print(f"workbench on {warehouse}:")
        for k, v in f.items():
            print(f"  {k:32} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
