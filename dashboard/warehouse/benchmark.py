"""Build speed: `python -m dashboard.warehouse.benchmark [--children N] [--authority N] [--source DIR] [--repeat R]`.

--children: a large synthetic 903 return (CSV only). --authority: an authority generated in every statutory
format (903 CSV, CIN census XML, local extracts; the same files as `csc-dashboard bench --scale authority`).
--source: returns already on disk (e.g. the files --authority generates, kept from an earlier run), built as
they are, so repeated measurements skip generating them.
Prints wall and CPU seconds, rows per second and the wall and CPU seconds of each stage (read: decode, check and
parse the files, while the other returns' record rules run and their tables and derived relations are stored;
merge: the CIN record rules, the rest of the tables stored; write: the remaining derived relations, checkpoint and
rename; see BuildReport.stages); the median of the repeats. Prints figures only (no test asserts a time). Writes
its inputs and warehouses under a temporary folder.
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
    ap.add_argument("--children", type=int, default=100_000, help="903 CSV return of this many children")
    ap.add_argument("--authority", type=int, default=0,
                    help="instead: an authority of this many simulated children in every format (e.g. 60000)")
    ap.add_argument("--source", type=Path, default=None, help="instead: build these returns as they are")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="csc-bench-") as tmp:
        src = Path(tmp) / "in"
        if args.source is not None:
            src = args.source
            written = None
        elif args.authority:
            from dashboard.generate import write_dataset

            write_dataset(src, args.authority, 7, range(2020, 2026))
            written = None
        else:
            written = write_inputs(src, args.children)
        runs = []
        for k in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            report = build([src], Path(tmp) / f"w{k}.duckdb", progress=False)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu, report))
        wall, cpu, report = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        what = f" (written {written:,})" if written is not None else ""
        print(f"rows read {report.rows_read:,}{what}; wall {wall:.2f} s = {report.rows_read / wall:,.0f} rows/s; "
              f"CPU {cpu:.2f} s = {report.rows_read / cpu:,.0f} rows per CPU-second")
        print("stages (wall s):", {k: round(v, 2) for k, v in report.stages.items()})
        print("stages (CPU s, every thread):", {k: round(v, 2) for k, v in report.stages_cpu.items()})
        print("tables:", {k: v for k, v in report.table_rows.items() if v})


if __name__ == "__main__":
    main()
