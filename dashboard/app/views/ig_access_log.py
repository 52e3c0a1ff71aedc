"""Access log: search the audit trail by person, role, child, purpose, outcome, path and date; export it."""

from datetime import date, timedelta

import streamlit as st

from dashboard.app import guard, ig, render
from dashboard.audit import reports

g, principal = ig.require("ig_access_log")
render.page_header("Access log", "Every decision of the policy gate, hash-chained and tamper-evident")

with st.form("search"):
    c = st.columns(4)
    user = c[0].text_input("Person (user)")
    role = c[1].selectbox("Role", ["Any"] + sorted(g.policy.roles))
    purpose = c[2].selectbox("Purpose", ["Any"] + sorted(g.policy.purposes))
    outcome = c[3].selectbox("Outcome", ["Any", "allowed", "refused"])
    c = st.columns(4)
    child_id = c[0].text_input("Child ID")
    path = c[1].text_input("Path (e.g. page:overview, export:*)")
    since = c[2].date_input("From", value=date.today() - timedelta(days=30))
    until = c[3].date_input("To", value=date.today())
    st.form_submit_button("Search", type="primary")

filters = {"user": user.strip() or None, "role": None if role == "Any" else role,
           "purpose": None if purpose == "Any" else purpose, "outcome": None if outcome == "Any" else outcome,
           "child_id": child_id.strip() or None, "path": path.strip() or None, "since": since, "until": until}
params = {k: str(v) for k, v in filters.items() if v is not None}
guard.record(g, principal, "page:ig_access_log", event="audit_read", params=params,
             child_ids=[filters["child_id"]] if filters["child_id"] else [])


def result():
    return reports.search(g.trail, **filters)


frame = result()
k = st.columns(4)
k[0].metric("Entries", f"{frame.height:,}", border=True)
k[1].metric("Refused", f"{frame.filter(frame['outcome'] == 'refused').height:,}", border=True)
k[2].metric("Exports", f"{frame.filter(frame['path'].str.starts_with('export:')).height:,}", border=True)
k[3].metric("People", f"{frame['user'].n_unique():,}", border=True)
ig.show(frame, ig.SHOWN_COLUMNS)
ig.downloads(g, principal, lambda: ig.flat(result()).select(
    [c for c in ig.SHOWN_COLUMNS if c in frame.columns]), "access_log", params)
