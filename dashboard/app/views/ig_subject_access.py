"""Subject access report: who saw one child's record, when, where, under which purpose and lawful basis."""

import streamlit as st

from dashboard.app import guard, ig, render
from dashboard.audit import reports

g, principal = ig.require("ig_subject_access")
render.page_header("Subject access report", "Every recorded access to one child's record")

with st.form("sar"):
    child_id = st.text_input("Child ID")
    go = st.form_submit_button("Build report", type="primary")
child_id = child_id.strip()
if not child_id:
    st.info("Enter a child ID to list every recorded access to that child's record.")
    st.stop()

guard.record(g, principal, "page:ig_subject_access", event="subject_access_report", child_ids=[child_id])
report = reports.subject_access_report(g.trail, child_id, generated_by=principal.user)
for line in report.summary():
    st.markdown(f"- {line}")
frame = report.frame.rename(reports.SAR_HEADINGS)
ig.show(frame)
ig.downloads(g, principal, lambda: reports.subject_access_report(g.trail, child_id).frame.rename(
    reports.SAR_HEADINGS), f"subject_access_{child_id}", {"child_id": child_id}, child_ids=[child_id])
