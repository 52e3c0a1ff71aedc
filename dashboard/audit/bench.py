"""Record latency of the audit trail: ``bench_audit(path, n)`` -> median / p95 milliseconds (prints nothing).

The common case measured is the Streamlit server's: many records from one process, one after another, on an
existing trail. The first record (which opens the file and checks it against its head) is reported separately.

``python -m dashboard.audit.bench [DIR] [-n N]`` runs it on a new trail in DIR (default: a temporary directory)
and prints the figures. Wall-clock figures include waiting for the disk (two fdatasyncs a commit), which on a
shared machine depends on everyone else's writes: the CPU figures (``time.process_time``) are the steadier ones.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
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


def bench_audit(path: Path | str, n: int = 200, batch: int = 20) -> dict:
    """Append ``n`` entries to the trail at ``path`` (created if missing) and time each ``record`` call.

    Returns {"n", "first_ms", "median_ms", "p95_ms", "max_ms", "cpu_median_ms", "batch", "batch_median_ms",
    "batch_p95_ms", "batch_cpu_median_ms", "grants_median_ms", "threads_median_ms", "threads_p95_ms",
    "close_ms", "verify_ms", "verify_ok"}; times in ms. ``cpu_*`` is this process's CPU time
    (``time.process_time``) per call. ``batch_*`` is ``record_many`` of ``batch`` entries (one page view of the
    gate's ``query_many``), ``n // 4`` times. ``grants_median_ms`` is ``active_emergency_grants`` between records
    (what the gate calls on identifiable pages); ``threads_*`` are another ``n`` records made by 8 threads at once
    (the Streamlit server: a record's latency then includes waiting for the other threads' records).
    ``close_ms`` is letting go of the trail (folding the journal into the file, confirming the head, closing).
    """
    trail = AuditTrail(Path(path))
    t0 = time.perf_counter()
    trail.record(_entry(0))
    first = (time.perf_counter() - t0) * 1000
    lat: list[float] = []
    cpu: list[float] = []
    grants: list[float] = []
    for i in range(1, n + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        trail.record(_entry(i))
        lat.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        if i % 10 == 0:
            t0 = time.perf_counter()
            trail.active_emergency_grants("bench")
            grants.append((time.perf_counter() - t0) * 1000)
    blat: list[float] = []
    bcpu: list[float] = []
    for k in range(max(1, n // 4)):
        entries = [_entry(10_000 + k * batch + j) for j in range(batch)]
        t0, c0 = time.perf_counter(), time.process_time()
        trail.record_many(entries)
        blat.append((time.perf_counter() - t0) * 1000)
        bcpu.append((time.process_time() - c0) * 1000)
    threaded = _threaded(trail, n)
    t0 = time.perf_counter()
    trail.close()
    closed = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    ok = trail.verify().ok
    verified = (time.perf_counter() - t0) * 1000
    lat.sort()
    blat.sort()
    return {"n": n, "first_ms": round(first, 2), "median_ms": round(statistics.median(lat), 2),
            "p95_ms": round(_pct(lat, 0.95), 2), "max_ms": round(lat[-1], 2),
            "cpu_median_ms": round(statistics.median(cpu), 2), "batch": batch,
            "batch_median_ms": round(statistics.median(blat), 2), "batch_p95_ms": round(_pct(blat, 0.95), 2),
            "batch_cpu_median_ms": round(statistics.median(bcpu), 2),
            "grants_median_ms": round(statistics.median(grants), 2) if grants else None,
            "threads_median_ms": round(statistics.median(threaded), 2) if threaded else None,
            "threads_p95_ms": round(_pct(threaded, 0.95), 2) if threaded else None,
            "close_ms": round(closed, 2), "verify_ms": round(verified, 2), "verify_ok": ok}


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dashboard.audit.bench", description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", type=Path, help="where to create the trail (default: a temporary directory)")
    ap.add_argument("-n", type=int, default=200, help="records timed one after another (default 200)")
    ap.add_argument("--batch", type=int, default=20, help="entries per record_many call (default 20)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="audit-bench-", dir=args.dir) as d:
        res = bench_audit(Path(d) / "audit.duckdb", args.n, args.batch)
    for key, value in res.items():
        print(f"{key:22s} {value}")


if __name__ == "__main__":
    main()
