"""Keyed pseudonyms: the vectorised DuckDB-SQL HMAC gives EXACTLY what the Python definition gives.

The definition is pseudonym(value, key) = "P" + the first 20 hex digits of HMAC-SHA-256(key, UTF-8 of value).
The expectations come from RFC 4231's published test vectors and from Python's own `hmac` module (the
reference implementation), never from the SQL code under test.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.policy.pseudonym import (
    PseudonymMap,
    hmac_pads,
    pseudonym,
    pseudonym_frame,
    pseudonym_sql,
    pseudonymise,
)


def reference(value: str, key: bytes) -> str:
    return "P" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def in_sql(values: list[str | None], key: bytes) -> list[str | None]:
    """pseudonym_sql run row by row in a plain DuckDB statement (no dedup, no Polars)."""
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE v (i INTEGER, value VARCHAR)")
        if values:
            con.executemany("INSERT INTO v VALUES (?, ?)", list(enumerate(values)))
        return [r[0] for r in con.execute(f"SELECT {pseudonym_sql('value')} FROM v ORDER BY i",
                                          hmac_pads(key)).fetchall()]
    finally:
        con.close()


# RFC 4231 section 4: HMAC-SHA-256 test cases 1, 2, 6 and 7 (6 and 7: a 131-byte key, longer than the 64-byte
# block, so it is hashed first; 7 also has data longer than the block). Values are the published digests.
RFC4231 = [
    pytest.param(b"\x0b" * 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                 id="case1"),
    pytest.param(b"Jefe", "what do ya want for nothing?",
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", id="case2"),
    pytest.param(b"\xaa" * 131, "Test Using Larger Than Block-Size Key - Hash Key First",
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", id="case6-long-key"),
    pytest.param(b"\xaa" * 131, "This is a test using a larger than block-size key and a larger than block-size "
                 "data. The key needs to be hashed before being used by the HMAC algorithm.",
                 "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", id="case7-long-key-and-data"),
]


@pytest.mark.parametrize(("key", "data", "digest"), RFC4231)
def test_sql_hmac_matches_the_rfc_4231_vectors(key, data, digest):
    assert in_sql([data], key) == ["P" + digest[:20]]
    assert pseudonym(data, key) == "P" + digest[:20]


# values chosen to trip a hand-written HMAC: empty, NUL, multi-byte UTF-8 (2, 3 and 4 bytes), a backslash escape
# that a VARCHAR -> BLOB cast would decode ('\x41' is 4 characters, not 'A'), exactly one block, longer than a
# block, leading/trailing spaces, ids that look like numbers
AWKWARD = ["", "\x00", "a\x00b", "é", "Zoë Ångström", "日本語", "🙂🙂", "\\x41", "\\\\", "'quoted'", " C01 ",
           "C01", "c01", "x" * 63, "x" * 64, "x" * 65, "ü" * 100, "0", "007", "1e3", "NULL", "null"]
KEYS = [
    pytest.param(b"0123456789abcdef", id="16-bytes"),
    pytest.param(b"k" * 64, id="exactly-one-block"),
    pytest.param(b"k" * 65, id="one-byte-over-the-block"),
    pytest.param("clé-secrète-ünïcode-🔑".encode() * 5, id="non-ascii-longer-than-block"),
    pytest.param(bytes(range(256)) * 2, id="512-bytes-every-byte-value"),
]


@pytest.mark.parametrize("key", KEYS)
def test_sql_and_vectorised_pseudonyms_equal_the_python_definition(key):
    values = AWKWARD + [f"C{i:07d}" for i in range(5000)] + [f"SW{i}" for i in range(500)]
    expected = [reference(v, key) for v in values]
    assert in_sql(values, key) == expected
    assert pseudonymise(pl.Series("child_id", values), key).to_list() == expected
    assert [pseudonym(v, key) for v in values] == expected


@pytest.mark.property
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.text(max_size=80), max_size=40), key=st.binary(min_size=1, max_size=200))
def test_any_text_under_any_key_gives_the_python_pseudonym(values, key):
    expected = [reference(v, key) for v in values]
    assert in_sql(values, key) == expected
    assert pseudonymise(pl.Series("v", values, dtype=pl.Utf8), key).to_list() == expected


def test_nulls_stay_null_and_repeats_share_one_pseudonym():
    key = b"0123456789abcdef"
    out = pseudonymise(pl.Series("child_id", ["A", None, "A", "B", None]), key).to_list()
    assert out == [reference("A", key), None, reference("A", key), reference("B", key), None]
    assert in_sql([None], key) == [None]
    frame = pseudonym_frame(["A", "A", None, "B"], key)
    assert sorted(frame.rows()) == [("A", reference("A", key)), ("B", reference("B", key))]


def test_integer_ids_are_pseudonymised_as_their_text():
    key = b"0123456789abcdef"
    # str(42) == "42": the value hashed is the id's text, as pseudonym() hashes str(value)
    assert pseudonymise(pl.Series("n", [42, 7]), key).to_list() == [reference("42", key), reference("7", key)]


def test_a_different_key_gives_unrelated_pseudonyms():
    a, b = b"purpose-a-key-0123", b"purpose-b-key-0123"
    values = [f"C{i}" for i in range(200)]
    assert not set(pseudonymise(pl.Series(values), a).to_list()) & set(pseudonymise(pl.Series(values), b).to_list())


def test_the_key_never_appears_in_the_sql_text():
    key = b"super-secret-key-material"
    sql = pseudonym_sql("value")
    pads = hmac_pads(key)
    assert "super-secret" not in sql and pads["ipad"].hex() not in sql and pads["opad"].hex() not in sql
    assert "$ipad" in sql and "$opad" in sql


def test_pseudonym_map_finds_only_its_own_pseudonyms():
    key = b"0123456789abcdef"
    # C1 -> reference("C1"), C2 -> reference("C2"); anything else is not in the map
    m = PseudonymMap.from_pairs({reference("C1", key): "C1", reference("C2", key): "C2"})
    assert len(m) == 2 and m[reference("C2", key)] == "C2"
    assert reference("C3", key) not in m and "" not in m and "P" not in m and "zzz" not in m
    with pytest.raises(KeyError):
        m[reference("C3", key)]
    found = m.lookup([reference("C1", key), reference("C3", key), "P", "Pzzzz", "C1", "", "~"])
    assert found == {reference("C1", key): "C1"}
    assert PseudonymMap.from_pairs({}).lookup(["x"]) == {}


def test_a_map_said_to_be_sorted_is_checked_not_trusted():
    # given out of order and with a repeated pseudonym, it still finds each one (first value of a repeat kept)
    frame = pl.DataFrame({"pseudonym": ["Pc", "Pa", "Pb", "Pa"], "value": ["C3", "C1", "C2", "C9"]})
    m = PseudonymMap(frame, presorted=True)
    assert dict(m.items()) == {"Pa": "C1", "Pb": "C2", "Pc": "C3"}
    assert m.lookup(["Pa", "Pc", "Pd"]) == {"Pa": "C1", "Pc": "C3"}
