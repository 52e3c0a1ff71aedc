"""Unusual activity: patterns in the audit trail worth a look (volume, out of hours, outside team, refusals)."""

import streamlit as st

from dashboard.app import guard, ig, render
from dashboard.audit import unusual

g, principal = ig.require("ig_unusual")
render.page_header("Unusual activity", "Findings from the audit trail against the thresholds in access_policies")

guard.record(g, principal, "page:ig_unusual", event="audit_read")
try:
    child_teams = unusual.child_teams_from_warehouse(ig.warehouse_path())
except Exception:  # noqa: BLE001 - without allocations only emergency access counts as outside a team
    child_teams = None
findings = unusual.findings_frame(unusual.detect(g.trail.frame(), child_teams=child_teams))
k = st.columns(3)
k[0].metric("Findings", f"{findings.height:,}", border=True)
k[1].metric("People involved", f"{findings['user'].n_unique() if findings.height else 0:,}", border=True)
k[2].metric("Rules triggered", f"{findings['rule'].n_unique() if findings.height else 0:,}", border=True)
if findings.height == 0:
    st.info("No unusual activity found.")
else:
    ig.show(findings)
