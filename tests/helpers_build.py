"""Small hand-made inputs for the warehouse build tests (real file formats, written by the tests)."""

from __future__ import annotations

from pathlib import Path

import duckdb

HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"
EPISODES = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def csv(path: Path, header: str, *rows: str) -> Path:
    return write(path, "\n".join([header, *rows]) + "\n")


def episode(child: str, decom: str, rne: str, ls: str, place: str, dec: str = "", rec: str = "") -> str:
    return f"{child},{decom},{rne},{ls},N1,{place},PR1,{dec},{rec},,,,"


def cin_xml(ref_date: str, children: str) -> str:
    return (f"<Message><Header><CollectionDetails><Collection>CIN</Collection><ReferenceDate>{ref_date}"
            f"</ReferenceDate></CollectionDetails></Header><Children>{children}</Children></Message>")


def cin_child(child_id: str, details: str, sex: str = "<Sex>F</Sex>", ethnicity: str = "WBRI",
              disabilities: str = "") -> str:
    dis = f"<Disabilities>{''.join(f'<Disability>{d}</Disability>' for d in disabilities.split())}</Disabilities>" \
        if disabilities else ""
    return (f"<Child>\n<ChildIdentifiers><LAchildID>{child_id}</LAchildID><PersonBirthDate>2015-05-01"
            f"</PersonBirthDate>{sex}</ChildIdentifiers>\n<ChildCharacteristics><Ethnicity>{ethnicity}</Ethnicity>"
            f"{dis}</ChildCharacteristics>\n{details}</Child>\n")


def cin_details(referral: str, body: str = "", closure: str = "", nfa: str = "0") -> str:
    close = f"<CINclosureDate>{closure}</CINclosureDate><ReasonForClosure>RC7</ReasonForClosure>" if closure else ""
    return (f"<CINdetails>\n<CINreferralDate>{referral}</CINreferralDate><ReferralSource>2A</ReferralSource>"
            f"<PrimaryNeedCode>N1</PrimaryNeedCode>{close}<ReferralNFA>{nfa}</ReferralNFA>\n{body}</CINdetails>\n")


def rows(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def dq(warehouse: Path, rule: str) -> list[tuple]:
    """(file name, row_number, record, field, value, action, message) of one rule, in file/row order."""
    return [(Path(r[0]).name, *r[1:]) for r in rows(
        warehouse, "SELECT file, row_number, record, field, value, action, message FROM data_quality "
                   f"WHERE rule = '{rule}' ORDER BY file, row_number, field")]
