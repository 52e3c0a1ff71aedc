"""The children drill-down: a row-level answer from the gate, searched and shown, and emergency access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

import streamlit as st

from dashboard.app import guard, render

LIST_QUERY = "children_list"
EMERGENCY_MINUTES = (15, 30, 60, 120, 240)


def require():
    return guard.require("children")


def grant(g, principal):
    return g.grant_for(principal)[0]


def subtitle(grant) -> str:
    if grant.tier == "identifiable":
        scope = {"own_team": "children allocated to your team", "own_caseload": "children on your caseload"}
        return f"Named records - {scope.get(grant.scope, grant.scope)}, plus any emergency access you hold"
    return "Pseudonymised records for planning - no names, keyed IDs, coarsened dates; objectors left out"


def year_picker(g, principal):
    from dashboard.policy import Refusal

    try:
        years = sorted({int(y) for y in g.choices(principal, "census_year", {})}, reverse=True)
    except Refusal:
        return None
    if not years:
        return None
    raw = st.query_params.get("census_year")
    default = next((y for y in years if str(y) == raw), years[0])
    y = st.sidebar.selectbox("Census year (ending 31 March)", years, index=years.index(default), key="rec_year")
    st.query_params["census_year"] = str(y)
    return y


def summary_cards(a: render.Answer) -> None:
    names = [c.name for c in a.res.columns]
    c = st.columns(4)
    c[0].metric("Children in this list", f"{len(a.res.rows):,}", border=True, help=a.definition)
    for col, (name, label) in zip(c[1:], (("cin_open", "In need at 31 March"), ("cp_open", "On a CP plan"),
                                           ("looked_after", "Looked after")), strict=True):
        if name in names:
            j = names.index(name)
            n = sum(1 for r in a.res.rows if r[j] is True)
            col.metric(label, f"{n:,}", border=True)


@dataclass
class Shown:
    filter_text: str


def _matches(row, text: str) -> bool:
    t = text.strip().lower()
    return not t or any(t in str(v).lower() for v in row if v is not None)


def _show(v):
    if isinstance(v, bool):
        return "Yes" if v else "No"
    if isinstance(v, date):  # datetime is a date too
        return v.isoformat()
    return v


def shape(res, filter_text: str = ""):
    header = [c.label or c.name for c in res.columns]
    rows = [[_show(v) for v in r] for r in res.rows if _matches(r, filter_text)]
    return header, rows


def search_and_table(a: render.Answer) -> Shown:
    text = st.text_input("Search this list", key="rec_search", placeholder="Child ID, name, team ...")
    header, rows = shape(a.res, text)
    st.caption(f"{len(rows):,} of {len(a.res.rows):,} children shown")
    for note in a.res.notes:        # what the gate left out or withheld (columns not shown, k-anonymity)
        st.caption(note)
    import polars as pl

    frame = pl.DataFrame({h: [r[k] for r in rows] for k, h in enumerate(header)}, strict=False) if rows else \
        pl.DataFrame({h: [] for h in header})
    st.dataframe(frame, hide_index=True, width="stretch", height=420)
    return Shown(text)


def emergency_access_form(g, principal) -> None:
    from dashboard.policy import Refusal

    msg = st.session_state.pop("emergency_msg", None)
    if msg:
        st.success(msg)
    with st.expander("Emergency access to a child outside your team", icon=":material/emergency:"):
        st.write("Use only when a child's safety needs it now. Your reason is recorded and reviewed by an "
                 "information governance officer; access ends automatically.")
        with st.form("emergency", clear_on_submit=True):
            child_id = st.text_input("Child ID")
            reason = st.text_area("Reason (required)", max_chars=500)
            minutes = st.selectbox("For how long", EMERGENCY_MINUTES, index=2, format_func=lambda m: f"{m} minutes")
            sent = st.form_submit_button("Request emergency access", type="primary")
        if sent:
            if not child_id.strip() or not reason.strip():
                st.error("A child ID and a reason are both required.")
                return
            try:
                expires = g.grant_emergency(principal, child_id.strip(), reason.strip(), int(minutes),
                                            path="page:children")
            except Refusal as r:
                st.error(f"Refused: {r.reason}")
                return
            st.session_state["emergency_msg"] = (f"Emergency access to {child_id.strip()} granted until "
                                                 f"{expires.astimezone(UTC):%H:%M} UTC and recorded for review.")
            st.rerun()
