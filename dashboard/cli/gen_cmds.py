"""``csc-dashboard generate``: write a synthetic local authority's returns and local extracts."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

FIRST_SCHEMA_YEAR, LAST_SCHEMA_YEAR = 2017, 2026  # CIN XSDs we know; 903 SW episodes from 2024
GENERATED_DIRS = ("ssda903", "cin", "local")


def parse_years(text: str) -> range:
    """'2020-2025' -> range(2020, 2026); a single year '2025' is allowed."""
    m = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4}))?\s*", text)
    if not m:
        raise ValueError(f"--years must look like 2020-2025, got {text!r}")
    a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    if a > b:
        raise ValueError(f"--years: first year {a} is after last year {b}")
    if a < FIRST_SCHEMA_YEAR or b > LAST_SCHEMA_YEAR:
        raise ValueError(
            f"--years must lie within {FIRST_SCHEMA_YEAR}-{LAST_SCHEMA_YEAR} (the CIN schemas known)"
        )
    return range(a, b + 1)


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        out: Annotated[
            Path, typer.Option("--out", help="Directory to write ssda903/, cin/ and local/ into.")
        ],
        seed: Annotated[
            int, typer.Option("--seed", help="Random seed; the same seed gives identical files.")
        ] = 2026,
        children: Annotated[
            int,
            typer.Option(
                "--children",
                min=1,
                help="Children the simulation follows from the start of its 14-year burn-in (the "
                "files hold about 40% of them).",
            ),
        ] = 10000,
        years: Annotated[
            str, typer.Option("--years", help="Census years, each ending 31 March, e.g. 2020-2025.")
        ] = "2020-2025",
        overwrite: Annotated[
            bool,
            typer.Option(
                "--overwrite",
                help="Replace ssda903/, cin/ and local/ already in --out (nothing else there is touched).",
            ),
        ] = False,
        faults: Annotated[
            bool,
            typer.Option(
                "--faults/--no-faults",
                help="Add the documented share of faulty records real returns carry "
                "(see sample_data/README.md).",
            ),
        ] = True,
    ) -> None:
        """Write a synthetic authority's SSDA903 CSV sets, CIN census XML and local extracts (fake data)."""
        from dashboard.cli import fail
        from dashboard.generate import write_dataset

        try:
            yr = parse_years(years)
        except ValueError as exc:
            raise fail(str(exc)) from None
        if out.exists() and not out.is_dir():
            raise fail(f"--out {out} exists and is not a directory")
        # Old files of another run (other years, another seed) would be loaded together with the new ones by
        # `build`, mixing two authorities: refuse unless asked to replace them.
        existing = [out / d for d in GENERATED_DIRS if (out / d).exists()]
        if existing and not overwrite:
            raise fail(
                f"{', '.join(str(p) for p in existing)} already exist; use --overwrite to replace them"
            )
        try:
            for d in existing:
                shutil.rmtree(d)
        except OSError as exc:
            raise fail(f"cannot remove {out}: {exc}") from None
        t0 = time.perf_counter()
        try:
            frames = write_dataset(out, children, seed, yr, faults)
        except OSError as exc:
            raise fail(f"cannot write to {out}: {exc}") from None
        n = frames["child"].height
        typer.echo(
            f"Wrote {n} children, census years {yr.start}-{yr.stop - 1}, to {out} "
            f"({time.perf_counter() - t0:.1f}s; faults {'on' if faults else 'off'})."
        )
