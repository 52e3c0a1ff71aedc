"""Child protection: plans at 31 March, starting and ending, repeat plans and conference timeliness."""

import streamlit as st

from dashboard.app import render, report

CARDS = [
    ("cp_plans_at_31_march", None, "Children on a plan at 31 March"),
    ("cp_plans_starting", "plans", "Plans starting"),
    ("cp_plans_subsequent", "pct_subsequent", "Second or subsequent plans"),
    ("icpc_timeliness", "pct_within_15", "ICPCs within 15 working days"),
    ("cp_plans_ending", "pct_2y_plus", "Plans ending after 2+ years"),
]
r = report.start("child_protection", "Child protection", "Section 47 enquiries, conferences and plans",
                 cards=[CARDS], trends=["cp_plans_at_31_march", "icpc_timeliness"])

report.cards(r, CARDS)

left, right = st.columns(2)
with left:
    a = r.fetch("cp_plans_at_31_march")
    by = (report.other_dims(a) or ["age_band"])[0]
    render.bar(a, r.filters, by, "children", title="Children on a plan at 31 March by "
               + ("category of abuse" if by != "age_band" else "age"), order=report.AGE_ORDER)
with right:
    a = r.fetch("cp_plans_ending")
    by = (report.other_dims(a) or ["age_band"])[0]
    render.bar(a, r.filters, by, "plans", title="Plans ending in the year by duration")

left, right = st.columns(2)
with left:
    points, a = r.trend("cp_plans_at_31_march", "children")
    if a is not None:
        render.trend(points, a, title="Children on a plan at 31 March", filters=r.filters)
with right:
    points, a = r.trend("icpc_timeliness", "pct_within_15")
    if a is not None:
        render.trend(points, a, title="ICPCs within 15 working days (%)", filters=r.filters)

st.markdown("#### Plans by team")
render.table(r.fetch("cp_plans_at_31_march"), r.filters, "team", None, g=r.g, principal=r.principal, page=r.key)
