"""SQL workbench: the analyst's own locked DuckDB instance over their pseudonymised planning mart.

Thin on purpose: every rule (what runs, what is recorded, what may be exported) is in dashboard/workbench.
The session's Workbench lives in st.session_state (per browser session, never in a shared cache).
"""

import plotly.express as px
import streamlit as st

from dashboard.app import guard
from dashboard.workbench import Library, Workbench, WorkbenchError, chart_axes, examples

g, principal = guard.require("workbench")
WB_KEY, RES_KEY, SQL_KEY = "wb_session", "wb_result", "wb_sql"
who = (principal.user, principal.role, principal.purpose)


def _session() -> Workbench:
    held = st.session_state.get(WB_KEY)
    if held and held[0] == who:
        return held[1]
    if held:  # a different principal in this browser: their instance goes, with its results
        held[1].close()
        st.session_state.pop(RES_KEY, None)
    with st.spinner("Opening your workbench..."):
        wb = Workbench.open(g, principal, path="workbench")
    st.session_state[WB_KEY] = (who, wb)
    return wb


try:
    wb = _session()
except WorkbenchError as e:
    st.error(f"Refused: {e.reason}", icon=":material/block:")
    st.stop()

library = Library(principal.user)
st.title("SQL workbench")
st.caption("One SELECT at a time over your pseudonymised planning mart (objectors left out). Every statement is "
           "recorded in the audit trail. Exports are output-checked.")
if wb.anonymity_note:
    st.caption(wb.anonymity_note)


def _load(sql: str) -> None:
    st.session_state[SQL_KEY] = sql


editor, side = st.columns([3, 2])

with editor:
    sql = st.text_area("SQL", key=SQL_KEY, height=220, placeholder="SELECT sex, count(*) AS children FROM child "
                                                                   "GROUP BY sex")
    run_col, title_col, save_col = st.columns([1, 3, 1])
    if run_col.button("Run", type="primary", icon=":material/play_arrow:"):
        try:
            st.session_state[RES_KEY] = wb.run(sql, path="workbench")
        except WorkbenchError as e:
            st.session_state.pop(RES_KEY, None)
            st.error(f"{'Refused' if e.outcome == 'refused' else 'Not run'}: {e.reason}", icon=":material/block:")
    title = title_col.text_input("Title", key="wb_title", label_visibility="collapsed", placeholder="Title to save as")
    if save_col.button("Save"):
        try:
            library.save(title, sql)
            st.toast(f"Saved '{title.strip()}'")
        except WorkbenchError as e:
            st.error(e.reason)

    res = st.session_state.get(RES_KEY)
    if res is not None:
        if res.truncated:
            st.caption(f"Showing the first {res.frame.height:,} of {res.row_count:,} rows.")
        else:
            st.caption(f"{res.row_count:,} row(s).")
        st.dataframe(res.frame, width="stretch", hide_index=True)
        axes = chart_axes(res.frame)
        if axes:
            st.plotly_chart(px.bar(res.frame, x=axes[0], y=axes[1], height=320),
                            width="stretch")
        if st.button("Check for export", icon=":material/download:"):
            try:
                out = wb.export(res, path="workbench")
                st.info(out.note)
                st.download_button("Download CSV", out.to_csv(), file_name="workbench_export.csv",
                                   mime="text/csv")
            except WorkbenchError as e:
                st.error(f"Not exported: {e.reason}", icon=":material/block:")

# after the editor, so a query saved in this run is already listed
with side:
    tab_schema, tab_saved, tab_examples = st.tabs(["Schema", "My queries", "Examples"])
    with tab_schema:
        for t in wb.schema():
            with st.expander(f"{t.name} ({t.rows:,} rows)"):
                st.dataframe([{"column": c.name, "type": c.type, "meaning": c.meaning,
                               "classification": c.classification} for c in t.columns],
                             hide_index=True, width="stretch")
    with tab_saved:
        try:
            saved = library.list()
        except WorkbenchError as e:
            st.error(e.reason)
            saved = []
        for i, q in enumerate(saved):
            c1, c2 = st.columns([4, 1])
            c1.button(q.title, key=f"wb_load_{i}", on_click=_load, args=(q.sql,), width="stretch")
            if c2.button("Delete", key=f"wb_del_{i}"):
                library.delete(q.title)
                st.rerun()
        if not saved:
            st.caption("No saved queries yet.")
    with tab_examples:
        st.caption("Vetted measures, read-only. They are written for the warehouse (parameters like $census_year)"
                   " and may need changes to run on your mart.")
        for i, ex in enumerate(examples()):
            with st.expander(ex.title):
                st.caption(ex.definition)
                st.code(ex.sql, language="sql")
                st.button("Copy to editor", key=f"wb_ex_{i}", on_click=_load, args=(ex.sql,))
