"""Looked after and stability: children looked after, starting and ceasing, and the Stability Index."""

import streamlit as st

from dashboard.app import render, report

CARDS = [[
    ("cla_at_31_march", "children", "Looked after at 31 March"),
    ("cla_started", "children", "Started to be looked after"),
    ("cla_ceased", "children", "Ceased to be looked after"),
    ("missing_episodes", "children", "Children missing or away"),
], [
    ("placements_3plus", "pct_3plus", "3 or more placements"),
    ("long_term_stability", "pct_same_carer_2y", "Same carer 2+ years (long-term under 16s)"),
    ("stability_placement_moves", "pct_2plus_moves", "2+ placement moves"),
    ("stability_sw_changes", "pct_2plus_changes", "2+ social worker changes"),
    ("stability_school_moves", "pct_moved", "Mid-year school move"),
]]
r = report.start("looked_after", "Looked after and stability", "Children looked after and the stability of their lives",
                 cards=CARDS, trends=["cla_at_31_march"])

for row in CARDS:
    report.cards(r, row)

left, right = st.columns(2)
with left:
    a = r.fetch("cla_at_31_march")
    render.bar(a, r.filters, "placement_type", "children", title="Looked after at 31 March by placement",
               horizontal=True)
with right:
    a = r.fetch("cla_at_31_march")
    render.bar(a, r.filters, "legal_status", "children", title="Looked after at 31 March by legal status",
               horizontal=True)

left, right = st.columns(2)
with left:
    points, a = r.trend("cla_at_31_march", "children")
    if a is not None:
        render.trend(points, a, title="Children looked after at 31 March", filters=r.filters)
with right:
    a = r.fetch("cla_at_31_march")
    render.bar(a, r.filters, "age_band", "children", title="Looked after at 31 March by age", order=report.AGE_ORDER)

st.markdown("#### Placement stability by team")
render.table(r.fetch("placements_3plus"), r.filters, "team", None, g=r.g, principal=r.principal, page=r.key)
