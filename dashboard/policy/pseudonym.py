"""Keyed pseudonyms and coarsening of quasi-identifiers for the pseudonymised tier.

Why HMAC-SHA-256 with a per-purpose key held outside the repository and the data: a plain hash of a council
child id or NHS number is reversed by brute force in minutes, and one key per purpose means two releases made
for different purposes cannot be joined on their pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

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


def pseudonym(value: str, key: bytes) -> str:
    return "P" + hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def pseudonymise(s: pl.Series, key: bytes) -> pl.Series:
    uniq = s.drop_nulls().cast(pl.Utf8).unique().to_list()
    mapping = {u: pseudonym(u, key) for u in uniq}
    return s.cast(pl.Utf8).replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias(s.name)


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
