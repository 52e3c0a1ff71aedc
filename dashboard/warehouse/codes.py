"""Code lists with labels (codes.yml, shipped in the package) and the derived codings the build applies."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

CODES_YML = Path(__file__).resolve().parent / "codes.yml"


@cache
def code_sets() -> dict[str, dict[str, str]]:
    """{code_set: {code: label}}; read from the package, never from ../shared."""
    data = yaml.safe_load(CODES_YML.read_text(encoding="utf-8"))
    return {name: {str(k): str(v) for k, v in codes.items()} for name, codes in data.items()}


def codes(name: str) -> frozenset[str]:
    return frozenset(code_sets()[name])


def lookup_rows() -> list[tuple[str, str, str]]:
    return [(s, c, lab) for s, cs in sorted(code_sets().items()) for c, lab in sorted(cs.items())]


#: 903 SEX (1/2 to 2024, M/F/U from 2025) and CIN GenderCurrent (1/2/0/9 to 2024) or Sex (M/F/U) -> one coding
SEX_MAP = {"1": "M", "2": "F", "0": "U", "9": "U", "M": "M", "F": "F", "U": "U"}

#: the DfE's five major ethnic groups (plus Not known for REFU/NOBT), by the first letter of the code
ETHNICITY_GROUP_BY_PREFIX = {"W": "White", "M": "Mixed", "A": "Asian", "B": "Black"}
ETHNICITY_GROUP_OTHER = {"CHNE": "Other", "OOTH": "Other"}


def ethnicity_group(code: str | None) -> str:
    if not code or code in ("REFU", "NOBT"):
        return "Not known"
    if code in ETHNICITY_GROUP_OTHER:
        return ETHNICITY_GROUP_OTHER[code]
    if code in code_sets()["ethnicity"]:
        return ETHNICITY_GROUP_BY_PREFIX.get(code[0], "Other")
    return "Not known"
