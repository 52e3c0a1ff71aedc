"""Keyed pseudonyms and coarsening of quasi-identifiers for the pseudonymised tier.

Why HMAC-SHA-256 with a per-purpose key held outside the repository and the data: a plain hash of a council
child id or NHS number is reversed by brute force in minutes, and one key per purpose means two releases made
for different purposes cannot be joined on their pseudonyms.

:func:`pseudonym` (Python's ``hmac``) is the definition. :func:`pseudonym_sql` computes the same value inside
DuckDB, so a whole column is pseudonymised in one vectorised statement instead of one Python call per value:
DuckDB 2.0's core has ``sha256`` but no ``hmac``, so HMAC is written out as RFC 2104 defines it,
``H((K' ^ opad) || H((K' ^ ipad) || m))`` with ``K'`` the key (hashed first when longer than SHA-256's 64-byte
block) padded with zero bytes to the block size. tests/test_pseudonym.py compares the two on many values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl

KEY_ENV_PREFIX = "CSC_PSEUDONYM_KEY_"
KEY_FILE_ENV = "CSC_PSEUDONYM_KEY_FILE"
MIN_KEY_BYTES = 16


class KeyMissing(LookupError):
    """No usable pseudonym key for a purpose."""


def load_key(purpose: str, env: Mapping[str, str] | None = None) -> bytes:
    """The purpose's key: env CSC_PSEUDONYM_KEY_<PURPOSE>, else CSC_PSEUDONYM_KEY_FILE (TOML, purpose = "key")."""
    env = os.environ if env is None else env
    raw = env.get(KEY_ENV_PREFIX + purpose.upper())
    if not raw and env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise KeyMissing(f"pseudonym key file {path} cannot be read: {e}") from None
        raw = data.get(purpose)
        if raw is not None and not isinstance(raw, str):
            raise KeyMissing(f"pseudonym key file {path}: key {purpose!r} must be a string")
    if not raw:
        raise KeyMissing(f"no pseudonym key for purpose {purpose!r}: set {KEY_ENV_PREFIX}{purpose.upper()} or "
                         f"{KEY_FILE_ENV} (a TOML file with {purpose} = \"...\"); keys never live in the repository")
    key = raw.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise KeyMissing(f"pseudonym key for purpose {purpose!r} is shorter than {MIN_KEY_BYTES} bytes")
    return key


#: the characters of a pseudonym: "P" and the first 20 hex digits (80 bits) of HMAC-SHA-256(key, value)
PSEUDONYM_HEX = 20
SHA256_BLOCK = 64


def pseudonym(value: str, key: bytes) -> str:
    """The reference definition (one Python call per value); :func:`pseudonym_sql` gives the same, vectorised."""
    return "P" + hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def hmac_pads(key: bytes) -> dict[str, bytes]:
    """The two padded keys of RFC 2104 for SHA-256, as the parameters ``$ipad`` and ``$opad`` of pseudonym_sql.

    Why parameters and never literals: they are as secret as the key (whoever holds them can make pseudonyms),
    so they are bound to the statement in memory only, never written into SQL text, a view, a macro or a file.
    """
    if len(key) > SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(SHA256_BLOCK, b"\0")
    return {"ipad": bytes(b ^ 0x36 for b in key), "opad": bytes(b ^ 0x5C for b in key)}


def pseudonym_sql(value_sql: str) -> str:
    """A DuckDB expression for pseudonym(value) of the VARCHAR expression ``value_sql`` (NULL stays NULL).

    Needs the parameters of hmac_pads(key). ``encode`` gives the value's UTF-8 bytes as they are (a cast to
    BLOB would read backslash escapes such as ``\\x41``); ``sha256`` of a BLOB gives lower-case hex, which
    ``unhex`` turns back into the 32-byte inner digest.
    """
    return (f"('P' || left(sha256($opad || unhex(sha256($ipad || encode({value_sql})))), {PSEUDONYM_HEX}))")


def pseudonym_frame(values: Iterable[str] | pl.Series, key: bytes) -> pl.DataFrame:
    """{value, pseudonym} for each distinct non-null value, computed in one DuckDB statement."""
    s = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.Utf8)
    uniq = pl.DataFrame({"value": s.cast(pl.Utf8).drop_nulls().unique()})
    if uniq.height == 0:
        return pl.DataFrame(schema={"value": pl.Utf8, "pseudonym": pl.Utf8})
    # a private in-memory engine with nothing else in it; the pads live only in this statement's parameters
    con = duckdb.connect(config={"autoload_known_extensions": False, "autoinstall_known_extensions": False,
                                 "enable_external_access": False})
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("__values", uniq.to_arrow())
        out = con.sql(f"SELECT value, {pseudonym_sql('value')} AS pseudonym FROM __values",
                      params=hmac_pads(key)).pl()
    finally:
        con.close()
    return out


def pseudonymise(s: pl.Series, key: bytes) -> pl.Series:
    """Each value of ``s`` replaced by its keyed pseudonym (nulls stay null): one HMAC per distinct value."""
    text = s.cast(pl.Utf8)
    table = pseudonym_frame(text, key)
    return text.replace_strict(table["value"], table["pseudonym"], default=None,
                               return_dtype=pl.Utf8).alias(s.name)


class PseudonymMap(Mapping[str, str]):
    """{pseudonym: value} held as two sorted Polars columns: a national mart's 2.78M children in ~100 MB,
    looked up by binary search, and in batches by :meth:`lookup`.

    Why not a dict: a Python dict of 2.78M string pairs takes several times the memory and seconds to build,
    and the map is shared by every session over the same mart.
    """

    def __init__(self, frame: pl.DataFrame, *, presorted: bool = False) -> None:
        """``presorted``: the caller guarantees unique, non-null pseudonyms in ascending (byte) order, e.g. from
        ``ORDER BY pseudonym`` in DuckDB, which sorts millions of strings far faster; checked, not trusted."""
        frame = frame.select(pl.col("pseudonym").cast(pl.Utf8), pl.col("value").cast(pl.Utf8))
        keys = frame["pseudonym"]
        if not (presorted and keys.null_count() == 0 and frame["value"].null_count() == 0
                and (keys.len() < 2 or bool((keys.slice(1) > keys.slice(0, keys.len() - 1)).all()))):
            frame = frame.drop_nulls().unique("pseudonym", keep="first").sort("pseudonym")
        self._keys = frame["pseudonym"]
        self._values = frame["value"]

    @classmethod
    def from_pairs(cls, pairs: Mapping[str, str]) -> PseudonymMap:
        return cls(pl.DataFrame({"pseudonym": list(pairs), "value": list(pairs.values())},
                                schema={"pseudonym": pl.Utf8, "value": pl.Utf8}))

    def __len__(self) -> int:
        return self._keys.len()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys.to_list())

    def __getitem__(self, pseudo: str) -> str:
        if not isinstance(pseudo, str):
            raise KeyError(pseudo)
        i = int(self._keys.search_sorted(pseudo))
        if i < len(self) and self._keys[i] == pseudo:
            return self._values[i]
        raise KeyError(pseudo)

    def lookup(self, candidates: Iterable[str]) -> dict[str, str]:
        """{candidate: value} for the candidates that are pseudonyms in this map (others left out)."""
        cands = pl.Series([c for c in set(candidates) if isinstance(c, str)], dtype=pl.Utf8)
        if cands.len() == 0 or len(self) == 0:
            return {}
        idx = self._keys.search_sorted(cands).clip(upper_bound=len(self) - 1)
        hit = self._keys.gather(idx) == cands
        return dict(zip(cands.filter(hit).to_list(), self._values.gather(idx.filter(hit)).to_list(), strict=True))

    def values_sorted(self) -> list[str]:
        return sorted(set(self._values.to_list()))


def postcode_district(s: pl.Series) -> pl.Series:
    """Outward code: 'LS6 1AB' -> 'LS6' (without a space, everything but the last three characters)."""
    t = s.cast(pl.Utf8).str.to_uppercase().str.strip_chars()
    spaced = t.str.split(" ").list.first()
    unspaced = t.str.replace_all(" ", "").str.slice(0, pl.lit(t.str.replace_all(" ", "").str.len_chars() - 3))
    return pl.select(pl.when(t.str.contains(" ")).then(spaced).otherwise(unspaced)).to_series().alias(s.name)


def to_month(s: pl.Series) -> pl.Series:
    if s.dtype in (pl.Date, pl.Datetime) or isinstance(s.dtype, pl.Datetime):
        return s.dt.strftime("%Y-%m").alias(s.name)
    return pl.Series(s.name, [None] * len(s), dtype=pl.Utf8)
