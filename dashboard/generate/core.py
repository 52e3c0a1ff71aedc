"""Synthetic journeys, made in memory as Polars frames shaped like the warehouse tables (schema.sql).

Everything is vectorised with numpy over arrays of children, CIN episodes, periods of care and events; the
only Python loops run over small fixed counts (the n-th referral of every child at once, the years of a
return).
Dates are held as int64 day numbers (days since 1970-01-01) while simulating; ``NA`` marks "no date".

The frames are the truth as at 31 March of the last census year, clean (no faults): the file writers in
``dashboard.generate.writers`` cut each year's return from them and add the documented faults.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
import numpy as np
import polars as pl

NA = np.int64(-(10**9))  # "no date" while simulating
EPOCH = dt.date(1970, 1, 1)
BURN_IN_YEARS = 14  # referrals start this many years before the first census year so long care careers exist

# ---------------------------------------------------------- code tables (weights are shares, summed to 1)
ETHNICITY = (
    [
        "WBRI",
        "WIRI",
        "WIRT",
        "WOTH",
        "WROM",
        "MWBC",
        "MWBA",
        "MWAS",
        "MOTH",
        "AIND",
        "APKN",
        "ABAN",
        "AOTH",
        "BCRB",
        "BAFR",
        "BOTH",
        "CHNE",
        "OOTH",
        "REFU",
        "NOBT",
    ],
    [
        0.66,
        0.005,
        0.003,
        0.05,
        0.007,
        0.03,
        0.012,
        0.015,
        0.03,
        0.015,
        0.03,
        0.012,
        0.018,
        0.015,
        0.035,
        0.01,
        0.003,
        0.03,
        0.005,
        0.006,
    ],
)
DISABILITY = ["MOB", "HAND", "PC", "INC", "COMM", "LD", "HEAR", "VIS", "BEH", "CON", "AUT", "DDA"]
REFERRAL_SOURCE = (
    [
        "1A",
        "1B",
        "1C",
        "1D",
        "2A",
        "2B",
        "3A",
        "3B",
        "3C",
        "3D",
        "3E",
        "3F",
        "4",
        "5A",
        "5B",
        "5C",
        "6",
        "7",
        "8",
        "9",
        "10",
    ],
    [
        0.05,
        0.01,
        0.01,
        0.01,
        0.02,
        0.01,
        0.18,
        0.02,
        0.10,
        0.03,
        0.01,
        0.01,
        0.08,
        0.02,
        0.03,
        0.02,
        0.29,
        0.01,
        0.03,
        0.01,
        0.03,
    ],
)  # 6 = police, 3A = school, 3C = health; 5D (early help) only exists from the 2023 schema and is added there
PRIMARY_NEED = (
    ["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9", "N0"],
    [0.57, 0.04, 0.04, 0.08, 0.14, 0.03, 0.005, 0.045, 0.03, 0.02],
)
FACTORS = [
    "1A",
    "1B",
    "1C",
    "2A",
    "2B",
    "2C",
    "3A",
    "3B",
    "3C",
    "4A",
    "4B",
    "4C",
    "5A",
    "5B",
    "5C",
    "6A",
    "6B",
    "6C",
    "7A",
    "8B",
    "8C",
    "8D",
    "8E",
    "8F",
    "9A",
    "10A",
    "11A",
    "12A",
    "13A",
    "14A",
    "15A",
    "16A",
    "17A",
    "18A",
    "19A",
    "20",
    "21",
    "22A",
    "23A",
]  # valid in every schema 2017-2026
CATEGORY = (["NEG", "EMO", "PHY", "SAB", "MUL"], [0.502, 0.357, 0.064, 0.037, 0.040])
# CP plan length bands (days): <=3m, 3-6m, 6-12m, 1-2y, 2y+ with England-like shares (4.4% two years or more)
CP_LONG = (731, 1100)  # 2 years or more (731 days is 2 calendar years even across a 29 February)
CP_BANDS = ([(14, 91), (92, 182), (183, 365), (366, 730), CP_LONG], [0.14, 0.20, 0.39, 0.209, 0.061])
# Placement moves (RNE P/T) in care: two classes of children with these shares and yearly move rates
# (x1.3 from age 11), unsettled years and early moves after an emergency placement; together they give
# England's 1 in 10 looked-after children with 3+ placements in the year and 68% of long-term under-16s
# with the same carer for 2+ years.
STABILITY_CLASSES = [0.75, 0.25]
STABILITY_MOVES = [0.07, 0.30]
UNSETTLED_YEAR = 0.06  # share of children looked after at 31 March with two carer changes in that year
EMERGENCY_PLACEMENT = 0.25  # share of care entries that begin in an emergency placement (a move in 3-60 days)
FIRST_PLACEMENT_BREAKS = 0.35  # of those, the share whose planned placement ends within 75-270 days
FOSTER = (["U1", "U2", "U3", "U4", "U5", "U6"], [0.08, 0.12, 0.25, 0.10, 0.15, 0.30])
RPC = (
    ["CARPL", "CLOSE", "ALLEG", "STAND", "APPRR", "CREQB", "CREQO", "CHILD", "LAREQ", "PLACE", "OTHER"],
    [0.28, 0.10, 0.03, 0.15, 0.10, 0.05, 0.05, 0.06, 0.13, 0.03, 0.02],
)
SW_REASON = (
    ["MANAGE", "FCONTA", "LEFTRL", "ORGRST", "TSPROC", "ABSENC", "CHCHAN", "PCCHAN", "OTHERS"],
    [0.20, 0.05, 0.25, 0.12, 0.15, 0.05, 0.05, 0.05, 0.08],
)
LOCALITIES = ["Northgate", "Riverside", "Eastfield", "Westmoor"]
TEAM_KINDS = ["Assessment and Intervention", "Family Support and Protection"]
LA_CODE = "999"  # not a real local authority code

GIVEN_M = [
    "Oliver",
    "George",
    "Harry",
    "Noah",
    "Jack",
    "Leo",
    "Arthur",
    "Muhammad",
    "Oscar",
    "Charlie",
    "Jacob",
    "Thomas",
    "Henry",
    "William",
    "Alfie",
    "Joshua",
    "Freddie",
    "Archie",
    "Theo",
    "Isaac",
    "Ethan",
    "Mason",
    "Kai",
    "Tyler",
    "Kyle",
    "Reuben",
    "Ibrahim",
    "Dylan",
    "Logan",
    "Riley",
]
GIVEN_F = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Willow",
    "Florence",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Elsie",
    "Charlotte",
    "Aisha",
    "Maya",
    "Chloe",
    "Ruby",
    "Jessica",
    "Daisy",
    "Amber",
    "Layla",
    "Zara",
    "Holly",
]
FAMILY = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "Khan",
    "Ali",
    "Hussain",
    "Begum",
    "Ahmed",
    "Kaur",
    "Singh",
    "Okafor",
    "Mensah",
    "Nowak",
]
STREETS = [
    "Acacia",
    "Beech",
    "Cedar",
    "Church",
    "Mill",
    "Station",
    "Victoria",
    "Park",
    "Queens",
    "Kings",
    "Windsor",
    "Albert",
    "Manor",
    "Grange",
    "Oak",
    "Elm",
    "Chapel",
    "Meadow",
    "Orchard",
    "Springfield",
]
STREET_KINDS = ["Road", "Street", "Avenue", "Close", "Lane", "Crescent", "Drive", "Way"]
POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # inward-code letters (no C, I, K, M, O, V)


@dataclass(frozen=True)
class Window:
    """The simulated time line: referrals from ``sim_start``; returns cover ``out_start`` .. ``end``."""

    first_year: int
    last_year: int

    @property
    def end(self) -> int:
        return day(dt.date(self.last_year, 3, 31))

    @property
    def out_start(self) -> int:
        return day(dt.date(self.first_year - 1, 4, 1))

    @property
    def sim_start(self) -> int:
        return day(dt.date(self.first_year - 1 - BURN_IN_YEARS, 4, 1))


def day(d: dt.date) -> int:
    return (d - EPOCH).days


def to_dates(a: np.ndarray) -> pl.Series:
    """int64 day numbers (NA = no date) -> a Polars Date series with nulls."""
    a = np.asarray(a, dtype=np.int64)
    s = pl.Series(np.where(a == NA, 0, a).astype(np.int32)).cast(pl.Date)
    return s.set(pl.Series(a == NA), None) if (a == NA).any() else s  # type: ignore[arg-type]


def pick(rng: np.random.Generator, table: tuple[list[str], list[float]], n: int) -> np.ndarray:
    codes, weights = table
    w = np.asarray(weights, dtype=float)
    return np.asarray(codes, dtype=object)[rng.choice(len(codes), size=n, p=w / w.sum())]


def bank_holidays(first: int, last: int) -> np.ndarray:
    cal = holidays.country_holidays("GB", subdiv="ENG", years=range(first, last + 1))
    return np.array(sorted(cal.keys()), dtype="datetime64[D]")


class Calendar:
    """Working days with England and Wales bank holidays; the start day counts as day 1 (DfE validators)."""

    def __init__(self, first: int, last: int):
        self.hol = bank_holidays(first, last)

    def roll(self, d: np.ndarray) -> np.ndarray:
        return np.busday_offset(d.astype("datetime64[D]"), 0, roll="forward", holidays=self.hol).astype(
            np.int64
        )

    def add(self, start: np.ndarray, working_days: np.ndarray) -> np.ndarray:
        """Date of working day number ``working_days`` counting ``start`` (a working day) as day 1."""
        s = self.roll(start).astype("datetime64[D]")
        return np.busday_offset(s, working_days - 1, roll="forward", holidays=self.hol).astype(np.int64)


def _lognormal_days(rng: np.random.Generator, median: float, sigma: float, n: int, lo: int = 1) -> np.ndarray:
    return np.maximum(lo, np.round(rng.lognormal(np.log(median), sigma, n))).astype(np.int64)


def _band_days(
    rng: np.random.Generator, bands: tuple[list[tuple[int, int]], list[float]], n: int
) -> np.ndarray:
    ranges, w = bands
    k = rng.choice(len(ranges), size=n, p=np.asarray(w) / sum(w))
    lo = np.array([r[0] for r in ranges])[k]
    hi = np.array([r[1] for r in ranges])[k]
    return rng.integers(lo, hi + 1)


GOLDEN = 0.6180339887498949  # fractional part of the golden ratio


def _stratified_u(rng: np.random.Generator, order: np.ndarray) -> np.ndarray:
    """One uniform number per item, quasi-random along ``order`` (a date): the golden-ratio (Weyl) sequence
    from a random start, handed out in date order. Any run of items close in time then gets each outcome in
    close to its expected share, so a rare outcome (an unsettled year in care, a CP plan lasting 2+ years)
    does not swing by chance between the census years of a small authority the way independent draws make
    it swing (about +/- 2 percentage points a year on a hundred or so children). Deterministic: one draw from
    ``rng`` and a stable sort."""
    u = np.empty(len(order))
    u[np.argsort(order, kind="stable")] = (rng.random() + np.arange(len(order)) * GOLDEN) % 1.0
    return u


class _YearStrata:
    """Quasi-random numbers like ``_stratified_u`` that carry on across the referral rounds of ``_episodes``:
    one golden-ratio sequence per census year of a key date, each from its own random start, continued by
    every round. Items keyed to one census year then get each outcome in close to its expected share however
    many rounds (first referrals, re-referrals) they come from; a fresh sequence per round would leave each
    round's rounding error (up to one item) in every year."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = np.random.default_rng(rng.integers(2**62))  # phases drawn apart from the main stream
        self._used: dict[int, int] = {}
        self._phase: dict[int, float] = {}

    def draw(self, key: np.ndarray) -> np.ndarray:
        d = key.astype("datetime64[D]")
        month = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
        year = d.astype("datetime64[Y]").astype(np.int64) + 1970 + (month >= 4)  # census year ending 31 March
        u = np.empty(len(key))
        for y in np.unique(year).tolist():  # sorted: phases are drawn in a fixed order
            at = np.flatnonzero(year == y)
            at = at[np.argsort(key[at], kind="stable")]
            if y not in self._phase:
                self._phase[y], self._used[y] = float(self._rng.random()), 0
            u[at] = (self._phase[y] + (self._used[y] + np.arange(len(at))) * GOLDEN) % 1.0
            self._used[y] += len(at)
        return u


def _band_days_u(bands: tuple[list[tuple[int, int]], list[float]], u: np.ndarray) -> np.ndarray:
    """Days from length bands for given uniforms: the band from where ``u`` falls in the cumulative shares,
    the days within the band from where it falls inside the band's share (spread evenly over the band)."""
    ranges, w = bands
    cum = np.cumsum(np.asarray(w) / sum(w))
    k = np.minimum(np.searchsorted(cum, u, side="right"), len(ranges) - 1)
    lo = np.array([r[0] for r in ranges])[k]
    hi = np.array([r[1] for r in ranges])[k]
    below = np.r_[0.0, cum[:-1]][k]
    frac = np.clip((u - below) / (cum[k] - below), 0.0, 1.0 - 1e-12)
    return lo + (frac * (hi - lo + 1)).astype(np.int64)


def _new_run(*keys: np.ndarray) -> np.ndarray:
    """True where a row of the sorted ``keys`` differs from the row before (the first row always does);
    empty in, empty out."""
    out = np.ones(len(keys[0]), dtype=bool)
    if len(out) > 1:
        out[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return out


def _run_end(keys: np.ndarray) -> np.ndarray:
    """True where a row of the sorted ``keys`` differs from the row after (the last row always does)."""
    out = np.ones(len(keys), dtype=bool)
    if len(out) > 1:
        out[:-1] = keys[1:] != keys[:-1]
    return out


def _group_rank(keys: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal (sorted) keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, keys[1:] != keys[:-1]]
    idx = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, idx, 0))
    return idx - first


def _series(name: str, v: object, dtype: pl.DataType | None = None) -> pl.Series:
    """Column from numpy/lists; object arrays (strings with None) go through lists so Polars types them."""
    if isinstance(v, np.ndarray) and v.dtype == object:
        vals = v.tolist()
        if dtype is None:
            sample = next((x for x in vals if x is not None), "")
            dtype = pl.Boolean if isinstance(sample, bool | np.bool_) else pl.Utf8
        return pl.Series(name, vals, dtype=dtype)
    if isinstance(v, pl.Series):
        return v.alias(name) if dtype is None else v.alias(name).cast(dtype)
    if isinstance(v, np.ndarray) and v.dtype.kind == "U":
        return pl.Series(name, v, dtype=pl.Utf8)
    return pl.Series(name, v, dtype=dtype)


def _df(data: dict, schema_overrides: dict | None = None, strict: bool = False) -> pl.DataFrame:
    so = schema_overrides or {}
    n = max((len(v) for v in data.values() if not isinstance(v, str | int | float | bool)), default=0)
    cols = []
    for k, v in data.items():
        if isinstance(v, str | int | float | bool):
            v = np.full(n, v, dtype=object if isinstance(v, str) else None)
        cols.append(_series(k, v, so.get(k)))
    return pl.DataFrame(cols)


def cat(*parts: object) -> np.ndarray:
    """Vectorised string building (much faster than numpy.char): each part is a literal str, an array, or
    (array of ints, width) for zero-padded numbers. Returns an object array of str."""
    cols: list[pl.Series] = []
    exprs: list[pl.Expr] = []
    for i, part in enumerate(parts):
        if isinstance(part, str):
            exprs.append(pl.lit(part))
            continue
        arr, width = part if isinstance(part, tuple) else (part, 0)
        ser = (
            _series(f"c{i}", arr)
            if isinstance(arr, np.ndarray) and arr.dtype == object
            else pl.Series(f"c{i}", arr)
        )
        ser = ser.cast(pl.Utf8)
        cols.append(ser)
        exprs.append(pl.col(f"c{i}").str.zfill(width) if width else pl.col(f"c{i}"))
    return pl.DataFrame(cols).select(pl.concat_str(exprs).alias("s"))["s"].to_numpy().astype(object)


# ------------------------------------------------------------------ the children
def _children(rng: np.random.Generator, n: int, w: Window) -> dict[str, np.ndarray]:
    first_ref = rng.integers(w.sim_start, w.end + 1, n)
    ages = np.arange(18)
    age_w = np.array([14, 6, 6, 6, 6, 6, 5.5, 5.5, 5.5, 5.5, 6, 6.5, 6.5, 7, 7.5, 7, 6, 4], dtype=float)
    age = rng.choice(ages, size=n, p=age_w / age_w.sum())
    dob = first_ref - age * 365 - rng.integers(0, 365, n)
    sex = np.where(rng.random(n) < 0.52, "M", "F").astype(object)
    eth = pick(rng, ETHNICITY, n)
    disabled = rng.random(n) < 0.09
    return {
        "first_ref": first_ref,
        "dob": dob,
        "sex": sex,
        "ethnicity": eth,
        "disabled": disabled,
        "adult": dob + 6574,
    }  # 18th birthday (approx. 18 * 365.25)


# ------------------------------------------------------------------ CIN episodes, referral by referral
PATHS = np.array(["nfa", "assess_close", "cin_plan", "s47_no_cp", "cp", "care", "short_breaks"])


def _episodes(rng: np.random.Generator, ch: dict[str, np.ndarray], w: Window, cal: Calendar) -> dict:
    n = len(ch["dob"])
    out: dict[str, list[np.ndarray]] = {}

    def put(**cols: np.ndarray) -> None:
        for k, v in cols.items():
            out.setdefault(k, []).append(v)

    active = np.arange(n)
    ref = ch["first_ref"].copy()
    prev_cp = np.zeros(n, dtype=np.int64)
    last_ref = np.full(n, NA)
    cp_strata = _YearStrata(rng)
    rank = 0
    while len(active):
        r = ref[active]
        ok = (r <= w.end) & (r < ch["adult"][active] - 60)
        active, r = active[ok], r[ok]
        m = len(active)
        if m == 0:
            break
        age = (r - ch["dob"][active]) / 365.25
        dis = ch["disabled"][active]
        p = np.tile(np.array([0.085, 0.44, 0.26, 0.08, 0.078, 0.039, 0.0]), (m, 1))
        p[age < 1, 5] += 0.05
        p[age >= 13, 5] += 0.015
        p[dis, 6] = 0.12
        p /= p.sum(axis=1, keepdims=True)
        u = rng.random(m)[:, None]
        path = (u > np.cumsum(p, axis=1)).sum(axis=1)
        path = np.minimum(path, 6)

        nfa = path == 0
        close = np.full(m, NA)
        reason = np.full(m, None, dtype=object)
        # assessment (everything but NFA)
        a_start = cal.roll(r + rng.integers(0, 5, m))
        short = rng.random(m) < 0.07
        wd = np.where(short, rng.integers(1, 11, m), np.round(rng.lognormal(np.log(34), 0.27, m)))
        wd = np.maximum(1, wd).astype(np.int64)
        a_auth = cal.add(a_start, wd)
        a_review = np.where(rng.random(m) < 0.3, a_start + (a_auth - a_start) // 2, NA)
        has_assess = ~nfa
        # S47 / ICPC / CP plan
        s47 = np.isin(path, [3, 4]) | ((path == 5) & (rng.random(m) < 0.45))
        s47_start = cal.roll(r + rng.integers(0, 6, m))
        icpc_wd = np.where(rng.random(m) < 0.78, rng.integers(4, 16, m), rng.integers(16, 35, m))
        icpc = cal.add(s47_start, icpc_wd)
        icpc_target = cal.add(s47_start, np.full(m, 15))
        # S47 without a plan: 70% ICPC not required, 30% ICPC held but no plan
        icpc_held = (path == 4) | (path == 5) | ((path == 3) & (rng.random(m) < 0.3))
        has_cp = s47 & (path != 3)
        cp_start = icpc
        cp_len = _band_days(rng, CP_BANDS, m)
        # Plans that end on their own (no care entry) take their length band quasi-randomly, by the census
        # year (and day) each plan would end in if it were a long one: the share of plans lasting 2+ years
        # among those ending in a year then stays near England's 4.4% instead of swinging between about 1%
        # and 8% on a small authority's hundred plans
        own = np.flatnonzero(path == 4)
        long_len = rng.integers(CP_LONG[0], CP_LONG[1] + 1, len(own))
        own_len = _band_days_u(CP_BANDS, cp_strata.draw(cp_start[own] + long_len))
        cp_len[own] = np.where(own_len >= CP_LONG[0], long_len, own_len)
        cp_end = cp_start + cp_len
        # CIN plan: straight after assessment, or stepping down after a CP plan / S47
        step_down = ((path == 4) & (rng.random(m) < 0.45)) | ((path == 3) & (rng.random(m) < 0.5))
        has_plan = (path == 2) | (path == 6) | step_down
        plan_start = np.where(
            path == 4, cp_end, np.maximum(a_auth, np.where(path == 3, icpc, 0)) + rng.integers(1, 15, m)
        )
        plan_len = np.where(path == 6, _lognormal_days(rng, 900, 0.5, m), _lognormal_days(rng, 230, 0.7, m))
        plan_end = plan_start + plan_len
        # care
        care = path == 5
        emergency = rng.random(m) < 0.3
        care_start = np.where(
            has_cp, cp_end, np.where(emergency, r + rng.integers(0, 3, m), a_auth + rng.integers(0, 80, m))
        )
        care_start = np.where(
            has_cp & care, cp_start + np.minimum(cp_len, rng.integers(30, 300, m)), care_start
        )
        cp_end = np.where(has_cp & care, care_start, cp_end)
        kind = rng.choice(3, size=m, p=[0.33, 0.37, 0.30])  # short, medium, long
        care_len = np.select(
            [kind == 0, kind == 1],
            [_lognormal_days(rng, 90, 0.9, m), rng.integers(365, 3 * 365, m)],
            ch["adult"][active] - care_start,
        )
        young = age < 4
        adopt = care & young & (kind >= 1) & (rng.random(m) < 0.45)
        care_len = np.where(adopt, rng.integers(500, 1000, m), care_len)
        care_end = np.minimum(care_start + np.maximum(care_len, 1), ch["adult"][active])
        at18 = care_end >= ch["adult"][active]

        # closure of the CIN episode, by path
        close = np.select(
            [nfa, path == 1, has_plan, path == 4, path == 3, care],
            [
                r + rng.integers(0, 3, m),
                a_auth + rng.integers(0, 22, m),
                plan_end + rng.integers(0, 22, m),
                cp_end + rng.integers(0, 30, m),
                np.maximum(a_auth, icpc) + rng.integers(0, 20, m),
                care_end + rng.integers(0, 30, m),
            ],
            r + 1,
        )
        close = np.maximum(close, r)
        close = np.minimum(close, ch["adult"][active])
        late = close >= day(dt.date(2022, 4, 1))  # RC9 exists from the 2023 schema
        reason = np.select(
            [nfa, path == 1, care & adopt, care & at18, care],
            [
                np.where(rng.random(m) < 0.8, "RC8", "RC7"),
                np.where(late & (rng.random(m) < 0.45), "RC9", np.where(rng.random(m) < 0.85, "RC8", "RC7")),
                "RC1",
                "RC6",
                np.where(rng.random(m) < 0.2, "RC4", "RC7"),
            ],
            np.where(rng.random(m) < 0.9, "RC7", np.where(rng.random(m) < 0.5, "RC3", "RC5")),
        ).astype(object)
        src = pick(rng, REFERRAL_SOURCE, m)
        src = np.where((r >= day(dt.date(2022, 4, 1))) & (rng.random(m) < 0.02), "5D", src).astype(object)
        need = pick(rng, PRIMARY_NEED, m)
        need = np.where(dis & (path == 6), "N2", need).astype(object)
        rereferral = last_ref[active] != NA
        cp_cat = pick(rng, CATEGORY, m)
        cp_init = np.where(rng.random(m) < 0.88, cp_cat, pick(rng, CATEGORY, m)).astype(object)
        put(
            child=active,
            ref=r,
            path=path,
            close=close,
            reason=reason,
            source=src,
            need=need,
            nfa=nfa,
            has_assess=has_assess,
            a_start=a_start,
            a_review=a_review,
            a_auth=a_auth,
            s47=s47,
            s47_start=s47_start,
            icpc_target=icpc_target,
            icpc=np.where(icpc_held, icpc, NA),
            icpc_nr=s47 & ~icpc_held,
            has_cp=has_cp,
            cp_start=cp_start,
            cp_end=cp_end,
            cp_init=cp_init,
            cp_latest=cp_cat,
            prev_cp=prev_cp[active],
            has_plan=has_plan,
            plan_start=plan_start,
            plan_end=plan_end,
            care=care,
            care_start=care_start,
            care_end=care_end,
            adopt=adopt,
            at18=at18,
            care_kind=kind,
            reref=rereferral,
        )
        prev_cp[active] += has_cp
        last_ref[active] = r
        # next referral: often soon after closure (re-referrals), otherwise years later, sometimes never
        again = rng.random(m) < np.where(care, 0.25, 0.7)
        soon = rng.random(m) < 0.5
        gap = np.where(soon, 14 + rng.exponential(100, m), 365 + rng.exponential(900, m)).astype(np.int64)
        nxt = close + gap
        keep = again & (close <= w.end)
        ref[active[keep]] = nxt[keep]
        active = active[keep]
        rank += 1
    ep = {k: np.concatenate(v) for k, v in out.items()}
    order = np.lexsort((ep["ref"], ep["child"]))
    return {k: v[order] for k, v in ep.items()}


# ------------------------------------------------------------------ periods of care and their 903 episodes
def _placement(rng: np.random.Generator, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A placement type and provider for each move, by age (residential care more likely for teenagers)."""
    m = len(age)
    u = rng.random(m)
    resi = np.where(age >= 12, 0.28, np.where(age >= 8, 0.08, 0.01))
    place = pick(rng, FOSTER, m)
    place = np.where(u < resi, np.where(rng.random(m) < 0.9, "K2", "R1"), place)
    place = np.where((u >= resi) & (u < resi + 0.05), "P1", place)
    place = np.where((u >= resi + 0.05) & (u < resi + 0.06), "Z1", place).astype(object)
    prov = np.select(
        [
            np.isin(place, ["U1", "U2", "U3"]),
            np.isin(place, ["U4", "U5", "U6"]),
            place == "K2",
            place == "P1",
        ],
        ["PR1", "PR4", np.where(rng.random(m) < 0.7, "PR4", "PR1"), "PR0"],
        "PR1",
    ).astype(object)
    return place, prov


def _care(rng: np.random.Generator, ch: dict, ep: dict, w: Window) -> dict[str, pl.DataFrame]:
    sel = ep["care"] & (ep["care_start"] <= w.end) & (ep["care_end"] > ep["care_start"])  # not after 18
    child = ep["child"][sel]
    s, e = ep["care_start"][sel], ep["care_end"][sel]
    n = len(child)
    age = (s - ch["dob"][child]) / 365.25
    adopt, at18 = ep["adopt"][sel], ep["at18"][sel]
    uasc = (age >= 14) & (ch["sex"][child] == "M") & (rng.random(n) < 0.35) & ~adopt
    need = ep["need"][sel]
    cin_code = np.where(np.isin(need, ["N9", "N0"]), "N1", need)
    cin_code = np.where(uasc, "N8", cin_code).astype(object)
    rec = np.select(
        [adopt, at18],
        [
            np.where(rng.random(n) < 0.7, "E11", "E12"),
            pick(rng, (["E17", "E5", "E6", "E8"], [0.25, 0.4, 0.1, 0.25]), n),
        ],
        pick(
            rng,
            (
                ["E4A", "E4B", "E13", "E41", "E45", "E46", "E47", "E48", "E3", "E8", "E9", "E14"],
                [0.42, 0.05, 0.08, 0.07, 0.1, 0.05, 0.03, 0.03, 0.04, 0.07, 0.02, 0.04],
            ),
            n,
        ),
    ).astype(object)
    ls0 = np.select(
        [uasc, age < 1],
        ["V2", pick(rng, (["C2", "V2", "L2", "L1"], [0.42, 0.33, 0.15, 0.10]), n)],
        pick(rng, (["V2", "C2", "L1", "L2", "J2"], [0.52, 0.34, 0.07, 0.04, 0.03]), n),
    ).astype(object)
    pid = np.arange(n)
    dur = np.maximum(e - s, 1)

    # events: (period, day, rne, new ls or None, changes placement)
    ev_p, ev_t, ev_rne, ev_ls = [], [], [], []

    def add(mask: np.ndarray, t: np.ndarray, rne: str | np.ndarray, ls: object) -> None:
        ok = mask & (t > s) & (t < e)
        ev_p.append(pid[ok])
        ev_t.append(t[ok])
        ev_rne.append(np.broadcast_to(np.asarray(rne, dtype=object), (n,))[ok])
        ev_ls.append(np.broadcast_to(np.asarray(ls, dtype=object), (n,))[ok])

    # legal status changes (RNE L)
    add(
        np.isin(ls0, ["L1", "L2"]), s + rng.integers(1, 12, n), "L", np.where(rng.random(n) < 0.7, "C2", "V2")
    )
    c2 = (ls0 == "C2") | (np.isin(ls0, ["L1", "L2"]))
    add(c2 & (rng.random(n) < 0.75), s + rng.integers(120, 420, n), "L", "C1")
    add((ls0 == "V2") & ~uasc & (rng.random(n) < 0.15), s + rng.integers(60, 500, n), "L", "C2")
    add(ls0 == "J2", s + rng.integers(20, 90, n), "L", "V2")
    placed_adopt = e - rng.integers(200, 330, n)
    add(adopt, placed_adopt - rng.integers(30, 90, n), "L", "E1")
    # carer changes (RNE P) and same-carer placement changes (RNE T) at a steady rate, with settled and less
    # settled children
    cls = (rng.random(n) >= STABILITY_CLASSES[0]).astype(np.int64)
    lam = np.array(STABILITY_MOVES)[cls] * np.where(age >= 11, 1.3, 1.0)
    k = rng.poisson(lam * dur / 365.25)
    rep = np.repeat(pid, k)
    t_moves = s[rep] + (rng.random(len(rep)) * dur[rep]).astype(np.int64)
    rne_moves = np.where(rng.random(len(rep)) < 0.93, "P", "T").astype(object)
    ok = (t_moves > s[rep]) & (t_moves < e[rep])
    ev_p.append(rep[ok])
    ev_t.append(t_moves[ok])
    ev_rne.append(rne_moves[ok])
    ev_ls.append(np.full(ok.sum(), None, dtype=object))
    # an emergency placement, then a planned one; some planned placements do not hold in the first months
    # (quasi-randomly in start-date order, like the unsettled years below)
    u_start = _stratified_u(rng, s)
    add(u_start < EMERGENCY_PLACEMENT, s + rng.integers(3, 60, n), "P", None)
    add(u_start < EMERGENCY_PLACEMENT * FIRST_PLACEMENT_BREAKS, s + rng.integers(75, 270, n), "P", None)
    add(adopt, placed_adopt, "P", None)
    # Unsettled years: a placement breaks down and the next does not hold either, two carer changes within
    # the census year for a share of the children looked after at its 31 March (more of them teenagers).
    # These make most of the children with 3+ placements in a year; the share is handed out quasi-randomly
    # (_stratified_u, by year and start date) so a small authority lands near England's 1 in 10 each year
    # rather than drifting by a few points with whichever unsettled children happen to stay in care.
    years = np.arange(w.first_year - BURN_IN_YEARS - 1, w.last_year + 1)
    mar31 = np.array([day(dt.date(int(y), 3, 31)) for y in years])
    open_at = (s[:, None] <= mar31[None, :]) & (e[:, None] > mar31[None, :])
    up, uy = np.nonzero(open_at)  # (period, census year) pairs, in period order
    u_pair = _stratified_u(rng, mar31[uy] * 100_000 + (s[up] - w.sim_start))
    teen = (mar31[uy] - ch["dob"][child[up]]) / 365.25 >= 11
    # never once a placement for adoption is near: the child stays with the adopters until the order
    near_adoption = adopt[up] & (mar31[uy] >= placed_adopt[up] - 120)
    unsettled = (u_pair < UNSETTLED_YEAR * np.where(teen, 1.3, 0.85)) & ~near_adoption
    up, uy = up[unsettled], uy[unsettled]
    lo = np.maximum(s[up] + 1, mar31[uy] - 364)
    span = mar31[uy] - lo + 1
    for _ in range(2):
        t_u = lo + (rng.random(len(up)) * span).astype(np.int64)
        ev_p.append(up)
        ev_t.append(t_u)
        ev_rne.append(np.full(len(up), "P", dtype=object))
        ev_ls.append(np.full(len(up), None, dtype=object))

    p_ = np.concatenate(ev_p + [pid])
    t_ = np.concatenate(ev_t + [s])
    rne_ = np.concatenate(ev_rne + [np.full(n, "S", dtype=object)])
    ls_ = np.concatenate(ev_ls + [ls0])
    o = np.lexsort((t_, p_))
    p_, t_, rne_, ls_ = p_[o], t_[o], rne_[o], ls_[o]
    first = _new_run(p_, t_)  # one event per day per period
    p_, t_, rne_, ls_ = p_[first], t_[first], rne_[first], ls_[first]
    m = len(p_)
    # some legal status changes come with a move: B (new carer) or U (same carer, new placement)
    u = rng.random(m)
    with_move = (rne_ == "L") & np.isin(ls_, ["C1", "C2", "E1"])
    rne_ = np.where(with_move & (u < 0.12), "B", np.where(with_move & (u < 0.17), "U", rne_)).astype(object)
    last = _run_end(p_)
    dec = np.where(last, e[p_], np.r_[t_[1:], 0])
    rec_ = np.where(last, rec[p_], "X1").astype(object)
    age_ev = (t_ - ch["dob"][child[p_]]) / 365.25
    place_new, prov_new = _placement(rng, age_ev)
    is_move = np.isin(rne_, ["S", "P", "T", "B", "U"])
    nxt_adopt = adopt[p_] & (t_ == placed_adopt[p_]) & (rne_ == "P")
    place_new = np.where(nxt_adopt, np.where(rng.random(m) < 0.6, "A5", "A6"), place_new)
    frame = _df(
        {
            "p": p_,
            "t": t_,
            "rne": pl.Series(rne_, dtype=pl.Utf8),
            "ls_new": pl.Series(ls_, dtype=pl.Utf8),
            "place_new": pl.Series(np.where(is_move, place_new, None), dtype=pl.Utf8),
            "prov_new": pl.Series(np.where(is_move, prov_new, None), dtype=pl.Utf8),
        }
    )
    # T and U keep the carer: the placement type stays, except that fostering may change its type (U1..U6)
    same_carer = np.isin(rne_, ["T", "U"])
    prev_place = frame.select(pl.col("place_new").forward_fill().shift(1).over("p"))["place_new"].to_numpy()
    prev_prov = frame.select(pl.col("prov_new").forward_fill().shift(1).over("p"))["prov_new"].to_numpy()
    fostering = np.array([isinstance(x, str) and x.startswith("U") for x in prev_place])
    tu_place = np.where(fostering, pick(rng, FOSTER, m), prev_place)
    frame = frame.with_columns(
        _series(
            "place_new", np.where(same_carer, tu_place, frame["place_new"].to_numpy()).astype(object), pl.Utf8
        ),
        _series(
            "prov_new", np.where(same_carer, prev_prov, frame["prov_new"].to_numpy()).astype(object), pl.Utf8
        ),
    )
    frame = frame.with_columns(
        pl.col("ls_new").forward_fill().over("p").alias("ls"),
        pl.col("place_new").forward_fill().over("p").alias("place"),
        pl.col("prov_new").forward_fill().over("p").alias("prov"),
    )
    ls_col = frame["ls"].to_numpy().astype(object)
    place = frame["place"].to_numpy().astype(object)
    prov = frame["prov"].to_numpy().astype(object)
    rne_arr = frame["rne"].to_numpy().astype(object)
    # the episode that ends in a placement change carries the reason for the change
    rpc = np.where(
        np.r_[np.isin(rne_arr[1:], ["P", "T", "B", "U"]) & (p_[1:] == p_[:-1]), False],
        pick(rng, RPC, m),
        None,
    )
    home = ch["postcode"][child[p_]]
    pl_post = np.where(
        place == "P1",
        home,
        np.where(rng.random(m) < 0.8, _postcodes(rng, m, ch["pc_area"][child[p_]]), _postcodes(rng, m, None)),
    )
    urn = np.where(np.isin(place, ["K2", "R1"]), cat("SC", rng.integers(100000, 999999, m)), "XXXXXXX")
    # L (legal status only), T and U (same carer) keep the address: postcode and URN carry over
    moved = np.isin(rne_arr, ["S", "P", "B"])
    pl_post = np.where(moved, pl_post, None)
    urn = np.where(moved, urn, None)
    episodes = _df(
        {
            "pidx": p_,
            "child_idx": child[p_],
            "decom": t_,
            "rne": rne_arr,
            "ls": ls_col,
            "cin": cin_code[p_],
            "place": place,
            "place_provider": np.where(place == "P1", None, prov),
            "dec": dec,
            "rec": rec_,
            "reason_place_change": rpc,
            "home_post": home,
            "pl_post": pl_post,
            "urn": urn,
        },
        schema_overrides={
            "rne": pl.Utf8,
            "ls": pl.Utf8,
            "cin": pl.Utf8,
            "place": pl.Utf8,
            "place_provider": pl.Utf8,
            "rec": pl.Utf8,
            "reason_place_change": pl.Utf8,
            "home_post": pl.Utf8,
            "pl_post": pl.Utf8,
            "urn": pl.Utf8,
        },
        strict=False,
    )
    episodes = episodes.with_columns(
        pl.col("pl_post").forward_fill().over("pidx"), pl.col("urn").forward_fill().over("pidx")
    )
    periods = _df(
        {
            "pidx": pid,
            "child_idx": child,
            "start": s,
            "end": e,
            "rec": rec,
            "adopt": adopt,
            "placed_adopt": placed_adopt,
            "uasc": uasc,
            "age": age,
            "short": np.zeros(n, bool),
        },
        schema_overrides={"rec": pl.Utf8},
    )
    return {"episodes": episodes, "periods": periods}


def _short_breaks(rng: np.random.Generator, ch: dict, ep: dict, w: Window, first_pid: int) -> dict:
    """Disabled children on a short-breaks plan: separate V3/V4 stays of 1-4 nights."""
    sel = (ep["path"] == 6) & ep["has_plan"]
    child, ps, pe = ep["child"][sel], ep["plan_start"][sel], np.minimum(ep["plan_end"][sel], w.end)
    k = rng.poisson(np.maximum(pe - ps, 0) / 365.25 * 2)
    rep = np.repeat(np.arange(len(child)), k)
    s = ps[rep] + (rng.random(len(rep)) * (pe - ps)[rep]).astype(np.int64)
    o = np.lexsort((s, rep))
    rep, s = rep[o], s[o]
    keep = np.ones(len(rep), dtype=bool)  # the first stay of a plan, then stays a week or more apart
    keep[1:] = (rep[1:] != rep[:-1]) | (s[1:] > s[:-1] + 6)
    rep, s = rep[keep], s[keep]
    m = len(rep)
    e = s + rng.integers(1, 5, m)
    ls = np.where(rng.random(len(child)) < 0.75, "V4", "V3")[rep]
    place = np.where(rng.random(m) < 0.6, "K2", "U4")
    pid = first_pid + np.arange(m)
    c = child[rep]
    episodes = _df(
        {
            "pidx": pid,
            "child_idx": c,
            "decom": s,
            "rne": "S",
            "ls": ls,
            "cin": "N2",
            "place": place,
            "place_provider": np.where(place == "K2", "PR1", "PR4"),
            "dec": e,
            "rec": "E13",
            "reason_place_change": pl.Series([None] * m, dtype=pl.Utf8),
            "home_post": ch["postcode"][c],
            "pl_post": _postcodes(rng, m, ch["pc_area"][c]),
            "urn": np.where(place == "K2", cat("SC", rng.integers(100000, 999999, m)), "XXXXXXX"),
        },
        schema_overrides={"home_post": pl.Utf8},
        strict=False,
    )
    periods = _df(
        {
            "pidx": pid,
            "child_idx": c,
            "start": s,
            "end": e,
            "rec": "E13",
            "adopt": np.zeros(m, bool),
            "placed_adopt": np.full(m, NA),
            "uasc": np.zeros(m, bool),
            "age": (s - ch["dob"][c]) / 365.25,
            "short": np.ones(m, bool),
        }
    )
    return {"episodes": episodes, "periods": periods}


# ------------------------------------------------------------------ identifiers
def _postcodes(rng: np.random.Generator, n: int, area: np.ndarray | None) -> np.ndarray:
    """Postcodes of a fictional area (outward codes XB1..XB8, two per locality); ``area`` None: out of area
    (XC..)."""
    num = area * 2 + 1 + rng.integers(0, 2, n) if area is not None else rng.integers(1, 30, n)
    return cat(
        "XB" if area is not None else "XC",
        num,
        " ",
        rng.integers(1, 10, n),
        POSTCODE_LETTERS[rng.integers(0, 20, n)],
        POSTCODE_LETTERS[rng.integers(0, 20, n)],
    )


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """10-digit NHS numbers in the 999 test range with a valid modulus-11 check digit."""
    num = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        base = np.column_stack([np.full((len(todo), 3), 9), rng.integers(0, 10, (len(todo), 6))])
        total = (base * np.arange(10, 1, -1)).sum(axis=1)
        check = 11 - total % 11
        check = np.where(check == 11, 0, check)
        good = check != 10  # a check digit of 10 is never issued: draw again
        digits = np.column_stack([base, check])[good]
        num[todo[good]] = digits @ (10 ** np.arange(9, -1, -1, dtype=np.int64))
        todo = todo[~good]
    return cat((num, 10))


UPN_CHECK = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"))


def upns(rng: np.random.Generator, n: int) -> np.ndarray:
    """13-character UPNs: check letter + LA code + school + year + serial (DfE check-letter algorithm)."""
    la = np.tile(np.array([int(c) for c in LA_CODE]), (n, 1))
    rest = rng.integers(0, 10, (n, 9))
    digits = np.column_stack([la, rest])
    check = UPN_CHECK[(digits * np.arange(2, 14)).sum(axis=1) % 23]
    return cat(check, LA_CODE, (rest @ (10 ** np.arange(8, -1, -1, dtype=np.int64)), 9))


# ------------------------------------------------------------------ allocations (= social worker episodes)
def _allocations(rng: np.random.Generator, ch: dict, ep: dict, w: Window) -> pl.DataFrame:
    """Each non-NFA CIN episode is allocated from referral to closure; workers change now and then.

    The first worker sits in the locality's assessment team; after the assessment most cases move to the
    locality's family support and protection team. Every segment is one row of allocations.csv and, for
    children who are looked after, one 903 SW episode with the same worker id and dates."""
    sel = ~ep["nfa"] & (ep["ref"] <= w.end)
    e_idx = np.flatnonzero(sel)
    child = ep["child"][e_idx]
    s = ep["ref"][e_idx]
    end = np.where(ep["close"][e_idx] > w.end, w.end + 1, ep["close"][e_idx])
    dur = np.maximum(end - s, 1)
    care = ep["care"][e_idx]
    transfer = np.isin(ep["path"][e_idx], [2, 3, 4, 5, 6]) & (ep["a_auth"][e_idx] < end)
    lam = np.where(care, 0.9, 0.55)
    k = rng.poisson(lam * dur / 365.25)
    rep = np.repeat(np.arange(len(e_idx)), k)
    t = s[rep] + 1 + (rng.random(len(rep)) * np.maximum(dur[rep] - 1, 0)).astype(np.int64)
    e_all = np.concatenate([np.arange(len(e_idx)), np.flatnonzero(transfer), rep])
    t_all = np.concatenate([s, ep["a_auth"][e_idx][transfer], t])
    stage = np.concatenate([np.zeros(len(e_idx), int), np.ones(transfer.sum(), int), np.full(len(rep), 2)])
    o = np.lexsort((t_all, e_all))
    e_all, t_all, stage = e_all[o], t_all[o], stage[o]
    keep = _new_run(e_all, t_all) & (t_all < end[e_all])
    keep |= _new_run(e_all)
    e_all, t_all, stage = e_all[keep], t_all[keep], stage[keep]
    last = _run_end(e_all)
    seg_end = np.where(last, end[e_all], np.r_[t_all[1:], 0])
    # team: assessment team of the child's locality until the first transfer, then the long-term team
    moved = (
        pl.Series(stage >= 1)
        .cast(pl.Int8)
        .to_frame("m")
        .with_columns(pl.Series(e_all).alias("e"))
        .select(pl.col("m").cum_max().over("e"))["m"]
        .to_numpy()
    )
    area = ch["pc_area"][child[e_all]]
    team = area * 2 + moved  # 0..7
    per_team = max(4, int(np.ceil(sel.sum() / 8 / 25)))
    worker = rng.integers(0, per_team, len(e_all))
    same = np.r_[False, (e_all[1:] == e_all[:-1]) & (team[1:] == team[:-1]) & (worker[1:] == worker[:-1])]
    worker = np.where(same, (worker + 1) % per_team, worker)
    ended = seg_end <= w.end
    reason = np.where(ended, np.where(last, "OTHERS", pick(rng, SW_REASON, len(e_all))), None)
    team_id = cat("T", (team + 1, 2))
    return _df(
        {
            "child_idx": child[e_all],
            "episode_idx": e_idx[e_all],
            "team_id": team_id,
            "worker_id": cat("SW", (team + 1, 2), (worker, 3)),
            "start": t_all,
            "end": np.where(ended, seg_end, NA),
            "reason": reason,
            "care": care[e_all],
        },
        schema_overrides={"reason": pl.Utf8},
        strict=False,
    )


# ------------------------------------------------------------------ school moves
def _school_moves(
    rng: np.random.Generator, ch: dict, ep: dict, periods: pl.DataFrame, w: Window
) -> pl.DataFrame:
    """Moves in each academic year a child is of school age and known to the service (involved that year).

    Year 7 transfers (primary to secondary) happen on the first school day of September; other moves are
    either at the start of the year (first three weeks of September) or mid-year."""
    years = np.arange(w.first_year - 1, w.last_year)  # academic years starting September of these years
    # span of involvement per child: first referral .. last closure (or end)
    df = _df({"c": ep["child"], "r": ep["ref"], "x": np.where(ep["close"] == NA, w.end, ep["close"])})
    inv = df.group_by("c").agg(pl.col("r").min(), pl.col("x").max()).sort("c")
    c = inv["c"].to_numpy()
    lo, hi = inv["r"].to_numpy(), inv["x"].to_numpy()
    cc = np.repeat(c, len(years))
    yy = np.tile(years, len(c))
    sept = np.array([day(dt.date(int(y), 9, 3)) for y in years])[np.searchsorted(years, yy)]
    inv_lo, inv_hi = np.repeat(lo, len(years)), np.repeat(hi, len(years))
    age = (day(dt.date(2000, 8, 31)) - day(dt.date(2000, 9, 3)) + sept - ch["dob"][cc]) // 365
    known = (sept + 300 >= inv_lo) & (sept <= inv_hi) & (age >= 4) & (age <= 15)
    cc, yy, sept, age = cc[known], yy[known], sept[known], age[known]
    # in care during that academic year?
    pc = periods.filter(~pl.col("short")).select("child_idx", "start", "end")
    in_care = np.zeros(len(cc), bool)
    if pc.height:
        j = (
            _df({"c": cc, "s": sept, "i": np.arange(len(cc))})
            .join(pc, left_on="c", right_on="child_idx", maintain_order="left")
            .filter((pl.col("start") <= pl.col("s") + 300) & (pl.col("end") >= pl.col("s")))
        )
        in_care[j["i"].unique().to_numpy()] = True
    n = len(cc)
    y7 = (age == 11) & (rng.random(n) < 0.96)
    mid = rng.random(n) < np.where(in_care, 0.078, 0.045)
    early = rng.random(n) < 0.03
    rows_c = np.concatenate([cc[y7], cc[mid], cc[early]])
    d = np.concatenate(
        [
            sept[y7],
            sept[mid] + rng.integers(21, 320, mid.sum()),
            sept[early] + rng.integers(0, 18, early.sum()),
        ]
    )
    a = np.concatenate([age[y7], age[mid], age[early]])
    kind = np.concatenate([np.zeros(y7.sum(), int), np.ones(mid.sum(), int), np.full(early.sum(), 2)])
    ok = d <= w.end
    rows_c, d, a, kind = rows_c[ok], d[ok], a[ok], kind[ok]
    m = len(rows_c)
    phase = np.where(a >= 11, "secondary", "primary").astype(object)
    special = rng.random(m)
    to_phase = np.where(special < 0.04, "special", np.where(special < 0.06, "alternative", phase))
    to_phase = np.where(kind == 0, "secondary", to_phase)
    from_phase = np.where(kind == 0, "primary", phase)
    out = _df(
        {
            "child_idx": rows_c,
            "move_date": d,
            "from_phase": from_phase,
            "to_phase": to_phase,
            "to_urn": rng.integers(100000, 150000, m).astype(str),
        },
        schema_overrides={"from_phase": pl.Utf8, "to_phase": pl.Utf8},
        strict=False,
    )
    out = out.sort("child_idx", "move_date").unique(
        ["child_idx", "move_date"], keep="first", maintain_order=True
    )
    first_urn = pl.Series(rng.integers(100000, 150000, out.height).astype(str))
    return out.with_columns(
        pl.col("to_urn").shift(1).over("child_idx").fill_null(first_urn).alias("from_urn")
    )


# ------------------------------------------------------------------ assembly into warehouse-shaped frames
def _dates(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return df.with_columns(
        [
            pl.when(pl.col(c) == int(NA))
            .then(None)
            .otherwise(pl.col(c))
            .cast(pl.Int32)
            .cast(pl.Date)
            .alias(c)
            for c in cols
        ]
    )


def _ids(df: pl.DataFrame, name: str, *order: str) -> pl.DataFrame:
    """Surrogate key 1..n in a stable order (the same inputs always give the same keys)."""
    return df.sort(*order).with_row_index(name, offset=1).with_columns(pl.col(name).cast(pl.Int32))


def _census_year(d: pl.Expr) -> pl.Expr:
    """Year ending 31 March that contains date ``d``."""
    return pl.when(d.dt.month() >= 4).then(d.dt.year() + 1).otherwise(d.dt.year())


def generate_frames(children: int, seed: int, years: range) -> dict[str, pl.DataFrame]:
    """Simulate ``children`` children over ``years`` (census years, each ending 31 March) and return the
    normalised data as Polars frames with exactly the columns of the warehouse tables in schema.sql.

    ``children`` is the number of children the simulation follows from the start of its burn-in
    (BURN_IN_YEARS before the first census year); those whose involvement ended before the first census year
    appear in no return and are left out, so the frames hold fewer (about 35-45% for six census years).
    """
    if children < 1:
        raise ValueError("children must be at least 1")
    if len(years) < 1 or years.step != 1:
        raise ValueError("years must be a non-empty range of consecutive census years")
    w = Window(years.start, years.stop - 1)
    rng = np.random.default_rng(seed)
    cal = Calendar(w.first_year - BURN_IN_YEARS - 2, w.last_year + 2)
    ch = _children(rng, children, w)
    ch["pc_area"] = rng.integers(0, len(LOCALITIES), children)
    ch["postcode"] = _postcodes(rng, children, ch["pc_area"])
    ep = _episodes(rng, ch, w, cal)
    care = _care(rng, ch, ep, w)
    sb = _short_breaks(rng, ch, ep, w, care["periods"].height)
    episodes = pl.concat([care["episodes"], sb["episodes"]], how="vertical_relaxed")
    periods = pl.concat([care["periods"], sb["periods"]], how="vertical_relaxed")
    alloc = _allocations(rng, ch, ep, w)
    school = _school_moves(rng, ch, ep, periods, w)
    end, out_start = w.end, w.out_start

    # --- CIN episodes seen by at least one census
    e = _df({k: v for k, v in ep.items() if k not in ("cp_init", "cp_latest", "reason", "source", "need")})
    e = e.with_columns(
        pl.Series("reason", ep["reason"], dtype=pl.Utf8),
        pl.Series("source", ep["source"], dtype=pl.Utf8),
        pl.Series("need", ep["need"], dtype=pl.Utf8),
        pl.Series("cp_init", ep["cp_init"], dtype=pl.Utf8),
        pl.Series("cp_latest", ep["cp_latest"], dtype=pl.Utf8),
        pl.Series("eidx", np.arange(len(ep["ref"]))),
    )
    e = e.filter((pl.col("ref") <= end) & (pl.col("close") >= out_start))
    open_ = pl.col("close") > end
    e = e.with_columns(
        pl.when(open_).then(int(NA)).otherwise(pl.col("close")).alias("close"),
        pl.when(open_).then(None).otherwise(pl.col("reason")).alias("reason"),
    )
    # --- 903 episodes seen by at least one return
    episodes = episodes.filter((pl.col("decom") <= end) & (pl.col("dec") >= out_start))
    ep_open = pl.col("dec") > end
    episodes = episodes.with_columns(
        pl.when(ep_open).then(int(NA)).otherwise(pl.col("dec")).alias("dec"),
        pl.when(ep_open).then(None).otherwise(pl.col("rec")).alias("rec"),
    )

    # --- children: everyone a census or a return carries
    kept = np.unique(np.concatenate([e["child"].to_numpy(), episodes["child_idx"].to_numpy()]))
    width = len(str(children)) + 1
    perm = rng.permutation(children)

    def child_id(idx: pl.Expr) -> pl.Expr:  # ids not in time order
        return pl.concat_str(
            [
                pl.lit("C"),
                idx.map_batches(lambda s: pl.Series(perm[s.to_numpy()] + 1), return_dtype=pl.Int64)
                .cast(pl.Utf8)
                .str.zfill(width),
            ]
        )

    n = len(kept)
    in_903 = np.isin(kept, episodes["child_idx"].to_numpy())
    in_cin = np.isin(kept, e["child"].to_numpy())
    dob = ch["dob"][kept]
    has_upn = (dob <= end - 5 * 365) & (rng.random(n) < 0.93)
    upn = np.where(has_upn, upns(rng, n), None)
    upn_unknown = np.where(has_upn, None, np.where(dob > end - 6 * 365, "UN6", "UN5"))
    uasc_kids = periods.filter(pl.col("uasc"))["child_idx"].unique().to_numpy()
    is_uasc = np.isin(kept, uasc_kids)
    sex = ch["sex"][kept]
    mother = np.where(in_903 & (sex == "F"), (rng.random(n) < 0.015) & (end - dob > 14 * 365), None)
    mc_dob = np.where(mother == True, end - rng.integers(30, 700, n), NA)  # noqa: E712
    disabled = ch["disabled"][kept]
    child = _df(
        {
            "child_idx": kept,
            "sex": sex,
            "dob": dob,
            "ethnicity": ch["ethnicity"][kept],
            "upn": upn,
            "former_upn": pl.Series([None] * n, dtype=pl.Utf8),
            "upn_unknown": upn_unknown,
            "death_date": np.full(n, NA),
            "expected_dob": np.full(n, NA),
            "is_disabled": disabled,
            "mother": pl.Series(mother.tolist(), dtype=pl.Boolean),
            "mc_dob": mc_dob,
            "uasc_duc": np.where(is_uasc, ch["adult"][kept], NA),
            "source": np.where(in_cin & in_903, "cin+903", np.where(in_903, "903", "cin")),
        },
        schema_overrides={
            "sex": pl.Utf8,
            "ethnicity": pl.Utf8,
            "upn": pl.Utf8,
            "upn_unknown": pl.Utf8,
            "source": pl.Utf8,
        },
        strict=False,
    )
    group = {"W": "White", "M": "Mixed", "A": "Asian", "B": "Black", "C": "Other", "O": "Other"}
    child = child.with_columns(
        pl.col("ethnicity")
        .str.slice(0, 1)
        .replace_strict(group, default="Not known")
        .alias("ethnicity_group")
    )
    child = child.with_columns(
        pl.when(pl.col("ethnicity").is_in(["REFU", "NOBT"]))
        .then(pl.lit("Not known"))
        .otherwise(pl.col("ethnicity_group"))
        .alias("ethnicity_group")
    )
    nd = np.where(disabled, 1 + (rng.random(n) < 0.35), (rng.random(n) < 0.4).astype(int))
    rep = np.repeat(np.arange(n), nd)
    codes = np.where(
        disabled[rep],
        np.asarray(DISABILITY, dtype=object)[rng.integers(0, len(DISABILITY), len(rep))],
        "NONE",
    )
    disability = _df(
        {"child_idx": kept[rep], "disability": codes}, schema_overrides={"disability": pl.Utf8}, strict=False
    ).unique(maintain_order=True)

    ident = _df(
        {
            "child_idx": kept,
            "given_name": np.where(
                sex == "M",
                np.asarray(GIVEN_M, dtype=object)[rng.integers(0, len(GIVEN_M), n)],
                np.asarray(GIVEN_F, dtype=object)[rng.integers(0, len(GIVEN_F), n)],
            ),
            "family_name": np.asarray(FAMILY, dtype=object)[rng.integers(0, len(FAMILY), n)],
            "address": cat(
                rng.integers(1, 180, n),
                " ",
                np.asarray(STREETS)[rng.integers(0, len(STREETS), n)],
                " ",
                np.asarray(STREET_KINDS)[rng.integers(0, len(STREET_KINDS), n)],
            ),
            "postcode": ch["postcode"][kept],
            "nhs_number": nhs_numbers(rng, n),
            "upn": upn,
        },
        schema_overrides={
            "given_name": pl.Utf8,
            "family_name": pl.Utf8,
            "postcode": pl.Utf8,
            "nhs_number": pl.Utf8,
            "upn": pl.Utf8,
        },
        strict=False,
    )
    ident = ident.with_columns(pl.col("postcode").str.split(" ").list.first().alias("postcode_district"))

    # --- CIN tables
    e = _dates(
        e,
        *[
            c
            for c in (
                "ref",
                "close",
                "a_start",
                "a_review",
                "a_auth",
                "s47_start",
                "icpc_target",
                "icpc",
                "cp_start",
                "cp_end",
                "plan_start",
                "plan_end",
            )
        ],
    )
    e = e.with_columns(
        _census_year(pl.col("close"))
        .fill_null(w.last_year)
        .clip(upper_bound=w.last_year)
        .cast(pl.Int32)
        .alias("census_year")
    )
    e = _ids(e.rename({"child": "child_idx"}), "cin_episode_id", "child_idx", "ref")
    end_d = dt.date(w.last_year, 3, 31)
    cin_episode = e.select(
        "cin_episode_id",
        "child_idx",
        pl.col("ref").alias("referral_date"),
        pl.col("source").alias("referral_source"),
        pl.col("need").alias("primary_need"),
        pl.col("close").alias("closure_date"),
        pl.col("reason").alias("closure_reason"),
        pl.col("nfa").alias("referral_nfa"),
        "census_year",
    )
    a = e.filter(pl.col("has_assess") & (pl.col("a_start") <= end_d))
    a = a.with_columns(
        pl.when(pl.col("a_auth") > end_d).then(None).otherwise(pl.col("a_auth")).alias("a_auth"),
        pl.when(pl.col("a_review") > end_d).then(None).otherwise(pl.col("a_review")).alias("a_review"),
    )
    assessment = _ids(a, "assessment_id", "cin_episode_id").select(
        "assessment_id",
        "cin_episode_id",
        "child_idx",
        pl.col("a_start").alias("start_date"),
        pl.col("a_review").alias("internal_review_date"),
        pl.col("a_auth").alias("authorisation_date"),
    )
    done = assessment.filter(pl.col("authorisation_date").is_not_null())
    k = rng.integers(1, 4, done.height)
    rep = np.repeat(np.arange(done.height), k)
    assessment_factor = _df(
        {
            "assessment_id": done["assessment_id"].to_numpy()[rep],
            "child_idx": done["child_idx"].to_numpy()[rep],
            "factor": np.asarray(FACTORS, dtype=object)[rng.integers(0, len(FACTORS), len(rep))],
        },
        schema_overrides={"factor": pl.Utf8},
        strict=False,
    ).unique(maintain_order=True)
    # CIN plan dates exist from the 2022 census schema: plans of episodes no later census carries are unknown
    cp_ = e.filter(pl.col("has_plan") & (pl.col("plan_start") <= end_d) & (pl.col("census_year") >= 2022))
    cin_plan = _ids(cp_, "cin_plan_id", "cin_episode_id").select(
        "cin_plan_id",
        "cin_episode_id",
        "child_idx",
        pl.col("plan_start").alias("start_date"),
        pl.when(pl.col("plan_end") > end_d).then(None).otherwise(pl.col("plan_end")).alias("end_date"),
    )
    s = e.filter(pl.col("s47") & (pl.col("s47_start") <= end_d))
    section47 = _ids(s, "s47_id", "cin_episode_id").select(
        "s47_id",
        "cin_episode_id",
        "child_idx",
        pl.col("s47_start").alias("start_date"),
        pl.col("icpc_target"),
        pl.when(pl.col("icpc") > end_d).then(None).otherwise(pl.col("icpc")).alias("icpc_date"),
        pl.col("icpc_nr").alias("icpc_not_required"),
    )
    c = e.filter(pl.col("has_cp") & (pl.col("cp_start") <= end_d))
    cp_plan = _ids(c, "cp_plan_id", "cin_episode_id").select(
        "cp_plan_id",
        "cin_episode_id",
        "child_idx",
        pl.col("cp_start").alias("start_date"),
        pl.when(pl.col("cp_end") > end_d).then(None).otherwise(pl.col("cp_end")).alias("end_date"),
        pl.col("cp_init").alias("initial_category"),
        pl.col("cp_latest").alias("latest_category"),
        pl.col("prev_cp").cast(pl.Int32).alias("previous_cpp"),
    )
    # reviews: first within 3 months, then every 6 months while the plan lasts
    cps = cp_plan.with_columns(
        pl.col("start_date").cast(pl.Int32).alias("s"),
        pl.col("end_date").cast(pl.Int32).fill_null(end + 1).alias("e"),
    )
    nrev = ((cps["e"] - cps["s"] - 90).clip(lower_bound=-1) // 180 + 1).clip(lower_bound=0).to_numpy()
    rep = np.repeat(np.arange(cps.height), nrev)
    off = 90 + 180 * _group_rank(rep)
    rd = cps["s"].to_numpy()[rep] + off - rng.integers(0, 10, len(rep))
    cp_review = _dates(
        _df(
            {
                "cp_plan_id": cps["cp_plan_id"].to_numpy()[rep],
                "child_idx": cps["child_idx"].to_numpy()[rep],
                "review_date": rd,
            }
        ),
        "review_date",
    ).filter(pl.col("review_date") <= end_d)

    # --- 903 tables
    episodes = _dates(episodes, "decom", "dec")
    epi = _ids(episodes, "episode_id", "child_idx", "decom")
    per = epi.group_by("pidx").agg(
        pl.col("child_idx").first(),
        pl.col("decom").min().alias("start_date"),
        pl.col("episode_id").max().alias("last"),
        pl.len().alias("episodes"),
        pl.col("ls").is_in(["V3", "V4"]).all().alias("short_breaks_only"),
    )
    lastep = epi.select(
        pl.col("episode_id").alias("last"), pl.col("dec").alias("end_date"), pl.col("rec").alias("end_reason")
    )
    per = _ids(per.join(lastep, on="last", maintain_order="left"), "period_id", "child_idx", "start_date")
    epi = epi.join(per.select("pidx", "period_id"), on="pidx", maintain_order="left")
    episode = epi.sort("episode_id").select(
        "episode_id",
        "child_idx",
        "decom",
        "rne",
        "ls",
        "cin",
        "place",
        "place_provider",
        "dec",
        "rec",
        "reason_place_change",
        "home_post",
        "pl_post",
        "urn",
        "period_id",
        (
            _census_year(pl.col("dec"))
            .fill_null(w.last_year)
            .clip(upper_bound=w.last_year)
            .cast(pl.Int32)
            .alias("return_year")
        ),
    )
    period_of_care = per.select(
        "period_id",
        "child_idx",
        "start_date",
        "end_date",
        "end_reason",
        pl.col("episodes").cast(pl.Int32),
        "short_breaks_only",
    )
    # periods (simulation view) that any return carries, with their true start
    pv = periods.join(per.select("pidx", "period_id"), on="pidx", maintain_order="left")
    long_ = pv.filter(~pl.col("short"))
    # CLA reviews: 20 days, 3 months, then every 6 months
    ps, pe = long_["start"].to_numpy(), np.minimum(long_["end"].to_numpy(), end)
    nrev = np.maximum(0, (pe - ps > 20).astype(int) + (pe - ps > 90) + np.maximum(0, (pe - ps - 90) // 180))
    rep = np.repeat(np.arange(long_.height), nrev)
    rank = _group_rank(rep)
    off = np.where(rank == 0, 20, np.where(rank == 1, 90, 90 + 180 * (rank - 1)))
    rdate = ps[rep] + off - rng.integers(0, 8, len(rep))
    cla_review = _df(
        {
            "child_idx": long_["child_idx"].to_numpy()[rep],
            "review_date": rdate,
            "review_code": pick(
                rng,
                (
                    ["PN1", "PN0", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"],
                    [0.8, 0.05, 0.03, 0.03, 0.03, 0.02, 0.02, 0.02],
                ),
                len(rep),
            ),
        },
        schema_overrides={"review_code": pl.Utf8},
        strict=False,
    ).filter((pl.col("review_date") >= out_start) & (pl.col("review_date") <= end))
    cla_review = _dates(cla_review, "review_date")
    # missing from placement: some children aged 10+ go missing, a few of them often
    age = long_["age"].to_numpy()
    goes = (age >= 10) & (rng.random(long_.height) < 0.25)
    k = np.where(
        goes,
        rng.poisson(np.maximum(pe - ps, 0) / 365.25 * np.where(rng.random(long_.height) < 0.3, 8.0, 1.5)),
        0,
    )
    k = np.minimum(k, 40)
    rep = np.repeat(np.arange(long_.height), k)
    ms = ps[rep] + (rng.random(len(rep)) * (pe - ps)[rep]).astype(np.int64)
    me = ms + rng.integers(0, 6, len(rep))
    missing_episode = _df(
        {
            "child_idx": long_["child_idx"].to_numpy()[rep],
            "missing_type": np.where(rng.random(len(rep)) < 0.2, "A", "M"),
            "start_date": ms,
            "end_date": np.where(me > end, NA, me),
        },
        schema_overrides={"missing_type": pl.Utf8},
        strict=False,
    )
    missing_episode = _dates(
        missing_episode.filter((pl.col("start_date") >= out_start) & (pl.col("start_date") <= end)),
        "start_date",
        "end_date",
    )
    missing_episode = missing_episode.unique(["child_idx", "start_date"], keep="first", maintain_order=True)
    # adoption
    ad = long_.filter(pl.col("adopt") & (pl.col("placed_adopt") <= end))
    m = ad.height
    dpl = ad["placed_adopt"].to_numpy()
    adoption = _dates(
        _df(
            {
                "child_idx": ad["child_idx"].to_numpy(),
                "date_int": np.maximum(ad["start"].to_numpy() + 30, dpl - rng.integers(90, 200, m)),
                "date_match": dpl - rng.integers(7, 40, m),
                "foster_care": rng.random(m) < 0.15,
                "nb_adoptr": np.where(rng.random(m) < 0.8, 2, 1).astype(np.int32),
                "sex_adoptr": pick(rng, (["MF", "MM", "FF", "F1", "M1"], [0.75, 0.06, 0.06, 0.11, 0.02]), m),
                "ls_adoptr": pick(
                    rng, (["L0", "L11", "L12", "L2", "L3", "L4"], [0.1, 0.3, 0.1, 0.1, 0.2, 0.2]), m
                ),
            },
            schema_overrides={"sex_adoptr": pl.Utf8, "ls_adoptr": pl.Utf8},
            strict=False,
        ),
        "date_int",
        "date_match",
    )
    ad_end = ad["end"].to_numpy()
    placed_adoption = _dates(
        _df(
            {
                "child_idx": ad["child_idx"].to_numpy(),
                "date_placed": dpl,
                "date_placed_ceased": np.where(ad_end > end, NA, ad_end),
                "reason_placed_ceased": np.where(ad_end > end, None, "RD1"),
            },  # RD1: the child was adopted
            schema_overrides={"reason_placed_ceased": pl.Utf8},
            strict=False,
        ),
        "date_placed",
        "date_placed_ceased",
    )
    # previous permanence: asked at the start of each period of care
    pp = long_.filter(pl.col("start") >= out_start)
    m = pp.height
    prev = pick(rng, (["Z1", "P1", "P2", "P3", "P4"], [0.88, 0.03, 0.04, 0.03, 0.02]), m)
    pdob = ch["dob"][pp["child_idx"].to_numpy()]
    dperm = pdob + (rng.random(m) * np.maximum(pp["start"].to_numpy() - pdob, 1)).astype(np.int64)
    dperm_s = (
        pl.Series(np.where(prev == "Z1", 0, dperm).astype(np.int32)).cast(pl.Date).dt.strftime("%d/%m/%Y")
    )
    previous_permanence = _df(
        {
            "child_idx": pp["child_idx"].to_numpy(),
            "prev_perm": prev,
            "la_perm": np.where(prev == "Z1", None, np.where(rng.random(m) < 0.7, LA_CODE, "201")),
            "date_perm": dperm_s.to_numpy(),
        },
        schema_overrides={"prev_perm": pl.Utf8, "la_perm": pl.Utf8, "date_perm": pl.Utf8},
        strict=False,
    )
    previous_permanence = previous_permanence.with_columns(
        pl.when(pl.col("prev_perm") == "Z1").then(None).otherwise(pl.col("date_perm")).alias("date_perm")
    )

    # OC2 (looked after 12 months at 31 March) and OC3 (care leavers at their 19th-21st birthdays)
    oc2_parts, oc3_parts = [], []
    for y in years:
        ref = day(dt.date(y, 3, 31))
        lo = day(dt.date(y - 1, 4, 1))
        c12 = (
            long_.filter((pl.col("start") <= ref - 365) & (pl.col("end") > ref))["child_idx"].unique().sort()
        )
        oc2_parts.append(_df({"child_idx": c12, "return_year": np.full(len(c12), y, np.int32)}))
        left = (
            long_.filter(
                (pl.col("age") + (pl.col("end") - pl.col("start")) / 365.25 >= 17.5) & (pl.col("end") <= ref)
            )["child_idx"]
            .unique()
            .sort()
            .to_numpy()
        )
        bd = ch["dob"][left]
        hit = np.zeros(len(left), bool)
        for age_ in (19, 20, 21):
            b = bd + int(age_ * 365.25)
            hit |= (b >= lo) & (b <= ref)
        oc3_parts.append(_df({"child_idx": left[hit], "return_year": np.full(hit.sum(), y, np.int32)}))
    oc2 = pl.concat(oc2_parts)
    m = oc2.height
    oage = (end - ch["dob"][oc2["child_idx"].to_numpy()]) / 365.25
    sdq = (oage >= 5) & (oage <= 17) & (rng.random(m) < 0.8)
    sub = rng.random(m) < 0.04
    b = lambda p: rng.random(m) < p  # noqa: E731
    oc2 = oc2.with_columns(
        pl.Series("sdq_score", np.clip(np.round(rng.normal(14, 7, m)), 0, 40).astype(np.int32)),
        _series(
            "sdq_reason",
            np.where(
                sdq, None, pick(rng, (["SDQ1", "SDQ2", "SDQ3", "SDQ4", "SDQ5"], [0.5, 0.1, 0.2, 0.1, 0.1]), m)
            ),
            pl.Utf8,
        ),
        pl.Series("convicted", (oage >= 10) & b(0.03)),
        pl.Series("health_check", b(0.9)),
        pl.Series("immunisations", b(0.85)),
        pl.Series("teeth_check", b(0.75)),
        pl.Series("health_assessment", b(0.9)),
        pl.Series("substance_misuse", sub),
        pl.Series("intervention_received", sub & b(0.6)),
        pl.Series("intervention_offered", sub & b(0.8)),
    )
    oc2 = oc2.with_columns(
        pl.when(pl.Series(sdq)).then(pl.col("sdq_score")).otherwise(None).alias("sdq_score")
    )
    oc3 = pl.concat(oc3_parts)
    m = oc3.height
    oc3 = oc3.with_columns(
        _series("in_touch", pick(rng, (["YES", "NO", "REFU", "NREQ"], [0.88, 0.05, 0.04, 0.03]), m), pl.Utf8),
        _series(
            "activity",
            pick(
                rng, (["F1", "P1", "F2", "P2", "G4", "G5", "G6"], [0.2, 0.05, 0.15, 0.05, 0.35, 0.1, 0.1]), m
            ),
            pl.Utf8,
        ),
        _series(
            "accommodation",
            pick(
                rng,
                (
                    ["B1", "C1", "D1", "E1", "G1", "H1", "K1", "R1", "S1", "T1", "U1"],
                    [0.05, 0.05, 0.25, 0.05, 0.05, 0.05, 0.1, 0.2, 0.05, 0.1, 0.05],
                ),
                m,
            ),
            pl.Utf8,
        ),
    )

    # --- local extracts
    team = pl.DataFrame(
        {
            "team_id": [f"T0{i + 1}" for i in range(8)],
            "team_name": [f"{LOCALITIES[i // 2]} {TEAM_KINDS[i % 2]}" for i in range(8)],
            "locality": [LOCALITIES[i // 2] for i in range(8)],
        }
    )
    al = alloc.filter(
        ((pl.col("end") >= out_start) | (pl.col("end") == int(NA))) & pl.col("child_idx").is_in(kept)
    )
    al = _dates(al, "start", "end")
    allocation = al.select(
        "child_idx",
        "team_id",
        "worker_id",
        pl.col("start").alias("start_date"),
        pl.col("end").alias("end_date"),
    )
    sw_all = al.filter(pl.col("care")).select(
        "child_idx",
        pl.col("worker_id").alias("sw_id"),
        pl.col("start").alias("start_date"),
        pl.col("end").alias("end_date"),
        "reason",
        "end",
    )
    # 903 SW episodes exist from the 2024 return (year from 1 April 2023), for children looked after
    sw_from = dt.date(2023, 4, 1) if w.last_year >= 2024 else dt.date(w.last_year + 1, 4, 1)
    sw_all = sw_all.filter(
        (pl.col("end").is_null() | (pl.col("end") >= sw_from))
        & pl.col("child_idx").is_in(episodes["child_idx"].unique().implode())
    )
    ob = rng.random(n) < 0.025
    fr = _df({"c": ep["child"], "r": ep["ref"]}).group_by("c").agg(pl.col("r").min())
    first = dict(zip(fr["c"].to_list(), fr["r"].to_list(), strict=True))
    obk = kept[ob]
    fr_ = np.array([first[int(x)] for x in obk], dtype=np.int64) if len(obk) else np.zeros(0, np.int64)
    rec_d = np.minimum(end, np.maximum(fr_, out_start) + rng.integers(0, 700, len(obk)))
    objection = _dates(_df({"child_idx": obk, "recorded_date": rec_d, "scope": "non_care"}), "recorded_date")
    school = school.filter(pl.col("child_idx").is_in(kept) & (pl.col("move_date") >= out_start))
    school_move = _dates(school, "move_date").select(
        "child_idx", "move_date", "from_urn", "to_urn", "from_phase", "to_phase"
    )
    # population: sized so that children in need at 31 March land at England's 330 per 10,000
    stock = []
    for y in years:
        ref_d = dt.date(y, 3, 31)
        stock.append(
            cin_episode.filter(
                ~pl.col("referral_nfa")
                & (pl.col("referral_date") <= ref_d)
                & (pl.col("closure_date").is_null() | (pl.col("closure_date") > ref_d))
            )["child_idx"].n_unique()
        )
    base = max(1.0, float(np.mean(stock)) / 0.03303)
    age_w = np.array(
        [5.2, 5.3, 5.4, 5.5, 5.6, 5.6, 5.7, 5.7, 5.7, 5.7, 5.7, 5.7, 5.6, 5.6, 5.5, 5.5, 5.4, 5.3]
    )
    rows = []
    mid = (years.start + years.stop - 1) / 2
    for y in years:
        tot = base * (1 + 0.004 * (y - mid))
        for a_ in range(18):
            for sx, share in (("M", 0.512), ("F", 0.488)):
                rows.append((y - 1, a_, sx, int(round(tot * age_w[a_] / age_w.sum() * share))))
    population = pl.DataFrame(
        rows,
        schema={"mid_year": pl.Int32, "age": pl.Int32, "sex": pl.Utf8, "population": pl.Int32},
        orient="row",
    )

    child = _dates(child, "dob", "death_date", "expected_dob", "mc_dob", "uasc_duc")
    frames = {
        "child": child,
        "disability": disability,
        "person_identifier": ident,
        "cin_episode": cin_episode,
        "assessment": assessment,
        "assessment_factor": assessment_factor,
        "cin_plan": cin_plan,
        "section47": section47,
        "cp_plan": cp_plan,
        "cp_review": cp_review,
        "episode": episode,
        "period_of_care": period_of_care,
        "cla_review": cla_review,
        "missing_episode": missing_episode,
        "sw_episode": sw_all,
        "oc2": oc2,
        "oc3": oc3,
        "adoption": adoption,
        "placed_adoption": placed_adoption,
        "previous_permanence": previous_permanence,
        "team": team,
        "allocation": allocation,
        "objection": objection,
        "school_move": school_move,
        "population": population,
    }
    return {k: _finish(k, f, child_id) for k, f in frames.items()}


COLUMNS: dict[str, list[str]] = {
    "child": [
        "child_id",
        "sex",
        "dob",
        "ethnicity",
        "ethnicity_group",
        "upn",
        "former_upn",
        "upn_unknown",
        "death_date",
        "expected_dob",
        "is_disabled",
        "mother",
        "mc_dob",
        "uasc_duc",
        "source",
    ],
    "disability": ["child_id", "disability"],
    "person_identifier": [
        "child_id",
        "given_name",
        "family_name",
        "address",
        "postcode",
        "postcode_district",
        "nhs_number",
        "upn",
    ],
    "cin_episode": [
        "cin_episode_id",
        "child_id",
        "referral_date",
        "referral_source",
        "primary_need",
        "closure_date",
        "closure_reason",
        "referral_nfa",
        "census_year",
    ],
    "assessment": [
        "assessment_id",
        "cin_episode_id",
        "child_id",
        "start_date",
        "internal_review_date",
        "authorisation_date",
    ],
    "assessment_factor": ["assessment_id", "child_id", "factor"],
    "cin_plan": ["cin_plan_id", "cin_episode_id", "child_id", "start_date", "end_date"],
    "section47": [
        "s47_id",
        "cin_episode_id",
        "child_id",
        "start_date",
        "icpc_target",
        "icpc_date",
        "icpc_not_required",
    ],
    "cp_plan": [
        "cp_plan_id",
        "cin_episode_id",
        "child_id",
        "start_date",
        "end_date",
        "initial_category",
        "latest_category",
        "previous_cpp",
    ],
    "cp_review": ["cp_plan_id", "child_id", "review_date"],
    "episode": [
        "episode_id",
        "child_id",
        "decom",
        "rne",
        "ls",
        "cin",
        "place",
        "place_provider",
        "dec",
        "rec",
        "reason_place_change",
        "home_post",
        "pl_post",
        "urn",
        "period_id",
        "return_year",
    ],
    "period_of_care": [
        "period_id",
        "child_id",
        "start_date",
        "end_date",
        "end_reason",
        "episodes",
        "short_breaks_only",
    ],
    "cla_review": ["child_id", "review_date", "review_code"],
    "missing_episode": ["child_id", "missing_type", "start_date", "end_date"],
    "sw_episode": ["child_id", "sw_id", "start_date", "end_date", "reason"],
    "oc2": [
        "child_id",
        "return_year",
        "sdq_score",
        "sdq_reason",
        "convicted",
        "health_check",
        "immunisations",
        "teeth_check",
        "health_assessment",
        "substance_misuse",
        "intervention_received",
        "intervention_offered",
    ],
    "oc3": ["child_id", "return_year", "in_touch", "activity", "accommodation"],
    "adoption": ["child_id", "date_int", "date_match", "foster_care", "nb_adoptr", "sex_adoptr", "ls_adoptr"],
    "placed_adoption": ["child_id", "date_placed", "date_placed_ceased", "reason_placed_ceased"],
    "previous_permanence": ["child_id", "prev_perm", "la_perm", "date_perm"],
    "team": ["team_id", "team_name", "locality"],
    "allocation": ["child_id", "team_id", "worker_id", "start_date", "end_date"],
    "objection": ["child_id", "recorded_date", "scope"],
    "school_move": ["child_id", "move_date", "from_urn", "to_urn", "from_phase", "to_phase"],
    "population": ["mid_year", "age", "sex", "population"],
}


def _finish(name: str, f: pl.DataFrame, child_id) -> pl.DataFrame:
    if "child_idx" in f.columns:
        f = f.with_columns(child_id(pl.col("child_idx")).alias("child_id"))
    f = f.select(COLUMNS[name])
    if name in ("team", "population"):
        return f
    # a total order on every column, ids and child first, then dates: the same inputs give the same rows
    first = [c for c in f.columns if c.endswith("_id") and c != "child_id"][:1] + ["child_id"]
    dates = [c for c in f.columns if f.schema[c] == pl.Date and c not in first]
    rest = [c for c in f.columns if c not in first and c not in dates]
    return f.sort(first + dates + rest, nulls_last=True)
