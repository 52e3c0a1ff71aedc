"""Parsing untrusted XML returns safely, keeping each element's line number for data-quality reports.

Why: a return arrives from outside the build's trust boundary. A billion-laughs entity bomb would exhaust memory
and an external entity could read local files or reach the network, so every DTD, entity declaration and external
reference is refused before any content is looked at.

`check_xml` is the gate every XML file passes first: libxml2 (through lxml) reads the whole document without
building a tree and without a Python callback per element, so the interpreter lock is released and two files are
checked at once; it refuses a DTD the moment one opens (defusedxml's exceptions, so the messages are the ones
defusedxml gives) and any malformed byte. Only a document that passed is read further, either by the vectorised
CIN reader (load_cin) or by `parse_xml` below.

`parse_xml` makes two passes over the same bytes: (1) defusedxml's SAX parser with DTDs, entities and external references
forbidden checks the document and records each element's line, in document order; (2) only a document that
passed (so it has no DTD and therefore no entities beyond the five predefined ones) is built into a tree by
the C ElementTree parser, and its elements, in the same document order, are paired with the recorded lines.
Pass 2 alone would be unsafe; pass 1 alone (a Python tree builder) is several times slower on large censuses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.sax
from xml.sax.handler import ContentHandler

import defusedxml.sax as dsax
from defusedxml import DefusedXmlException, DTDForbidden
from lxml import etree

from dashboard.warehouse.dq import BuildError


class _Lines(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []
        self._loc = None

    def setDocumentLocator(self, locator):  # noqa: N802 - SAX API
        self._loc = locator

    def startElement(self, name, attrs):  # noqa: N802 - SAX API
        self.lines.append(self._loc.getLineNumber())


class ParsedXML:
    def __init__(self, root: ET.Element, lines: dict[int, int]) -> None:
        self.root = root
        self._lines = lines

    def line(self, elem: ET.Element) -> int | None:
        return self._lines.get(id(elem))


#: a syntax error's message without the position libxml2 appends (the position is given separately)
_AT = re.compile(r",? line \d+, column \d+\s*$")
#: libxml2's error code for an encoding it cannot decode (xmlerror.h, XML_ERR_UNSUPPORTED_ENCODING)
_UNSUPPORTED_ENCODING = 32


class _Refuse:
    """The check's parser target: no element callbacks (so libxml2 runs without the interpreter lock and builds
    no tree), only the DOCTYPE one."""

    # Why: a DTD is where entity bombs and external entities are declared. libxml2 announces the DOCTYPE before it
    # reads its internal subset, and raising here stops the parser, so no declaration is acted on, let alone
    # expanded (the parser settings below refuse entity substitution, DTD loading and the network as well).
    def doctype(self, name, pubid, system_url):
        raise DTDForbidden(name, system_url, pubid)

    def close(self) -> None:
        return None


def _parser(**kw) -> etree.XMLParser:
    # Why each setting: resolve_entities=False never substitutes an entity; load_dtd=False and no_network=True
    # never fetch anything a document names; huge_tree=False keeps libxml2's limits on depth and on the size
    # of a single name or text node (hostile input cannot make one allocation unbounded)
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, **kw)


def check_xml(file: str, data: bytes) -> str:
    """Refuse unsafe or malformed XML (BuildError, same reasons as parse_xml); return the root element's name
    as written (a prefix, if any, kept)."""
    try:
        etree.fromstring(data, _parser(target=_Refuse()))
    except DefusedXmlException as exc:
        raise BuildError(file, f"unsafe XML refused ({type(exc).__name__}: {exc})") from None
    except etree.XMLSyntaxError as exc:
        reason = _AT.sub("", exc.msg or "").strip() or "syntax error"
        if exc.code == _UNSUPPORTED_ENCODING:
            raise BuildError(file, f"cannot decode XML ({reason})") from None
        line, column = exc.position if exc.position else (exc.lineno, 0)
        raise BuildError(file, f"not well-formed XML ({reason}: line {line}, column {column})") from None
    except etree.LxmlError as exc:  # anything else libxml2 refuses: still a clean refusal, never a traceback
        raise BuildError(file, f"not well-formed XML ({exc})") from None
    except (ValueError, LookupError) as exc:
        raise BuildError(file, f"cannot decode XML ({exc})") from None
    try:
        root = _root_name(data)
    except etree.LxmlError as exc:  # not expected once the document passed; still a clean refusal
        raise BuildError(file, f"not well-formed XML ({exc})") from None
    if root is None:
        raise BuildError(file, "no XML elements")
    return root


def _root_name(data: bytes) -> str | None:
    """The root element's name as written, from the first bytes of a document check_xml accepted (only as much
    of it as holds the root's start tag is parsed)."""
    pull = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False)
    size = 1 << 12
    at = 0
    while at < len(data):
        pull.feed(data[at:at + size])
        at += size
        size *= 4
        for _event, elem in pull.read_events():
            tag = elem.tag
            if tag.startswith("{"):  # a namespace: the prefix as written, if any
                tag = tag.rsplit("}", 1)[1]
                return f"{elem.prefix}:{tag}" if elem.prefix else tag
            return tag  # no namespace (an undeclared prefix stays in the name)
    return None


def parse_xml(file: str, data: bytes) -> ParsedXML:
    """Parse bytes or raise BuildError naming the file and the reason (no partial trees)."""
    handler = _Lines()
    try:
        # forbid_dtd: no statutory return needs a DTD; refusing it closes entity tricks at the door
        dsax.parseString(data, handler, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BuildError(file, f"unsafe XML refused ({type(exc).__name__}: {exc})") from None
    except xml.sax.SAXParseException as exc:
        raise BuildError(file, f"not well-formed XML ({exc.getMessage()}: line {exc.getLineNumber()}, "
                               f"column {exc.getColumnNumber()})") from None
    except (xml.sax.SAXException, ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise BuildError(file, f"cannot decode XML ({exc})") from None
    pull = ET.XMLPullParser(events=("start",))
    try:
        pull.feed(data)
        pull.close()
    except ET.ParseError as exc:  # pass 1 accepted it, so this is unexpected; still refuse cleanly
        raise BuildError(file, f"not well-formed XML ({exc})") from None
    lines: dict[int, int] = {}
    root = None
    for (_event, elem), line in zip(pull.read_events(), handler.lines, strict=False):
        if root is None:
            root = elem
        lines[id(elem)] = line
    if root is None:
        raise BuildError(file, "no XML elements")
    return ParsedXML(root, lines)


def local(tag: str) -> str:
    """Tag without a namespace: some suppliers add xmlns to the CIN Message."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
