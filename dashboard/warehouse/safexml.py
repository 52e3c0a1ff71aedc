"""Parsing untrusted XML returns safely, keeping each element's line number for data-quality reports.

Why: a return arrives from outside the build's trust boundary. A billion-laughs entity bomb would exhaust memory
and an external entity could read local files or reach the network, so every DTD, entity declaration and external
reference is refused before any content is looked at.

`check_xml` is the gate every XML file passes first: expat (the C parser) reads the whole document with no
per-element Python callbacks, refusing a DTD the moment one starts (defusedxml's exceptions, so the messages are
the ones defusedxml gives) and any malformed byte. Only a document that passed is read further, either by the
vectorised CIN reader (load_cin) or by `parse_xml` below.

Two passes over the same bytes: (1) defusedxml's SAX parser with DTDs, entities and external references
forbidden checks the document and records each element's line, in document order; (2) only a document that
passed (so it has no DTD and therefore no entities beyond the five predefined ones) is built into a tree by
the C ElementTree parser, and its elements, in the same document order, are paired with the recorded lines.
Pass 2 alone would be unsafe; pass 1 alone (a Python tree builder) is several times slower on large censuses.
"""

from __future__ import annotations

import pyexpat
import xml.etree.ElementTree as ET
import xml.sax
from xml.sax.handler import ContentHandler

import defusedxml.sax as dsax
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

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


#: bytes handed to expat at a time: expat holds the interpreter lock while it parses, so other threads get a
#: turn between chunks (about a millisecond each)
_CHUNK = 1 << 16


def check_xml(file: str, data: bytes) -> str:
    """Refuse unsafe or malformed XML (BuildError, same reasons as parse_xml); return the root element's name
    as written (a prefix, if any, kept)."""
    parser = pyexpat.ParserCreate()  # no namespace processing: the same settings as defusedxml's SAX reader
    root: list[str] = []

    def start(name, _attrs):
        root.append(name)
        parser.StartElementHandler = None  # the root is all we need: the rest runs without Python callbacks

    # Why these three: a DTD is where entity bombs and external entities are declared. Refusing the DOCTYPE
    # when it opens means no declaration is ever read, let alone expanded.
    def doctype(name, sysid, pubid, _has_internal_subset):
        raise DTDForbidden(name, sysid, pubid)

    def entity(name, _is_pe, value, base, sysid, pubid, notation):
        raise EntitiesForbidden(name, value, base, sysid, pubid, notation)

    def unparsed(name, base, sysid, pubid, notation):
        raise EntitiesForbidden(name, None, base, sysid, pubid, notation)

    def external(context, base, sysid, pubid):
        raise ExternalReferenceForbidden(context, base, sysid, pubid)

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = unparsed
    parser.ExternalEntityRefHandler = external
    try:
        for at in range(0, len(data), _CHUNK):
            parser.Parse(data[at:at + _CHUNK], False)
        parser.Parse(b"", True)
    except DefusedXmlException as exc:
        raise BuildError(file, f"unsafe XML refused ({type(exc).__name__}: {exc})") from None
    except pyexpat.ExpatError as exc:
        raise BuildError(file, f"not well-formed XML ({pyexpat.ErrorString(exc.code)}: line {exc.lineno}, "
                               f"column {exc.offset})") from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise BuildError(file, f"cannot decode XML ({exc})") from None
    if not root:
        raise BuildError(file, "no XML elements")
    return root[0]


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
