"""Build speed on a large synthetic 903 return: `python -m dashboard.warehouse.benchmark [--children N]`.

Prints figures only (no test asserts a time). Writes its inputs and warehouse under a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from dashboard.warehouse.build import build
from dashboard.warehouse.sources import TABLES_903


def write_inputs(folder: Path, children: int, seed: int = 7) -> int:
    rnd = random.Random(seed)
    d = folder / "ssda903" / "2024"
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(d / "header.csv", "w") as h, open(d / "episodes.csv", "w") as e, open(d / "reviews.csv", "w") as r:
        h.write(",".join(TABLES_903["header"]) + "\n")
        e.write(",".join(TABLES_903["episodes"]) + "\n")
        r.write(",".join(TABLES_903["reviews"]) + "\n")
        for c in range(children):
            cid = f"C{c:07d}"
            h.write(f"{cid},{rnd.choice('12')},0{rnd.randint(1, 9)}/0{rnd.randint(1, 9)}/20{rnd.randint(10, 20)},WBRI,,,\n")
            day = rnd.randint(1, 20)
            k = rnd.randint(1, 6)
            for i in range(k):
                last = i == k - 1
                e.write(f"{cid},{day:02d}/0{i + 1}/2023,{'S' if i == 0 else 'P'},C2,N1,U4,PR1,"
                        f"{'' if last else f'{day:02d}/0{i + 2}/2023'},{'' if last else 'X1'},,,,\n")
                r.write(f"{cid},01/01/2012,{day:02d}/0{i + 1}/2023,PN1\n")
            n += 1 + 2 * k
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--children", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="csc-bench-") as tmp:
        rows = write_inputs(Path(tmp) / "in", args.children)
        wall, cpu = time.perf_counter(), time.process_time()
        report = build([Path(tmp) / "in"], Path(tmp) / "w.duckdb", progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"rows read {report.rows_read:,} (written {rows:,}); wall {wall:.2f} s = {report.rows_read / wall:,.0f} "
              f"rows/s; CPU {cpu:.2f} s = {report.rows_read / cpu:,.0f} rows per CPU-second")
        print("tables:", {k: v for k, v in report.table_rows.items() if v})


if __name__ == "__main__":
    main()
