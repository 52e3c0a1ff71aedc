"""Front door: referrals, their sources and outcomes, re-referrals and assessment timeliness."""

import streamlit as st

from dashboard.app import render, report

CARDS = [
    ("referrals_in_year", "referrals", "Referrals"),
    ("referrals_in_year", "pct_nfa", "Referrals with no further action"),
    ("re_referrals", "pct_re_referrals", "Re-referrals within 12 months"),
    ("assessment_timeliness", "pct_within_45", "Assessments within 45 working days"),
    ("assessment_timeliness", "median_working_days", "Median working days to assessment"),
]
r = report.start("front_door", "Front door", "Referrals, re-referrals and assessments", cards=[CARDS],
                 current=["referrals_by_source"], trends=["re_referrals"])

report.cards(r, CARDS)

left, right = st.columns(2)
with left:
    a = r.fetch("referrals_by_source")
    by = (report.other_dims(a) or ["team"])[0]
    render.bar(a, r.filters, by, "referrals", title="Referrals by source", horizontal=True)
with right:
    points, a = r.trend("re_referrals", "pct_re_referrals")
    if a is not None:
        render.trend(points, a, title="Re-referrals within 12 months (%)", filters=r.filters)

a = r.fetch("assessment_timeliness")
extra = report.other_dims(a)
if extra:
    render.bar(a, r.filters, extra[0], "assessments", title="Assessments by working days taken")
st.markdown("#### Referrals by team")
render.table(r.fetch("referrals_in_year"), r.filters, "team", None, g=r.g, principal=r.principal, page=r.key)
