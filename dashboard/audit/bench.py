"""Record latency of the audit trail: ``bench_audit(path, n)`` -> median / p95 milliseconds (prints nothing).

The common case measured is the Streamlit server's: many records from one process, one after another, on an
existing trail. The first record (which opens the file and checks it against its head) is reported separately.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from dashboard.audit.trail import AuditTrail


def _entry(i: int) -> dict:
    return {"user": "bench", "role": "social_worker", "teams": ["T01"], "purpose": "direct_care",
            "lawful_basis": "UK GDPR 6(1)(e)", "path": "bench:audit", "outcome": "allowed", "event": "access",
            "query": "child_summary", "params": {"child_id": f"C{i:05d}"}, "rows": 1, "tier": "identifiable",
            "child_ids": [f"C{i:05d}"]}


def _pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(p * len(sorted_ms)) - 1))]


def bench_audit(path: Path | str, n: int = 200) -> dict:
    """Append ``n`` entries to the trail at ``path`` (created if missing) and time each ``record`` call.

    Returns {"n", "first_ms", "median_ms", "p95_ms", "max_ms", "grants_median_ms", "threads_median_ms",
    "threads_p95_ms", "verify_ok"}; times in ms. ``grants_median_ms`` is ``active_emergency_grants`` between
    records (what the gate calls on identifiable pages); ``threads_*`` are another ``n`` records made by 8 threads
    at once (the Streamlit server: a record's latency then includes waiting for the other threads' records).
    """
    trail = AuditTrail(Path(path))
    t0 = time.perf_counter()
    trail.record(_entry(0))
    first = (time.perf_counter() - t0) * 1000
    lat: list[float] = []
    grants: list[float] = []
    for i in range(1, n + 1):
        t0 = time.perf_counter()
        trail.record(_entry(i))
        lat.append((time.perf_counter() - t0) * 1000)
        if i % 10 == 0:
            t0 = time.perf_counter()
            trail.active_emergency_grants("bench")
            grants.append((time.perf_counter() - t0) * 1000)
    threaded = _threaded(trail, n)
    trail.close()
    ok = trail.verify().ok
    lat.sort()
    return {"n": n, "first_ms": round(first, 2), "median_ms": round(statistics.median(lat), 2),
            "p95_ms": round(_pct(lat, 0.95), 2), "max_ms": round(lat[-1], 2),
            "grants_median_ms": round(statistics.median(grants), 2) if grants else None,
            "threads_median_ms": round(statistics.median(threaded), 2) if threaded else None,
            "threads_p95_ms": round(_pct(threaded, 0.95), 2) if threaded else None, "verify_ok": ok}


def _threaded(trail: AuditTrail, n: int, threads: int = 8) -> list[float]:
    lat: list[float] = []
    guard = threading.Lock()

    def work(t: int) -> None:
        for i in range(t, n, threads):
            t0 = time.perf_counter()
            trail.record(_entry(100_000 + i))
            took = (time.perf_counter() - t0) * 1000
            with guard:
                lat.append(took)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return sorted(lat)
