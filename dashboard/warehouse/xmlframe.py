"""A checked XML document as one Polars frame of elements (vectorised: no Python per element).

Only for documents that `safexml.check_xml` has already accepted (well-formed, no DTD, so no entities beyond the
five predefined ones and character references). The document is split at every `<`; each piece is a tag and
the character data after it. Depth comes from a running count of start and end tags, each element's line from a
running count of line breaks before its `<` (the line expat and the tree reader report), and the enclosing
element at every depth from a forward fill, so records can be assembled with joins.

`elements` returns None for anything it does not handle exactly as the tree reader would (comments, CDATA,
processing instructions after the XML declaration, namespace prefixes, an encoding other than UTF-8/ASCII,
attribute values holding `>`), and the caller uses the tree reader instead: the fast path is an optimisation,
never a second opinion on what a document says.
"""

from __future__ import annotations

import re

import polars as pl

#: how deep `elements` tracks enclosing elements; deeper elements keep their depth and tag only
MAX_DEPTH = 7

_DECL = re.compile(rb"^(\xef\xbb\xbf)?<\?xml[^>]*?\?>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
#: a start tag with attributes: an unprefixed name, then unprefixed name="value" pairs, values without `>`
#: (a prefix anywhere needs the tree reader's namespace handling, which can refuse what plain expat accepts)
_ATTRS = re.compile(r"""[^\s/:"'=]+(?:\s+[^\s=/:"']+\s*=\s*(?:"[^"<>]*"|'[^'<>]*'))*\s*/?""")
#: namespace names that namespace-aware parsing refuses as a default namespace
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
    depth 7). None when the document needs the tree reader."""
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
    try:
        body = data[head:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in body:  # XML's end-of-line handling, which also makes every line break one "\n"
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    prolog_lines = data[:head].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n")
    p, d = pl.col("p"), pl.col("_d")
    # `<x/>`: the first "/>" ends the tag (a tag holds no ">" outside attribute values, checked below)
    empty = p.str.find("/>", literal=True) == pl.col("gt") - 1
    tag = p.str.slice(0, pl.col("gt")).str.strip_suffix("/")
    el = (pl.LazyFrame({"p": [body]}, schema={"p": pl.Utf8}).select(p.str.split("<")).explode("p")
          .with_columns(p.str.count_matches("\n", literal=True).cast(pl.Int64).alias("nl"))
          .with_columns((pl.col("nl").cum_sum() - pl.col("nl") + 1 + prolog_lines).alias("line"))
          .slice(1)
          .with_columns(p.str.find(">", literal=True).alias("gt"), p.str.starts_with("/").alias("_end"))
          .with_columns(pl.when(pl.col("_end")).then(-1).when(empty).then(0).otherwise(1).cast(pl.Int32).alias("_d"))
          .with_columns((d.cum_sum() - d + 1).alias("depth"))
          .filter(~pl.col("_end"))
          .with_row_index("i")
          .select(pl.col("i").cast(pl.Int64), "depth", tag.alias("tag"), "line",
                  # an empty element has no text: what follows `<x/>` is the next element's business
                  pl.when(d == 0).then(pl.lit("")).otherwise(p.str.slice(pl.col("gt") + 1).str.strip_chars())
                  .alias("text"),
                  # comments, CDATA sections and processing instructions change what an element's text is
                  (p.str.starts_with("!") | p.str.starts_with("?")).alias("_other"),
                  tag.str.contains_any([" ", "\t", "\n", '"', "'", ":"]).alias("_odd"),
                  p.str.contains("&", literal=True).alias("_amp"))
          .with_columns([pl.when(pl.col("depth") == k).then(pl.col("i")).forward_fill().alias(f"a{k}")
                         for k in range(1, MAX_DEPTH)])
          .with_columns(pl.coalesce([pl.when(pl.col("depth") == k + 1).then(pl.col(f"a{k}"))
                                     for k in range(1, MAX_DEPTH)]).alias("parent"))
          .collect())
    if el["_other"].any():
        return None
    # a tag with attributes or white space: check it is plain name="value" pairs and keep the name
    odd = el.filter("_odd")
    if odd.height:
        names = []
        for t in odd["tag"]:
            if not _ATTRS.fullmatch(t) or any(ns in t for ns in _RESERVED):
                return None
            names.append(t.split(None, 1)[0])
        tags = el["tag"].clone()
        tags.scatter(odd["i"], names)
        el = el.with_columns(tags)
    amp = el.filter("_amp")
    if amp.height:
        texts = el["text"].clone()
        texts.scatter(amp["i"], [_unescape(t).strip() for t in amp["text"]])
        el = el.with_columns(texts)
    return el.drop("_other", "_odd", "_amp")
