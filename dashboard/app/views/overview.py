"""Overview: the headline numbers at 31 March, their rates beside England's, change on last year, and trends."""

import streamlit as st

from dashboard.app import render, report

CARDS = [
    ("cin_at_31_march", None, "Children in need"),
    ("cp_plans_at_31_march", None, "On a child protection plan"),
    ("cla_at_31_march", None, "Looked after"),
    ("referrals_in_year", "referrals", "Referrals in the year"),
    ("re_referrals", "pct_re_referrals", "Re-referrals within 12 months"),
]
TRENDS = ("cin_at_31_march", "cp_plans_at_31_march", "cla_at_31_march")
r = report.start("overview", "Overview", "Children in need, child protection and children looked after",
                 cards=[CARDS], compare=["rates_per_10000"], trends=TRENDS)

report.cards(r, CARDS)

rates = r.fetch("rates_per_10000")
if rates.ok or rates.refusal:
    cols = st.columns(4)
    for col, (column, label) in zip(cols, (("cin_rate", "Children in need per 10,000"),
                                           ("cpp_rate", "CP plans per 10,000"),
                                           ("cla_rate", "Looked after per 10,000")), strict=False):
        with col:
            render.kpi(rates, column, r.filters, label=label, previous=r.previous("rates_per_10000"),
                       england=r.england(rates, column), england_year=r.england_year(rates))
    with cols[3]:
        render.kpi(rates, "population", r.filters, label="Children aged 0-17 (ONS)")

st.markdown("#### Trends over census years")
cols = st.columns(3)
for col, (name, title) in zip(cols, (("cin_at_31_march", "Children in need at 31 March"),
                                     ("cp_plans_at_31_march", "Child protection plans at 31 March"),
                                     ("cla_at_31_march", "Children looked after at 31 March")), strict=True):
    with col:
        points, a = r.trend(name, "children")
        if a is None:
            render.refusal(f"{title} is not available.")
        else:
            render.trend(points, a, title=title, filters=r.filters)

left, right = st.columns(2)
with left:
    a = r.fetch("cin_at_31_march")
    render.bar(a, r.filters, "age_band", "children", title="Children in need by age", order=report.AGE_ORDER)
with right:
    a = r.fetch("referrals_in_year")
    render.bar(a, r.filters, "team", "referrals", title="Referrals by team", horizontal=True)
