"""Interventions: how children move between services (a Sankey of the flows measure), and why they are in need."""

import streamlit as st

from dashboard.app import render, report

r = report.start("interventions", "Interventions", "How children move through help, protection and care",
                 current=[report.FLOWS, "cin_primary_need"], trends=["cp_plans_starting"])

flows_name = report.flows_query(r.g)
if flows_name:
    a = r.fetch(flows_name)
    render.flows(a, r.filters, g=r.g, principal=r.principal, page=r.key)
else:
    render.refusal("the flows measure is not installed in this deployment.")

left, right = st.columns(2)
with left:
    a = r.fetch("cin_primary_need")
    render.bar(a, r.filters, "primary_need", "children", title="Children in need by primary need", horizontal=True)
with right:
    a = r.fetch("cp_plans_starting")
    points, a2 = r.trend("cp_plans_starting", "plans")
    if a2 is not None:
        render.trend(points, a2, title="Child protection plans starting", filters=r.filters)
render.table(r.fetch("cin_primary_need"), r.filters, "primary_need", None, g=r.g, principal=r.principal,
             page=r.key, title="Children in need by primary need")
