"""A checked XML document as one Polars frame of elements (vectorised: no Python per element).

Only for documents that `safexml.check_xml` has already accepted (well-formed, no DTD, so no entities beyond the
five predefined ones and character references). The document is split at every `<`; each piece is a tag and
the character data after it. Depth comes from a running count of start and end tags, each element's line from a
running count of line breaks before its `<` (the line the tree reader reports), and the enclosing
element at every depth from a forward fill, so records can be assembled by element number.

`elements` returns None for anything it does not handle exactly as the tree reader would (comments, CDATA,
processing instructions after the XML declaration, namespace prefixes, an encoding other than UTF-8/ASCII,
attribute values holding `>`), and the caller uses the tree reader instead: the fast path is an optimisation,
never a second opinion on what a document says.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pyarrow as pa

#: how deep `elements` tracks enclosing elements; deeper elements keep their depth and tag only
MAX_DEPTH = 7

_DECL = re.compile(rb"^(\xef\xbb\xbf)?<\?xml[^>]*?\?>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
#: a start tag with attributes: an unprefixed name, then unprefixed name="value" pairs, values without `>`
#: (a prefix anywhere needs the tree reader's namespace handling, which can refuse what the gate accepts)
_ATTRS = re.compile(r"""[^\s/:"'=]+(?:\s+[^\s=/:"']+\s*=\s*(?:"[^"<>]*"|'[^'<>]*'))*\s*/?""")
#: namespace names that namespace-aware parsing refuses as a default namespace
_ODD_CHARS = " \t\n\"':"
_RESERVED = ("http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/")


def _unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        ref = m.group(1)
        if ref[0] != "#":
            return _PREDEFINED[ref]
        return chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:]))

    return _ENTITY.sub(one, text)


def elements(data: bytes) -> pl.DataFrame | None:
    """Columns: i (document order), depth (root 1), tag, line, text (stripped character data after the start
    tag, entities decoded; "" when none), a1..a6 (at depth k < the element's: the enclosing element's i; at its
    own depth: itself; deeper: meaningless), parent (i of the enclosing element; null for the root and below
    depth 7). None when the document needs the tree reader.

    The structure (where each `<` and its `>` are, depth, line, enclosing elements) is worked out on the bytes
    with NumPy; the strings (tags and texts) are sliced out of the document by Arrow without a copy per piece."""
    m = _DECL.match(data)
    head = 0
    if m:
        enc = _DECL_ENCODING.search(m.group(0))
        if enc and enc.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
            return None
        head = m.end()
    elif data.startswith(b"\xef\xbb\xbf"):
        head = 3
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    # the document's own bytes from here on (no copy: a census is megabytes)
    body: bytes | memoryview = memoryview(data)[head:]
    try:  # only checked: the pieces below are cut at ASCII bytes, so each stays valid UTF-8
        pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(body)], np.int64)),
                                         pa.py_buffer(body)).validate(full=True)
    except pa.ArrowInvalid:
        return None
    if data.find(b"\r", head) >= 0:  # XML's end-of-line handling, which also makes every line break one "\n"
        body = bytes(body).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    prolog_lines = data[:head].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n")
    buf = np.frombuffer(body, dtype=np.uint8)
    mask = np.empty(len(buf), dtype=bool)               # one scratch mask for the byte searches below

    def where(byte: int) -> np.ndarray:
        return np.flatnonzero(np.equal(buf, byte, out=mask))

    lt = where(60)                                      # every "<": a piece is a tag and the text after it
    if not len(lt):
        return None
    gts = where(62)
    nxt = np.append(lt[1:], len(body))                  # where the piece ends (the next "<")
    if len(gts) == len(lt) and (gts > lt).all() and (gts < nxt).all():
        gt = gts                                        # one ">" per "<", each before the next "<" (the usual case)
    else:
        at = np.searchsorted(gts, lt)
        if at[-1] >= len(gts):
            return None
        gt = gts[at]                                    # the first ">" after each "<"
    first = buf[np.minimum(lt + 1, len(body) - 1)]
    # comments, CDATA sections and processing instructions change what an element's text is; a "<" before
    # the tag's ">" is one of those (or not XML at all)
    if (gt >= nxt).any() or ((first == 33) | (first == 63)).any():
        return None
    end = first == 47                                   # "</x>"
    empty = ~end & (buf[gt - 1] == 47) & (gt - 1 > lt)  # "<x/>": its first "/>" ends the tag
    step = np.where(end, -1, np.where(empty, 0, 1)).astype(np.int32)
    depth_all = np.cumsum(step, dtype=np.int32) - step + 1
    keep = ~end
    lt, gt, nxt = lt[keep], gt[keep], nxt[keep]
    depth, step = depth_all[keep], step[keep]
    line = np.searchsorted(where(10), lt).astype(np.int64) + 1 + prolog_lines
    amps = where(38)
    amp = np.flatnonzero(np.searchsorted(amps, nxt) > np.searchsorted(amps, lt)) if len(amps) else amps
    n = len(lt)
    i = np.arange(n, dtype=np.int64)
    tag_end = gt - (step == 0)                          # before the "/" of "<x/>"
    # tag, "/>" or ">", text (to the next "<") and whatever follows up to the next start tag (end tags) are
    # consecutive slices of the document: one Arrow string array over the document's own bytes holds them
    # all (offsets only, no copy per piece), and a gather picks the tags and the texts
    bounds = np.empty(4 * n + 1, dtype=np.int64)
    bounds[0:-1:4] = lt + 1
    bounds[1:-1:4] = tag_end
    bounds[2:-1:4] = gt + 1
    bounds[3:-1:4] = nxt
    bounds[-1] = len(body)
    # as string views (Arrow's cast runs outside the interpreter lock), which Polars takes without a copy: from
    # offsets it would copy every piece holding the lock
    pieces = pl.from_arrow(pa.LargeStringArray.from_buffers(4 * n, pa.py_buffer(bounds), pa.py_buffer(body))
                           .cast(pa.string_view()))
    # enclosing[k - 1]: the last element at depth k so far (-1: none yet)
    enclosing = _enclosing(depth, n)
    ok = (depth >= 2) & (depth <= MAX_DEPTH)
    parent = np.where(ok, enclosing[np.clip(depth - 2, 0, MAX_DEPTH - 2), i], np.int32(-1))
    parents = [_filled(enclosing[k - 1], f"a{k}") for k in range(1, MAX_DEPTH)]
    text = pieces.gather(4 * i + 2).str.strip_chars()
    if (step == 0).any():  # an empty element has no text: what follows `<x/>` is the next element's business
        text = text.set(pl.Series(step == 0), "")
    el = pl.DataFrame([pl.Series("i", i), pl.Series("depth", depth), pieces.gather(4 * i).alias("tag"),
                       pl.Series("line", line), text.alias("text"), *parents, _filled(parent, "parent")])
    # a tag holding white space, quotes or a colon has attributes or a prefix: check it is plain name="value"
    # pairs and keep the name (looked at once per distinct tag: a census has a few dozen)
    odd_tags = [t for t in el["tag"].unique() if any(ch in t for ch in _ODD_CHARS)]
    if odd_tags:
        odd = el.select(pl.arg_where(pl.col("tag").is_in(odd_tags))).to_series()
        names = []
        for t in el["tag"].gather(odd):
            if not _ATTRS.fullmatch(t) or any(ns in t for ns in _RESERVED):
                return None
            names.append(t.split(None, 1)[0])
        tags = el["tag"].clone()
        tags.scatter(odd, names)
        el = el.with_columns(tags)
    if len(amp):
        texts = el["text"].clone()
        texts.scatter(amp, [_unescape(t).strip() for t in texts.gather(amp)])
        el = el.with_columns(texts)
    return el


def _enclosing(depth: np.ndarray, n: int) -> np.ndarray:
    """Row k - 1: for each element, the last element at depth k up to it (itself at its own depth; -1: none yet).
    The elements at each depth come from one stable sort of the depths; each row repeats them over the elements
    up to the next one at that depth."""
    out = np.empty((MAX_DEPTH - 1, n), dtype=np.int32)
    levels = np.clip(depth, 0, MAX_DEPTH + 1).astype(np.uint8)   # a stable sort of bytes is a radix sort
    by_depth = np.argsort(levels, kind="stable").astype(np.int32)
    counts = np.bincount(levels, minlength=MAX_DEPTH + 2)
    ends = np.cumsum(counts)
    for k in range(1, MAX_DEPTH):
        at = by_depth[ends[k] - counts[k]:ends[k]]      # the elements at depth k, in document order
        row = out[k - 1]
        if not len(at):
            row[:] = -1
            continue
        row[:at[0]] = -1
        row[at[0]:] = np.repeat(at, np.diff(np.append(at, n)))
    return out


def _filled(values: np.ndarray, name: str) -> pl.Series:
    """A column of element numbers, null where negative (no such enclosing element)."""
    out = pl.Series(name, values, dtype=pl.Int64)
    return out if values.min(initial=0) >= 0 else out.set(out < 0, None)
