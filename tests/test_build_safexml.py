"""The XML gate every return passes before anything reads it (safexml.check_xml, libxml2 through lxml): what an
attacker sends is refused with the file named and the reason given, nothing declared in a DTD is ever acted on,
and a plain document comes back with its root element's name as written. Lines and columns are worked out by
hand beside each case (columns count from 1; libxml2 reports the position just after what it could not take)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.warehouse.dq import BuildError
from dashboard.warehouse.safexml import check_xml
from tests.conftest import SHARED_REFERENCE


def _refused(data: bytes | str) -> BuildError:
    if isinstance(data, str):
        data = data.encode()
    with pytest.raises(BuildError) as err:
        check_xml("in/return.xml", data)
    assert err.value.file == "in/return.xml"
    assert "Traceback" not in err.value.reason
    return err.value


def test_billion_laughs_is_refused_at_the_doctype_without_expanding_anything():
    # lol9 would expand to 10^9 copies of "lol" (3 GB): refusing it at all, with the DOCTYPE named as the reason,
    # shows no entity was expanded (expanding it would exhaust the machine long before an answer)
    ents = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{k} "{f"&lol{k - 1};" * 10}">' for k in range(1, 10))
    err = _refused(f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{ents}]>\n<Message><Children>&lol9;</Children></Message>')
    assert err.reason == ("unsafe XML refused (DTDForbidden: DTDForbidden(name='lolz', system_id=None, "
                          "public_id=None))")


def test_external_entity_is_refused_and_the_file_it_names_is_never_read():
    err = _refused('<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                   "<EXPSSDA903><CHILD>&xxe;</CHILD></EXPSSDA903>")
    assert err.reason.startswith("unsafe XML refused (DTDForbidden") and "root:" not in err.reason


def test_parameter_entity_and_external_dtd_are_refused():
    pe = _refused('<!DOCTYPE m [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>\n<Message/>')
    assert "DTDForbidden(name='m'" in pe.reason
    # a DOCTYPE with no internal subset at all: still refused, naming the DTD it points at
    ext = _refused('<!DOCTYPE Message SYSTEM "http://127.0.0.1:9/cin.dtd">\n<Message/>')
    assert ext.reason == ("unsafe XML refused (DTDForbidden: DTDForbidden(name='Message', "
                          "system_id='http://127.0.0.1:9/cin.dtd', public_id=None))")


def test_an_entity_nobody_declared_is_malformed():
    # line 2 is "  <Child>&nbsp;</Child>": 2 spaces + "<Child>" (7) + "&nbsp;" (6) = 15 characters, so the
    # reference ends at column 15 and libxml2 reports column 16
    err = _refused("<Message>\n  <Child>&nbsp;</Child>\n</Message>\n")
    assert err.reason == "not well-formed XML (Entity 'nbsp' not defined: line 2, column 16)"


def test_truncated_and_mismatched_documents_are_malformed():
    # the text stops after line 2's line break: the end comes at line 3, column 1, inside <Children>
    cut = _refused("<Message>\n  <Children>\n")
    assert cut.reason == ("not well-formed XML (Premature end of data in tag Children line 2: "
                          "line 3, column 1)")
    # "<A></B>" is 7 characters on line 2: the wrong end tag is complete at column 8
    mismatch = _refused("<Message>\n<A></B>\n</Message>")
    assert mismatch.reason.startswith("not well-formed XML (Opening and ending tag mismatch: A line 2 and B")
    assert mismatch.reason.endswith("line 2, column 8)")
    assert "not well-formed XML" in _refused("").reason
    assert "not well-formed XML" in _refused("<Message/><Message/>").reason


def test_an_encoding_nobody_knows_cannot_be_decoded():
    assert _refused('<?xml version="1.0" encoding="klingon"?>\n<Message/>').reason == (
        "cannot decode XML (Unsupported encoding: klingon)")


def test_plain_documents_give_their_root_as_written():
    assert check_xml("f.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<Message><Children/></Message>') == "Message"
    # a prefix is kept (the tree reader resolves it); a DOCTYPE inside a comment is only text
    assert check_xml("f.xml", b'<c:Message xmlns:c="urn:x"><!-- <!DOCTYPE x> --></c:Message>') == "c:Message"
    # the root's start tag after 10,000 bytes of comment and a processing instruction (past the first 4 KB
    # the root's name is looked for in)
    assert check_xml("f.xml", b"<!--" + b"x" * 10_000 + b'--><?pi a?>\n<EXPSSDA903 v="1"/>') == "EXPSSDA903"
    assert check_xml("f.xml", '<?xml version="1.0" encoding="UTF-16"?>\n<Message/>'.encode("utf-16")) == "Message"


def test_every_reference_census_passes_the_gate(shared_reference_cin):
    for path in shared_reference_cin:
        assert check_xml(path.name, path.read_bytes()) == "Message"


@pytest.fixture
def shared_reference_cin() -> list[Path]:
    found = sorted(p for p in Path(SHARED_REFERENCE).rglob("*.xml") if b"<Message" in p.read_bytes()[:4096])
    if not found:
        pytest.skip("no reference CIN census in the shared folder")
    return found
