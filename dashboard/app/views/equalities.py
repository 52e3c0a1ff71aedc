"""Equalities: who the service works with by age, sex, ethnicity and disability, beside the child population."""

import streamlit as st

from dashboard.app import render, report

r = report.start("equalities", "Equalities", "Children in need, on a plan and looked after by characteristic",
                 current=["rates_per_10000", "cin_at_31_march", "cp_plans_at_31_march", "cla_at_31_march"])

st.markdown("#### Rates per 10,000 children, beside the population")
rates = r.fetch("rates_per_10000")
left, right = st.columns(2)
with left:
    render.bar(rates, r.filters, "age_band", ["cin_rate", "cpp_rate", "cla_rate"], title="Rate per 10,000 by age",
               order=report.AGE_ORDER, key="rates-age")
with right:
    render.bar(rates, r.filters, "sex", ["cin_rate", "cpp_rate", "cla_rate"], title="Rate per 10,000 by sex",
               key="rates-sex")

st.markdown("#### Disproportionality: each group's rate divided by the rate for all children")
st.caption("1.0 = the group is represented in proportion to its share of the child population; 2.0 = twice as "
           "likely. A hidden rate gives a hidden ratio.")
render.ratio_table(rates, r.filters, ["age_band", "sex"], ["cin_rate", "cpp_rate", "cla_rate"], g=r.g,
                   principal=r.principal, page=r.key)

st.markdown("#### Children in need by characteristic")
cin = r.fetch("cin_at_31_march")
c1, c2 = st.columns(2)
with c1:
    render.bar(cin, r.filters, "ethnicity_group", "children", title="Children in need by ethnicity", horizontal=True)
with c2:
    render.bar(cin, r.filters, "disability", "children", title="Children in need by disability")
c1, c2 = st.columns(2)
with c1:
    cp = r.fetch("cp_plans_at_31_march")
    render.bar(cp, r.filters, "ethnicity_group", "children", title="On a CP plan by ethnicity", horizontal=True)
with c2:
    render.bar(r.fetch("cla_at_31_march"), r.filters, "sex", "children", title="Looked after by sex")
render.table(cin, r.filters, "ethnicity_group", None, g=r.g, principal=r.principal, page=r.key,
             title="Children in need by ethnicity")
