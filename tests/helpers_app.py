"""A tiny, hand-countable authority for the app tests, written into a real warehouse file (schema.sql, macros,
planning views) so the real gate and the real measures answer the pages.

The authority (census years ending 31 March 2024 and 2025):
- team T01 "Assessment Team North": children C001..C014, allocated since 1 Jan 2023 to worker SW001 (C001..C007)
  and SW002 (C008..C014). C001..C010 were referred on 1 May 2023 (open since), C011..C014 on 1 May 2024.
- team T02 "Assessment Team South": children C015..C017, referred and allocated on 1 June 2024.
- So children in need at 31 March 2024 = 10 (C001..C010), at 31 March 2025 = 14 + 3 = 17.
  T02's 3 children are a count in 1..5: the DfE rule-set shows it as 'c'.
- CP plans open at 31 March 2025: C001..C007 (7), all in T01, from 1 July 2024.
- Looked after at 31 March 2025: C008..C013 (6), all in T01, from 1 August 2024 (RNE S, LS C2, PLACE U1).
- C017 also had a referral on 10 April 2023, closed 1 June 2023 (census year 2024), so two census years exist.
- Names: child Cnnn is "Given<nnn> Family<nnn>".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dashboard.warehouse import db

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app"
MAIN = str(APP / "main.py")
PLANNING_KEY = "test-only-planning-key-0123456789"
# st.login settings AppTest needs to believe sign-in is configured (the provider is never contacted)
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-cookie-secret-0123456789",
        "entra": {"client_id": "x", "client_secret": "y",
                  "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}

T01 = [f"C{i:03d}" for i in range(1, 15)]
T02 = [f"C{i:03d}" for i in range(15, 18)]
CIN_2024 = T01[:10]
CP_OPEN = T01[:7]
CLA_OPEN = T01[7:13]


def make_warehouse(path: Path) -> Path:
    path = Path(path)
    con = duckdb.connect(str(path))
    try:
        db.create_schema(con)
        ins = con.execute
        for tid, name, loc in (("T01", "Assessment Team North", "North"), ("T02", "Assessment Team South", "South")):
            ins("INSERT INTO team VALUES (?, ?, ?)", [tid, name, loc])
        for n, cid in enumerate(T01 + T02, start=1):
            sex = "M" if n % 2 else "F"
            ins("INSERT INTO child (child_id, sex, dob, ethnicity, ethnicity_group, is_disabled, source) "
                "VALUES (?, ?, ?, 'WBRI', 'White', FALSE, 'cin')", [cid, sex, date(2015, 6, 1)])
            ins("INSERT INTO person_identifier (child_id, given_name, family_name, address, postcode, "
                "postcode_district, nhs_number, upn) VALUES (?, ?, ?, '1 High St', 'LS6 1AA', 'LS6', ?, ?)",
                [cid, f"Given{cid[1:]}", f"Family{cid[1:]}", f"9{n:09d}", f"A{n:012d}"])
            referral = date(2023, 5, 1) if cid in CIN_2024 else date(2024, 5, 1) if cid in T01 else date(2024, 6, 1)
            ins("INSERT INTO cin_episode VALUES (?, ?, ?, '1A', 'N1', NULL, NULL, FALSE, 2025)", [n, cid, referral])
            team = "T01" if cid in T01 else "T02"
            worker = ("SW001" if cid in T01[:7] else "SW002") if team == "T01" else "SW003"
            start = date(2023, 1, 1) if team == "T01" else date(2024, 6, 1)
            ins("INSERT INTO allocation VALUES (?, ?, ?, ?, NULL)", [cid, team, worker, start])
            if cid in CP_OPEN:
                ins("INSERT INTO cp_plan VALUES (?, ?, ?, ?, NULL, 'NEG', 'NEG', 0)", [n, n, cid, date(2024, 7, 1)])
            if cid in CLA_OPEN:
                ins("INSERT INTO episode (episode_id, child_id, decom, rne, ls, cin, place, dec, rec, period_id, "
                    "return_year) VALUES (?, ?, ?, 'S', 'C2', 'N1', 'U1', NULL, NULL, ?, 2025)",
                    [n, cid, date(2024, 8, 1), n])
                ins("INSERT INTO period_of_care VALUES (?, ?, ?, NULL, NULL, 1, FALSE)", [n, cid, date(2024, 8, 1)])
        # a referral closed within census year 2024, so that the warehouse holds two census years
        ins("INSERT INTO cin_episode VALUES (99, 'C017', ?, '1A', 'N1', ?, 'RC1', FALSE, 2024)",
            [date(2023, 4, 10), date(2023, 6, 1)])
        for mid in (2023, 2024):
            for age in range(18):
                for sex in ("M", "F"):
                    ins("INSERT INTO population VALUES (?, ?, ?, 100)", [mid, age, sex])
        db.create_planning_views(con)
    finally:
        con.close()
    return path


def app_environment(d: Path) -> Iterator[Path]:
    """The body of a module fixture for AppTest: this authority built in `d`, and the environment the app reads
    pointed at it (warehouse, audit trail and data directory in `d`, a planning key, no demo personas, no
    background warm-up); the environment is put back afterwards."""
    wh = make_warehouse(d / "warehouse.duckdb")
    mp = pytest.MonkeyPatch()
    mp.setenv("CSC_WAREHOUSE", str(wh))
    mp.setenv("CSC_AUDIT", str(d / "audit.duckdb"))
    mp.setenv("CSC_DATA_DIR", str(d))
    mp.setenv("CSC_PSEUDONYM_KEY_PLANNING", PLANNING_KEY)
    mp.delenv("CSC_DEMO", raising=False)
    mp.delenv("CSC_WARM_UP", raising=False)
    try:
        yield d
    finally:
        mp.undo()
