"""Children drill-down: named records within the user's relationship scope (identifiable tier), or pseudonymised
records for planning. Aggregate-only roles never get this page. Emergency access to one child outside the scope
needs a stated reason, is time-limited and is recorded for review."""

import streamlit as st

from dashboard.app import records, render

g, principal = records.require()
grant = records.grant(g, principal)
render.page_header("Children", records.subtitle(grant))

year = records.year_picker(g, principal)
a = render.fetch(g, principal, records.LIST_QUERY, {"census_year": year} if year else {}, "children")
if not a.ok:
    render.refusal(a.refusal)
    st.stop()

records.summary_cards(a)
rows_shown = records.search_and_table(a)
render.downloads(g, principal, a, "children", lambda res: records.shape(res, rows_shown.filter_text),
                 key="children", notes=[f"{a.title}: {a.definition}"])
render.definition(a)

if grant.tier == "identifiable":
    records.emergency_access_form(g, principal)
