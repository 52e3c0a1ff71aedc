"""Emergency access review: each emergency access with its reason; mark it justified or not, with a note."""

import streamlit as st

from dashboard.app import ig, render
from dashboard.audit import AuditError, reports

g, principal = ig.require("ig_emergency")
render.page_header("Emergency access review", "Access outside a relationship, with the reason given, for review")

queue = reports.emergency_queue(g.trail)
# the page lists every emergency access with its children's ids and reasons: the read names those children, so
# each child's subject access report shows this page was opened (as the CLI's `audit review` records)
ig.record(g, principal, "page:ig_emergency",
          child_ids=sorted({c for ids in queue["child_ids"].to_list() for c in (ids or [])}) if queue.height else [])
pending = queue.filter(~queue["reviewed"]) if queue.height else queue
k = st.columns(3)
k[0].metric("Emergency accesses", f"{queue.height:,}", border=True)
k[1].metric("Awaiting review", f"{pending.height:,}", border=True)
k[2].metric("Judged not justified",
            f"{queue.filter(queue['decision'] == 'not_justified').height if queue.height else 0:,}", border=True)

msg = st.session_state.pop("review_msg", None)
if msg:
    st.success(msg)

st.markdown("#### Awaiting review")
if pending.height == 0:
    st.info("Nothing awaits review.")
for rec in pending.iter_rows(named=True):
    with st.container(border=True):
        st.markdown(f"**Entry {rec['seq']}** - {rec['user']} ({rec['role']}) at {rec['ts']:%d %b %Y %H:%M} UTC, "
                    f"child {', '.join(rec['child_ids'] or [])}, until {rec['expires_at']}")
        st.markdown(f"Reason given: _{rec['emergency_reason'] or '(none)'}_")
        with st.form(f"review-{rec['seq']}"):
            decision = st.radio("Decision", ["Justified", "Not justified"], horizontal=True)
            note = st.text_input("Note (required)")
            if st.form_submit_button("Record decision"):
                if not note.strip():
                    st.error("A note is required.")
                else:
                    try:
                        grant, purpose = g.grant_for(principal)
                        g.trail.review_emergency(int(rec["seq"]), principal.user, decision == "Justified",
                                                 note.strip(), role=principal.role, path="page:ig_emergency",
                                                 lawful_basis=purpose.lawful_basis.text(), tier=grant.tier)
                    except AuditError as e:
                        st.error(f"Not recorded: {e}")
                    else:
                        st.session_state["review_msg"] = f"Decision on entry {rec['seq']} recorded."
                        st.rerun()

st.markdown("#### All emergency accesses")
ig.show(queue, ["seq", "ts", "user", "role", "child_ids", "emergency_reason", "expires_at", "reviewed", "decision",
                "reviewer", "review_note"], height=300)
