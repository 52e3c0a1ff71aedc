"""Entry point: `streamlit run dashboard/app/main.py` (started by `csc-dashboard serve`).

Signs the person in, lets them choose the role and purpose they act under, and builds the navigation for that
principal on every run. Each page still checks the principal itself (guard.require).
"""

from __future__ import annotations

import streamlit as st

from dashboard.app import nav, render, session

st.set_page_config(page_title="Children's services dashboard", page_icon=":material/child_care:", layout="wide",
                   initial_sidebar_state="expanded")
st.html(render.CSS)

cfg = session.sign_in_config()
if cfg.demo:
    session.demo_banner()
if session.warm_up_enabled():
    session.gate()  # opens the shared gate on the server's first request, sign-in screen included: warm-up starts

principal = session.current(render=True)
if principal is None:
    st.stop()

g = session.gate()
grant = nav.grant_of(g.policy, principal)
with st.sidebar:
    st.text(principal.user)
    st.caption(f"Acting as **{principal.role.replace('_', ' ')}**"
               + (f" ({', '.join(principal.teams)})" if principal.teams else "")
               + f" for **{principal.purpose.replace('_', ' ')}**")
    if grant is not None:
        st.caption(f"Access: {grant.tier}, {grant.scope.replace('_', ' ')}"
                   + (f", rule-set {grant.ruleset}" if grant.ruleset else ""))
    session.sign_out_button(cfg, where=st.sidebar)

pages = nav.pages_for(g.policy, principal)
if not pages:
    st.error("No page of this dashboard is available under your role and purpose.")
    st.stop()
sections: dict[str, list] = {}
for p in pages:
    sections.setdefault(p.section, []).append(
        st.Page(str(p.path), title=p.title, icon=p.icon, url_path=p.key, default=(p is pages[0])))
st.navigation(sections).run()
