"""Data quality: what the last build loaded and what it had to correct or drop."""

import streamlit as st

from dashboard.app import ig, policy_view, render

g, principal = ig.require("ig_data_quality")
render.page_header("Data quality", "What the warehouse build loaded, and the problems it found in the returns")
ig.record(g, principal, "page:ig_data_quality")

summary = policy_view.data_quality(ig.warehouse_path())
k = st.columns(4)
k[0].metric("Census years (CIN)", ", ".join(map(str, summary["census_years"])) or "-", border=True)
k[1].metric("903 return years", ", ".join(map(str, summary["return_years"])) or "-", border=True)
k[2].metric("Data-quality findings", f"{sum(summary['data_quality'].values()):,}", border=True)
k[3].metric("Children", f"{summary['tables'].get('child', 0):,}", border=True)
c1, c2 = st.columns(2)
with c1:
    st.markdown("#### Findings by rule")
    st.dataframe(policy_view.counts(summary["data_quality"], "Rule", "Findings"), hide_index=True, width="stretch")
with c2:
    st.markdown("#### Rows loaded by table")
    st.dataframe(policy_view.counts(summary["tables"], "Table", "Rows"), hide_index=True, width="stretch")
