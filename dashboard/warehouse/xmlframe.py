"""A checked XML document's elements as NumPy arrays, level by level (vectorised: no Python per element).

Only for documents that `safexml.check_xml` has already accepted (well-formed, no DTD, so no entities beyond the
five predefined ones and character references). The document is split at every `<`; each piece is a tag and
the character data after it. Depth comes from a running count of start and end tags, each element's line from
the line breaks before its `<` (the line the tree reader reports), and each element's parent from the elements
one level up, so records can be assembled by element number.

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
import pyarrow.compute as pc

#: how deep `elements` tracks levels; deeper elements are counted but not placed in a level
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


class Elements:
    """The start tags of a document in document order (element i is the i-th). `levels[d]`: the elements at
    depth d (root 1, up to MAX_DEPTH), in document order; `up[d]`: for each of them, its parent's position in
    `levels[d - 1]`; `code`: each element's tag as its number in the vocabulary `elements` was given (0: any
    other tag)."""

    def __init__(self, body: bytes | memoryview, lt: np.ndarray, gt: np.ndarray, nxt: np.ndarray,
                 empty: np.ndarray, depth: np.ndarray, prolog_lines: int, has_amp: bool) -> None:
        self.body, self.lt, self.gt, self.nxt, self.empty = body, lt, gt, nxt, empty
        self.prolog_lines = prolog_lines
        self.n = len(lt)
        self.code = np.zeros(0, dtype=np.int32)
        self.renamed: dict[str, str] = {}     # tag as written (with attributes) -> its name
        self.tags: pa.Array | None = None
        # levels from one stable sort of the depths (a stable sort of bytes is a radix sort)
        levels = np.clip(depth, 0, MAX_DEPTH + 1).astype(np.uint8)
        by_depth = np.argsort(levels, kind="stable")
        ends = np.cumsum(np.bincount(levels, minlength=MAX_DEPTH + 2))
        self.levels = [by_depth[(ends[d - 1] if d else 0):ends[d]] for d in range(MAX_DEPTH + 1)]
        rank = np.empty(self.n, dtype=np.int64)             # each element's position in its level
        for at in self.levels:
            rank[at] = np.arange(len(at))
        self.up = [np.zeros(0, dtype=np.int64), np.zeros(len(self.levels[1]), dtype=np.int64)]
        for d in range(2, MAX_DEPTH + 1):
            at = self.levels[d]
            # an element right after its parent is the parent's first child; the parent's other children follow
            # it in the level before the next first child
            first = depth[at - 1] == d - 1
            self.up.append(rank[at[first] - 1][np.cumsum(first) - 1])
        self._newlines: np.ndarray | None = None
        self._plain: np.ndarray | None = None
        self._amps = (np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 38) if has_amp
                      else np.zeros(0, dtype=np.int64))

    def line(self, idx: np.ndarray) -> np.ndarray:
        """The line of each element's `<` (int64)."""
        if self._newlines is None:
            self._newlines = np.flatnonzero(np.frombuffer(self.body, dtype=np.uint8) == 10)
        return np.searchsorted(self._newlines, self.lt[idx]).astype(np.int64) + (1 + self.prolog_lines)

    def text(self, idx: np.ndarray) -> pl.Series:
        """Stripped character data after each start tag (entities decoded; "" when none), and a null after the
        last (for gathers that find nothing); idx increasing."""
        m = len(idx)
        start = self.gt[idx] + 1
        end = np.where(self.empty[idx], start, self.nxt[idx])  # an empty element has no text
        # the texts and the bytes between them as one string array over the document (offsets only), and a null
        bounds = np.empty(2 * m + 2, dtype=np.int64)
        bounds[0:-2:2] = start
        bounds[1:-2:2] = end
        bounds[-2:] = len(self.body)
        valid = np.full((2 * m + 8) // 8, 255, dtype=np.uint8)
        valid[m // 4] &= 255 ^ (1 << (2 * m % 8))
        pieces = pa.LargeStringArray.from_buffers(2 * m + 1, pa.py_buffer(bounds), pa.py_buffer(self.body),
                                                  pa.py_buffer(valid))
        # the texts alone, copied together (what is read from them later stays close), as string views (Arrow
        # runs outside the interpreter lock), which Polars takes without a copy
        texts = pieces.take(pa.array(np.arange(0, 2 * m + 1, 2)))
        text = pl.from_arrow(texts.cast(pa.string_view())).alias("text")
        if self._plain is None:
            # a text starting and ending with a printable ASCII byte (never white space, and a whole character)
            # is already stripped, and so is none (worked out for every element at once, in document order)
            buf = np.frombuffer(self.body, dtype=np.uint8)
            self._plain = (self.empty | (self.nxt == self.gt + 1) | (
                (buf.take(self.gt + 1, mode="clip") - 33 < 94) & (buf[self.nxt - 1] - 33 < 94)))
        plain = self._plain[idx]
        if not plain.all():  # strip only texts that may need it
            at = np.flatnonzero(~plain)
            text = text.scatter(at, text.gather(at).str.strip_chars())
        amps = self._amps
        if len(amps):  # a "&" inside a text: an entity to decode
            hit = np.flatnonzero(np.searchsorted(amps, end) > np.searchsorted(amps, start))
            if len(hit):
                text = text.scatter(hit, [_unescape(t).strip() for t in text.gather(hit)])
        return text

    def names(self, idx: np.ndarray) -> pl.Series:
        """The tag names of elements idx (attributes left out)."""
        tags = pl.from_arrow(self.tags.take(pa.array(idx, pa.int64()))).cast(pl.Utf8)
        return tags.replace(self.renamed) if self.renamed else tags


def elements(data: bytes, vocab: dict[str, int]) -> Elements | None:
    """The document's elements, each tag coded by `vocab` (plain names; codes 1-255). None when the document
    needs the tree reader.

    The structure (where each `<` and its `>` are, depth, line, parents) is worked out on the bytes with NumPy;
    the strings (tags and texts) are sliced out of the document by Arrow without a copy per piece."""
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
    lt = np.flatnonzero(np.equal(buf, 60, out=mask))    # every "<": a piece is a tag and the text after it
    if not len(lt) or buf[-1] == 60:
        return None
    gts = np.flatnonzero(np.equal(buf, 62, out=mask))
    if len(gts) == len(lt) and (gts > lt).all() and (gts[:-1] < lt[1:]).all():
        gt = gts                                        # one ">" per "<", each before the next "<" (the usual case)
    else:
        at = np.searchsorted(gts, lt)
        if at[-1] >= len(gts):
            return None
        gt = gts[at]                                    # the first ">" after each "<"
        if (gt[:-1] >= lt[1:]).any():                   # a "<" before the tag's ">": a comment, CDATA, ...
            return None
    first = buf[lt + 1]
    # comments, CDATA sections and processing instructions change what an element's text is
    if ((first == 33) | (first == 63)).any():
        return None
    start = np.flatnonzero(first != 47)                 # start tags ("</x>" ends one)
    if not len(start):
        return None
    lt, gt, nxt = lt[start], gt[start], lt.take(start + 1, mode="clip")  # nxt: where the piece ends (the next "<")
    if start[-1] == len(first) - 1:
        nxt[-1] = len(body)
    empty = (buf[gt - 1] == 47) & (gt - 1 > lt)         # "<x/>": its first "/>" ends the tag
    # depth: start tags before it (k), less end tags (start - k) and empty elements before it
    k = np.arange(len(start))
    depth = 2 * k - start - (np.cumsum(empty) - empty) + 1
    el = Elements(body, lt, gt, nxt, empty, depth, prolog_lines, data.find(b"&", head) >= 0)
    return el if _code_tags(el, vocab) else None


def _code_tags(el: Elements, vocab: dict[str, int]) -> bool:
    """Number every tag by `vocab` (el.code); False when a tag needs the tree reader."""
    n = el.n
    # the tags and the bytes between them as one string array over the document; a gather keeps the tags
    bounds = np.empty(2 * n + 1, dtype=np.int64)
    bounds[0:-1:2] = el.lt + 1
    bounds[1:-1:2] = el.gt - el.empty                   # before the "/" of "<x/>"
    bounds[-1] = len(el.body)
    pieces = pa.LargeStringArray.from_buffers(2 * n, pa.py_buffer(bounds), pa.py_buffer(el.body))
    el.tags = tags = pieces.take(pa.array(np.arange(0, 2 * n, 2)))
    words = list(vocab)
    found = pc.index_in(tags, value_set=pa.array(words, pa.large_string()))
    codes = np.array([0, *(vocab[w] for w in words)], dtype=np.int32)
    el.code = codes[found.fill_null(-1).to_numpy() + 1]
    if found.null_count:
        # a tag holding white space, quotes or a colon has attributes or a prefix: check it is plain name="value"
        # pairs and keep the name (looked at once per distinct tag)
        other = np.flatnonzero(el.code == 0)
        renamed = {}
        for t in pc.unique(tags.take(pa.array(other))).to_pylist():
            if any(ch in t for ch in _ODD_CHARS):
                if not _ATTRS.fullmatch(t) or any(ns in t for ns in _RESERVED):
                    return False
                renamed[t] = t.split(None, 1)[0]
        if renamed:
            el.renamed = renamed
            named = {t: vocab.get(name, 0) for t, name in renamed.items()}
            odd = pc.index_in(tags.take(pa.array(other)), value_set=pa.array(list(named), pa.large_string()))
            odd_codes = np.array([0, *named.values()], dtype=np.int32)
            el.code[other] = odd_codes[odd.fill_null(-1).to_numpy() + 1]
    return True
