"""Every page checks the principal itself, whatever the navigation offered.

A page reached by a URL, a stale browser tab or run directly must refuse unless the acting principal may see it:
navigation is convenience, this check is the rule.
"""

from __future__ import annotations

import streamlit as st

from dashboard.app import nav, session


def require(page_key: str):
    """(gate, principal) for this page, or a refusal on the page and the script stopped."""
    page = nav.BY_KEY[page_key]
    principal = session.current(render=False)
    if principal is None:
        st.error("You are not signed in. Open the dashboard's home page to sign in.", icon=":material/lock:")
        st.stop()
    g = session.gate()
    if not nav.allowed(g.policy, principal, page):
        st.error(f"Refused: the page '{page.title}' is not available to a {principal.role.replace('_', ' ')} "
                 f"acting for {principal.purpose.replace('_', ' ')}.", icon=":material/block:")
        st.stop()
    return g, principal


def record(g, principal, path: str, **fields) -> None:
    """Record a read that does not go through a gate query (the gate writes the entry), or stop the page:
    an unrecorded read, of the audit trail above all, is not allowed."""
    from dashboard.policy import Refusal

    try:
        g.record_access(principal, path, **fields)
    except Refusal as e:
        st.error(f"Nothing is shown: {e}", icon=":material/block:")
        st.stop()
