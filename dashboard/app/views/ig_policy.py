"""Policy explorer: who may see what, for which purpose, at which tier and scope, under which lawful basis."""

import streamlit as st

from dashboard.app import guard, ig, policy_view, render

g, principal = ig.require("ig_policy")
render.page_header("Policy explorer", "Role x purpose x tier x scope x rule-set x lawful basis, from access_policies")
guard.record(g, principal, "page:ig_policy", event="audit_read")

rows = policy_view.grants(g.policy)
role = st.selectbox("Role", ["All roles"] + sorted(g.policy.roles))
for r in rows:
    if role != "All roles" and r["role"] != role:
        continue
    with st.container(border=True):
        st.markdown(f"**{r['role_label']}** acting for **{r['purpose_label']}**")
        st.markdown(r["plain"])
        st.caption(f"Lawful basis: {r['lawful_basis']}")
st.markdown("#### As a table")
st.dataframe(policy_view.table(rows), hide_index=True, width="stretch")
st.markdown("#### Small-number rule-sets")
st.dataframe(policy_view.rulesets(g.policy), hide_index=True, width="stretch")
