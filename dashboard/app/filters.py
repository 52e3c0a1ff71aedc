"""Report filters: census year, team, age band, sex, ethnicity group, disability.

The values offered come from the gate (gate.choices), so a drop-down never lists a value from rows the
principal may not see. The selection lives in the URL (st.query_params) so a view can be bookmarked; a value
in the URL that is not among the choices is ignored (never passed on to a query).
"""

from __future__ import annotations

import streamlit as st

from dashboard.app.cube import TOTAL

DIMENSIONS = (
    ("team", "Team"),
    ("age_band", "Age band"),
    ("sex", "Sex"),
    ("ethnicity_group", "Ethnicity"),
    ("disability", "Disability"),
)
ALL = "All"
#: the measure whose protected answer offers the values of the dimension filters (split by every standard one)
CHOICES_QUERY = "cin_at_31_march"
_UNSET = object()


def _choices(g, principal, name: str, params: dict) -> list:
    from dashboard.policy import Refusal

    try:
        values = list(g.choices(principal, name, params))
    except Refusal:
        return []
    return [v for v in values if v not in (None, TOTAL)]


def _seed(name: str, options: list, default) -> None:
    """Put the URL's value (if among the options) or the default into the select box's state."""
    key = f"filter_{name}"
    if key not in st.session_state:
        raw = st.query_params.get(name)
        st.session_state[key] = next((o for o in options if str(o) == raw), default)
    elif st.session_state[key] not in options:
        st.session_state[key] = default


def _pick(name: str, label: str, options: list, default, format_func=str, disabled: bool = False,
          help: str | None = None) -> object:
    """A sidebar select box seeded from the URL, writing its value back to the URL."""
    key = f"filter_{name}"
    _seed(name, options, default)
    value = st.sidebar.selectbox(label, options, key=key, format_func=format_func, disabled=disabled, help=help)
    if value == default:
        st.query_params.pop(name, None)
    else:
        st.query_params[name] = str(value)
    return value


def year_filter(g, principal) -> int | None:
    """Render the census-year filter (the first in the sidebar); the chosen year, or None when none is offered."""
    st.sidebar.markdown("#### Filters")
    years = sorted({int(y) for y in _choices(g, principal, "census_year", {})}, reverse=True)
    if not years:
        return None
    return int(_pick("census_year", "Census year (ending 31 March)", years, years[0]))


def values_in(answer, dimension: str) -> list:
    """The values of one dimension in a protected answer the page already holds (what gate.choices gives for
    the same query: values of cells this principal may see, margins left out); none from a refused answer."""
    res = getattr(answer, "res", answer)
    if res is None:
        return []
    names = [c.name for c in res.columns]
    if dimension not in names:
        return []
    j = names.index(dimension)
    return sorted({r[j] for r in res.rows if r[j] not in (TOTAL, None)}, key=str)


def sidebar(g, principal, *, dims: tuple[str, ...] = tuple(d for d, _ in DIMENSIONS),
            query: str = CHOICES_QUERY, year=_UNSET, source=None) -> dict:
    """Render the filters; return {census_year: int, <dimension>: value-or-None}.

    Values of the dimensions other than team and year come from the gate's protected answer to `query`
    (a measure split by every standard dimension), so they are values this principal may see. A page that has
    already fetched that answer (report.start) passes it as `source` and the year it chose, so the filters ask
    the gate nothing more."""
    if year is _UNSET:
        year = year_filter(g, principal)
    out: dict = {}
    if year is not None:
        out["census_year"] = year
    params = {"census_year": out["census_year"]} if "census_year" in out else {}
    teams = getattr(g.policy, "teams", {}) or {}
    options = {}
    for name, _ in DIMENSIONS:
        if name in dims:
            if name != "team" and source is not None:
                values = values_in(source, name)
            else:
                extra = {} if name == "team" else {"query": query}
                values = _choices(g, principal, name, {**params, **extra})
            options[name] = [ALL] + [v for v in values if v != ALL]
            _seed(name, options[name], ALL)
    limit = max_dimensions(g, principal)
    chosen = sum(st.session_state.get(f"filter_{n}") != ALL for n in options)
    if limit is not None:
        st.sidebar.caption(guidance(limit))
    for name, label in DIMENSIONS:
        if name not in options:
            continue

        def fmt(v, _name=name):
            if _name == "team" and v in teams:
                return f"{v} {teams[v].get('name', '')}".strip()
            return str(v)

        # Why: a view over the limit is not published at all, so once `limit` filters are chosen the others
        # wait (a filter already set stays usable, so it can always be put back to All)
        full = limit is not None and chosen >= limit and st.session_state.get(f"filter_{name}") == ALL
        v = _pick(name, label, options[name], ALL, format_func=fmt, disabled=full,
                  help=f"At most {limit} filters at once: set another filter back to All to use this one."
                  if full else None)
        out[name] = None if v == ALL else v
    return out


def max_dimensions(g, principal) -> int | None:
    """The principal's rule-set's max_dimensions, read from the gate's policy (None if no rule-set applies)."""
    from dashboard.policy import Refusal

    try:
        grant, _ = g.grant_for(principal)
    except Refusal:
        return None
    rs = g.policy.rulesets.get(grant.ruleset) if grant.ruleset else None
    return getattr(rs, "max_dimensions", None)


def guidance(limit: int) -> str:
    words = {0: "no", 1: "one", 2: "two", 3: "three"}
    per_chart = limit - 1
    filters_txt = f"{words.get(per_chart, per_chart)} filter{'s' if per_chart != 1 else ''}"
    chart = (f"one breakdown plus at most {filters_txt}" if per_chart > 0 else "one breakdown and no filter")
    return (f"Small numbers could identify children, so figures are published for at most {limit} filter"
            f"{'s' if limit != 1 else ''} and breakdowns together: each chart shows {chart}; the headline cards "
            f"take up to {words.get(limit, limit)}.")


def describe(filters: dict) -> str:
    parts = [f"{k.replace('_', ' ')}: {v}" for k, v in filters.items() if v is not None and k != "census_year"]
    year = filters.get("census_year")
    head = f"Year ending 31 March {year}" if year else ""
    return " | ".join([head] + parts) if parts else head
