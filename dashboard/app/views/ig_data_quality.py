"""Data quality: what the last build loaded and what it had to correct or drop (counts from the gate, recorded)."""

import polars as pl
import streamlit as st

from dashboard.app import ig, policy_view, render
from dashboard.policy import Refusal

g, principal = ig.require("ig_data_quality")
render.page_header("Data quality", "What the warehouse build loaded, and the problems it found in the returns")
try:
    summary = g.data_quality(principal, path="page:ig_data_quality")
except Refusal as e:
    st.error(f"Nothing is shown: {e}", icon=":material/block:")
    st.stop()

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
st.markdown("#### Findings by file")
by_file = summary["by_file"]
if by_file:
    frame = pl.DataFrame(by_file).rename({"file": "File", "rule": "Rule", "action": "What the build did",
                                          "findings": "Findings"})
    st.dataframe(frame, hide_index=True, width="stretch")
else:
    st.info("The build found no problems in the returns.")
