"""Helpers for tests/test_generate.py: run the generator, read what it wrote the way a loader would."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from dashboard.cli import app


def run_generate(out: Path, *args: str) -> None:
    res = CliRunner().invoke(app, ["generate", "--out", str(out), *args])
    assert res.exit_code == 0, res.output


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, [dict(zip(header, r, strict=True)) for r in reader]


def d903(text: str) -> dt.date | None:
    return dt.datetime.strptime(text, "%d/%m/%Y").date() if text else None


def nhs_check_ok(number: str) -> bool:
    """NHS number modulus 11: weights 10..2 on the first nine digits; check = 11 - (sum mod 11),
    11 means 0, 10 is never issued."""
    if len(number) != 10 or not number.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(number[9])


def upn_check_ok(upn: str) -> bool:
    """DfE UPN check letter: characters 2-13 weighted 2..13, sum mod 23 indexes ABCDEFGHJKLMNPQRTUVWXYZ."""
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"
    if len(upn) != 13 or not upn[1:].isdigit():
        return False
    return letters[sum(int(c) * w for c, w in zip(upn[1:], range(2, 14), strict=True)) % 23] == upn[0]
