"""The vectorised CIN census reader (load_cin.read_fast) against the element-by-element tree reader
(load_cin.read_tree, the reference): the same records, fields, line numbers, links and unknown-element notes on
every document the fast reader takes; documents it does not take (comments, CDATA, namespace prefixes, other
encodings) are handed to the tree reader and still load. Expectations in the hand-worked tests are counted
from the fixture text beside them."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dashboard.warehouse.build import build
from dashboard.warehouse.load_cin import CinFile, read_fast, read_tree
from dashboard.warehouse.safexml import check_xml, parse_xml
from tests.helpers_build import rows, write

HEADER = ("<Header><CollectionDetails><Collection>CIN</Collection><ReferenceDate>2024-03-31</ReferenceDate>"
          "</CollectionDetails></Header>")


def _both(xml: str | bytes) -> tuple[CinFile | None, CinFile]:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    check_xml("f.xml", data)
    return read_fast("f.xml", data, 3), read_tree("f.xml", parse_xml("f.xml", data), 3)


def _links(f: CinFile, child: str, parent: str) -> list[tuple]:
    """(child record's _row, its parent record's _row): surrogate ids differ between readers, links must not."""
    if child not in f.frames:
        return []
    rows_ = f.frames[child].join(f.frames[parent].select(pl.col("_uid").alias("_puid"), pl.col("_row").alias("_p")),
                                 on="_puid", how="left")
    return sorted(rows_.select("_row", "_p").iter_rows())


def assert_same(fast: CinFile | None, tree: CinFile) -> None:
    assert fast is not None
    assert (fast.year, fast.rows, fast.unknown) == (tree.year, tree.rows, tree.unknown)
    assert sorted(fast.frames) == sorted(tree.frames)
    for record in fast.frames:
        a, b = (f.frames[record].drop("_uid", "_puid").sort(pl.all(), nulls_last=True) for f in (fast, tree))
        assert_frame_equal(a, b, check_row_order=True)
    for child, parent in (("disability", "child"), ("assessment_factor", "assessment"), ("cp_review", "cp_plan")):
        assert _links(fast, child, parent) == _links(tree, child, parent)


# ------------------------------------------------------------------ hand-worked

def test_fields_lines_links_and_notes_by_hand():
    xml = ("<?xml version='1.0' encoding='UTF-8'?>\r\n"                                    # line 1
           f"<Message xmlns=\"http://www.dfe.gov.uk/CIN\">{HEADER}<Children>\r\n"           # line 2
           "<Child><ChildIdentifiers><LAchildID> K1 </LAchildID><Sex/><GenderCurrent>2</GenderCurrent>"
           "<LAchildID>K9</LAchildID></ChildIdentifiers>\r\n"                              # line 3
           "<ChildCharacteristics><Ethnicity>WBRI</Ethnicity><Disabilities><Disability>AUT</Disability>"
           "<Other>HAND</Other></Disabilities><Shoe>9</Shoe></ChildCharacteristics>\n"     # line 4
           "<ChildIdentifiers><UPN>IGNORED</UPN></ChildIdentifiers>\n"                     # line 5: second: skipped
           "<CINdetails><Assessments\n>"                                                   # line 6
           "<AssessmentActualStartDate>2023-06-02</AssessmentActualStartDate>"
           "<FactorsIdentifiedAtAssessment><AssessmentFactors>1A</AssessmentFactors><Odd>x</Odd>"
           "</FactorsIdentifiedAtAssessment></Assessments>\n"                              # line 7
           "<CINreferralDate>2023-06-01</CINreferralDate><ReferralSource>Tom &amp; Jerry &#233;</ReferralSource>"
           "</CINdetails></Child>\n"                                                       # line 8
           "<Pupil/></Children></Message>\n")                                              # line 9
    fast, tree = _both(xml)
    assert_same(fast, tree)
    child = fast.frames["child"].row(0, named=True)
    # LAchildID: the last one wins in the child row; Sex is present (empty), so GenderCurrent does not replace it
    assert (child["LAchildID"], child["Sex"], child["Ethnicity"], child["UPN"], child["_row"]) == (
        "K9", "", "WBRI", None, 3)
    # the disabilities and factors belong to K1: the first LAchildID, as the tree reader links them
    assert sorted(fast.frames["disability"].select("LAchildID", "Disability", "_row").iter_rows()) == [
        ("K1", "AUT", 4), ("K1", "HAND", 4)]
    episode = fast.frames["cin_episode"].row(0, named=True)
    assert (episode["ReferralSource"], episode["_row"]) == ("Tom & Jerry é", 6)
    assessment = fast.frames["assessment"].row(0, named=True)
    # the assessment starts on line 6; its episode's referral date stands after it in the document
    assert (assessment["_row"], assessment["_refraw"]) == (6, "2023-06-01")
    assert fast.unknown == [("Assessments/FactorsIdentifiedAtAssessment/Odd", 7, 1),
                            ("ChildCharacteristics/Shoe", 4, 1), ("Children/Pupil", 9, 1)]
    # 1 child + 2 disabilities + 1 episode + 1 assessment + 1 factor
    assert fast.rows == 6


def test_texts_edged_with_unicode_white_space_are_stripped_as_the_tree_reader_strips_them():
    # the fast reader strips only texts that do not start and end with a printable ASCII character
    xml = (f"<Message>{HEADER}<Children><Child><ChildIdentifiers><LAchildID>\u00a0K1\u2003</LAchildID>"
           "<UPN>é </UPN><Sex>\t1</Sex><FormerUPN>A B</FormerUPN></ChildIdentifiers></Child></Children></Message>")
    fast, tree = _both(xml)
    assert_same(fast, tree)
    # no-break space (U+00A0) and em space (U+2003) are white space; "é" and the inner space are kept
    assert fast.frames["child"].select("LAchildID", "UPN", "Sex", "FormerUPN").row(0) == ("K1", "é", "1", "A B")


@pytest.mark.parametrize("variant", [
    "<!-- a comment -->", "<![CDATA[2023-06-01]]>", "<?pi data?>",
])
def test_documents_the_fast_reader_declines_go_to_the_tree_reader(variant, tmp_path):
    body = (f"<Message>{HEADER}<Children><Child><ChildIdentifiers><LAchildID>K</LAchildID></ChildIdentifiers>"
            f"<CINdetails><CINreferralDate>{variant if 'CDATA' in variant else '2023-06-01' + variant}"
            "</CINreferralDate></CINdetails></Child></Children></Message>")
    fast, _tree = _both(body)
    assert fast is None
    write(tmp_path / "in/CIN_Census_2024.xml", body)
    build([tmp_path / "in"], tmp_path / "w.duckdb", progress=False)
    assert rows(tmp_path / "w.duckdb", "SELECT child_id, referral_date::VARCHAR FROM cin_episode") == [
        ("K", "2023-06-01")]


def test_prefixed_and_latin1_documents_go_to_the_tree_reader():
    prefixed = (f'<c:Message xmlns:c="urn:cin"><c:Children/>{HEADER.replace("<", "<c:").replace("<c:/", "</c:")}'
                "</c:Message>")
    assert _both(prefixed)[0] is None
    latin = (f'<?xml version="1.0" encoding="ISO-8859-1"?><Message>{HEADER}<Children/></Message>').encode("latin-1")
    assert _both(latin)[0] is None


# ------------------------------------------------------------------ generated documents, both readers

TAGS = ["LAchildID", "UPN", "Sex", "GenderCurrent", "PersonBirthDate", "Ethnicity", "Disabilities", "Disability",
        "CINreferralDate", "ReferralSource", "CINclosureDate", "ReferralNFA", "DateOfInitialCPC", "Assessments",
        "AssessmentActualStartDate", "AssessmentAuthorisationDate", "FactorsIdentifiedAtAssessment",
        "AssessmentFactors", "CINPlanDates", "CINPlanStartDate", "Section47", "S47ActualStartDate",
        "ChildProtectionPlans", "CPPstartDate", "Reviews", "CPPreviewDate", "ChildIdentifiers",
        "ChildCharacteristics", "CINdetails", "Child", "Unknown", "PreProceedingsandFGDM"]
TEXTS = st.sampled_from(["", " ", "2023-06-01", " 2024-01-31 ", "K1", "K2", "N1", "a &amp; b", "&#x41;&lt;",
                         "x\r\ny", "tail > text", "é"])
SEPARATORS = st.sampled_from(["", "\n", "\r\n", " ", "\n  "])


#: what usually stands inside each element: most draws follow the schema, the rest is any tag
LIKELY = {"Children": ["Child"], "Child": ["ChildIdentifiers", "ChildCharacteristics", "CINdetails", "CINdetails"],
          "ChildIdentifiers": ["LAchildID", "Sex", "GenderCurrent", "UPN"],
          "ChildCharacteristics": ["Ethnicity", "Disabilities", "Disabilities"],
          "Disabilities": ["Disability"],
          "CINdetails": ["CINreferralDate", "ReferralSource", "Assessments", "CINPlanDates", "Section47",
                         "ChildProtectionPlans"],
          "Assessments": ["AssessmentActualStartDate", "AssessmentAuthorisationDate", "FactorsIdentifiedAtAssessment"],
          "FactorsIdentifiedAtAssessment": ["AssessmentFactors"],
          "CINPlanDates": ["CINPlanStartDate"], "Section47": ["S47ActualStartDate", "DateOfInitialCPC"],
          "ChildProtectionPlans": ["CPPstartDate", "Reviews"], "Reviews": ["CPPreviewDate"]}


@st.composite
def element(draw, depth: int, parent: str) -> str:
    likely = LIKELY.get(parent, TAGS)
    tag = draw(st.sampled_from(likely if draw(st.integers(0, 5)) else TAGS))
    attrs = draw(st.sampled_from(["", ' a="1"', " b='x/y'", "\n"]))
    sep = draw(SEPARATORS)
    if depth >= 8 or tag not in LIKELY or draw(st.integers(0, 9)) == 9:
        if draw(st.integers(0, 4)) == 4:
            return f"<{tag}{attrs}/>{sep}"
        return f"<{tag}{attrs}>{draw(TEXTS)}</{tag}>{sep}"
    kids = "".join(draw(st.lists(element(depth + 1, tag), min_size=1, max_size=4)))
    return f"<{tag}{attrs}>{draw(TEXTS)}{kids}</{tag}>{sep}"


@st.composite
def census(draw) -> str:
    children = "".join(draw(st.lists(element(3, "Children"), min_size=0, max_size=3)))
    extra = draw(st.sampled_from(["", "<Children><Child/></Children>", "<Other><Child/></Other>"]))
    decl = draw(st.sampled_from(["", '<?xml version="1.0"?>\n', "<?xml version='1.0' encoding='utf-8'?>\r\n"]))
    return f"{decl}<Message>\n{HEADER}{draw(SEPARATORS)}<Children>{children}</Children>{extra}</Message>\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(census())
def test_fast_reader_matches_tree_reader_on_generated_documents(xml):
    fast, tree = _both(xml)
    assert_same(fast, tree)
