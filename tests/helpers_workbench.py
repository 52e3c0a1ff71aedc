"""Small hand-made marts for the workbench tests (the real mart comes from the policy gate)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class FakePrincipal:
    """Stands in for dashboard.policy.Principal where only its fields are read."""

    user: str
    role: str = "bi_analyst"
    teams: tuple[str, ...] = ()
    purpose: str = "planning"


def small_mart(sex: str | None = None) -> dict[str, pl.DataFrame]:
    """12 children, 3 ages each repeating; sexes alternate M, F unless `sex` fixes them all.

    child:   child_id p00..p11, sex M/F alternating (p00 M), age = i % 6  (0,1,2,3,4,5,0,1,...)
    episode: one row per child for children p00..p07 (8 rows), place 'U1' for even i, 'K2' for odd i
    """
    ids = [f"p{i:02d}" for i in range(12)]
    child = pl.DataFrame({
        "child_id": ids,
        "sex": [sex or ("M" if i % 2 == 0 else "F") for i in range(12)],
        "age": [i % 6 for i in range(12)],
    })
    episode = pl.DataFrame({
        "child_id": ids[:8],
        "place": ["U1" if i % 2 == 0 else "K2" for i in range(8)],
    })
    return {"child": child, "episode": episode}


#: a good query and its hand-worked answer on small_mart(): ages > 3 are 4,5 (i = 4,5,10,11):
#: i=4 M, i=5 F, i=10 M, i=11 F  ->  F 2, M 2
GOOD_SQL = "SELECT sex, count(*) AS n FROM child WHERE age > 3 GROUP BY sex ORDER BY sex"
GOOD_ROWS = [("F", 2), ("M", 2)]
