"""Who is using the app: sign-in (OIDC through st.login, or demo personas), token expiry, the role and purpose
the person acts under, and the shared Gate.

Identity is recomputed from the signed ID-token claims (st.user) on every run; nothing a browser can set
(session state, URL) decides a role. The only session state used here is *which* of the principals the claims
already allow the person has chosen to act as.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.config import Settings

DEMO_ENV = "CSC_DEMO"
#: set to "1" by `csc-dashboard serve` (unless --no-warm-up): fill the gate's protected-cube store in the background
WARM_UP_ENV = "CSC_WARM_UP"
ACTING_KEY = "acting_as"
PERSONA_KEY = "demo_persona"


# ------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class SignInConfig:
    """What sign-in the deployment has. `error` is set when secrets exist but cannot be read."""

    auth: bool
    providers: tuple[str, ...]
    demo: bool
    error: str = ""


def sign_in_config() -> SignInConfig:
    from streamlit.errors import StreamlitSecretNotFoundError

    try:
        auth = st.secrets.get("auth") if "auth" in st.secrets else None
    except StreamlitSecretNotFoundError:
        auth = None
    except Exception as e:  # a secrets file that exists but does not parse
        # Fail closed: we cannot tell whether [auth] is configured, so demo personas stay off.
        return SignInConfig(auth=True, providers=(), demo=False, error=f"the secrets file could not be read ({e})")
    if auth is not None:
        providers = tuple(k for k, v in auth.items() if isinstance(v, Mapping))
        # Demo personas can never be offered where real sign-in is configured, whatever the environment says.
        return SignInConfig(auth=True, providers=providers, demo=False)
    return SignInConfig(auth=False, providers=(), demo=os.environ.get(DEMO_ENV) == "1")


# ------------------------------------------------------------------------------------------ the gate
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def _open_gate(warehouse: str, audit: str):
    # One Gate per process (it validates the policy and opens the warehouse read-only); it hands each query its
    # own cursor, so sessions never share a DuckDB cursor.
    from pathlib import Path

    from dashboard.policy import Gate

    g = Gate.open(Settings(warehouse=Path(warehouse), audit=Path(audit)))
    if warm_up_enabled():
        # Background only: start-up and the first page never wait for it, and it writes no audit record
        # (nothing is shown to anybody until a page asks, and that request is recorded then).
        g.start_warm_up()
    return g


def warm_up_enabled() -> bool:
    return os.environ.get(WARM_UP_ENV) == "1"


def gate():
    s = settings()
    try:
        return _open_gate(str(s.warehouse), str(s.audit))
    except Exception as e:  # noqa: BLE001 - shown as a clean message, never a traceback
        st.error(f"The dashboard cannot open its data: {e}")
        st.stop()


# ------------------------------------------------------------------------------------------ principals
def token_expired(user: Mapping[str, Any], now: float | None = None) -> bool:
    """True when the ID token's `exp` has passed or is missing/unreadable.

    Streamlit keeps its identity cookie for 30 days and never looks at `exp`: without this check a person
    removed from a role (or who left the council) would keep that role for a month.
    """
    try:
        exp = float(user.get("exp"))
    except (TypeError, ValueError):
        return True
    return (time.time() if now is None else now) >= exp


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    principal: Any


def _label(g, p) -> str:
    purpose = p.purpose.replace("_", " ")
    role = p.role.replace("_", " ")
    teams = f" ({', '.join(p.teams)})" if getattr(p, "teams", ()) else ""
    return f"{role.capitalize()}{teams} - {purpose}"


def options_from_claims(g, claims: Mapping[str, Any]) -> list[Option]:
    from dashboard.policy import identity

    principals = identity.principals_from_claims(g.policy, dict(claims))
    return [Option(f"{p.role}/{p.purpose}", _label(g, p), p) for p in principals]


def options_from_persona(g, persona_id: str) -> list[Option]:
    from dashboard.policy import identity

    principals = identity.persona_principals(g.policy, persona_id)
    return [Option(f"{p.role}/{p.purpose}", _label(g, p), p) for p in principals]


def _choose(options: list[Option], sidebar: bool) -> Option:
    if len(options) == 1:
        return options[0]
    keys = [o.key for o in options]
    current = st.session_state.get(ACTING_KEY)
    if current not in keys:
        current = keys[0]
    if sidebar:
        current = st.sidebar.selectbox(
            "Acting as", keys, index=keys.index(current), key=ACTING_KEY,
            format_func=lambda k: next(o.label for o in options if o.key == k),
            help="You have more than one role or purpose. Everything you see is decided, and recorded in the "
                 "audit trail, under the one you choose here.")
    return options[keys.index(current)]


def current(render: bool = True):
    """The acting Principal, or None (after rendering the sign-in screen when `render`).

    Pages call this with render=False through guard.require: a page never shows a sign-in screen of its own,
    it refuses.
    """
    cfg = sign_in_config()
    if cfg.error:
        if render:
            st.error(f"Sign-in is misconfigured: {cfg.error}. Ask your administrator.")
        return None
    if cfg.auth:
        user = st.user
        if not user.is_logged_in:
            if render:
                _sign_in_screen(cfg)
            return None
        if token_expired(user.to_dict()):
            st.session_state["signed_out_reason"] = "Your sign-in has expired. Please sign in again."
            st.logout()
            return None
        g = gate()
        options = options_from_claims(g, user.to_dict())
        who = str(user.get("email") or user.get("preferred_username") or user.get("sub") or "unknown")
    elif cfg.demo:
        persona = st.session_state.get(PERSONA_KEY)
        g = gate()
        if persona not in g.policy.personas:
            if render:
                _persona_screen(g)
            return None
        options = options_from_persona(g, persona)
        who = g.policy.personas[persona].name
    else:
        if render:
            _not_configured_screen()
        return None
    if not options:
        if render:
            st.error(f"Signed in as {who}, but your account has no role in this dashboard. Ask your administrator "
                     "to assign you an application role.")
            sign_out_button(cfg)
        return None
    return _choose(options, sidebar=render).principal


def sign_out_button(cfg: SignInConfig | None = None, where=None) -> None:
    cfg = cfg or sign_in_config()
    target = where or st
    if target.button("Sign out", key="sign_out", icon=":material/logout:"):
        for k in (ACTING_KEY, PERSONA_KEY):
            st.session_state.pop(k, None)
        if cfg.auth:
            st.logout()  # redirects the browser to the provider's end-session endpoint
            st.stop()
        st.rerun()


# ------------------------------------------------------------------------------------------ screens
def _sign_in_screen(cfg: SignInConfig) -> None:
    st.title("Children's services dashboard")
    reason = st.session_state.pop("signed_out_reason", None)
    if reason:
        st.info(reason)
    st.write("Sign in with your council account to continue.")
    providers = cfg.providers or (None,)
    for name in providers:
        label = "Sign in" if name is None else f"Sign in with {name}"
        if st.button(label, key=f"login_{name}", type="primary", icon=":material/login:"):
            st.login(name) if name else st.login()


def _persona_screen(g) -> None:
    st.title("Children's services dashboard")
    st.write("Choose who to be. Each persona sees only what its role and purpose allow, and everything is recorded "
             "in the audit trail.")
    personas = g.policy.personas
    cols = st.columns(3)
    for k, (pid, persona) in enumerate(personas.items()):
        with cols[k % 3].container(border=True):
            st.markdown(f"**{persona.name}**")
            st.caption(g.policy.roles[persona.role].description)
            if st.button("Continue as this persona", key=f"persona_{pid}"):
                st.session_state[PERSONA_KEY] = pid
                st.session_state.pop(ACTING_KEY, None)
                st.rerun()


def _not_configured_screen() -> None:
    st.title("Children's services dashboard")
    st.error("Sign-in is not configured. Add an [auth] section to .streamlit/secrets.toml (see docs/sign-in.md), "
             "or start a demonstration with `csc-dashboard serve --demo`.")


def demo_banner() -> None:
    st.warning("**Demo mode** - sign-in is simulated with personas on synthetic data. Never use demo mode with real "
               "records.", icon=":material/science:")
