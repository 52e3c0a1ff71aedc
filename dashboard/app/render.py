"""Rendering protected answers: KPI cards, Plotly charts, tables with downloads. No SQL, no policy decisions.

Hidden (suppressed) cells keep their symbol in tables and are marked on charts with a hatched band and the symbol,
never drawn as a zero bar or a zero point; the reason is on hover.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard.app import cube, export

PALETTE = ["#1d4f91", "#2e86c1", "#48c9b0", "#f5b041", "#af7ac5", "#ec7063", "#5d6d7e", "#58d68d", "#dc7633"]
ENGLAND_COLOUR = "#9aa5b1"
HIDDEN_FILL = "rgba(120,130,140,0.18)"


# ------------------------------------------------------------------------------------------ fetching
@dataclass
class Answer:
    """One measure as fetched through the gate for this page: the protected result or the refusal."""

    name: str
    params: dict
    res: Any = None
    refusal: str = ""
    title: str = ""
    definition: str = ""
    unit: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)
    limit: int | None = None  # the rule-set's max_dimensions: most filters + breakdowns one view may use

    @property
    def ok(self) -> bool:
        return self.res is not None


def fetch(g, principal, name: str, params: dict | None, page: str) -> Answer:
    """Ask the gate for one named measure. A refusal becomes a message, never a traceback or an empty chart."""
    from dashboard.policy import Refusal

    params = dict(params or {})
    meta = describe(g, name)
    try:
        res = g.query(principal, name, params, path=f"page:{page}")
    except Refusal as r:
        return Answer(name, params, refusal=str(r), **meta)
    return Answer(name, params, res=res, limit=cube.max_dimensions(res, getattr(g, "policy", None)), **meta)


class AuditUnavailable(Exception):
    """A page's records could not be committed to the audit trail: the page must show nothing."""


def fetch_many(g, principal, calls: Sequence[tuple[str, dict]], page: str) -> list[Answer]:
    """Ask the gate for several measures at once (one page view): one audit commit for all of them, made before
    any answer comes back. AuditUnavailable if that commit failed (then there is no answer to show at all)."""
    from dashboard.policy import Refusal
    from dashboard.policy.gate import AuditUnavailable as GateAuditUnavailable

    calls = [(n, dict(p or {})) for n, p in calls]
    try:
        got = g.query_many(principal, calls, path=f"page:{page}")
    except GateAuditUnavailable as e:
        raise AuditUnavailable(str(e)) from None
    out = []
    for (name, params), res in zip(calls, got, strict=True):
        meta = describe(g, name)
        if isinstance(res, Refusal):
            out.append(Answer(name, params, refusal=str(res), **meta))
        else:
            out.append(Answer(name, params, res=res, limit=cube.max_dimensions(res, getattr(g, "policy", None)),
                              **meta))
    return out


def nothing_shown(message: str) -> None:
    """Stop the page: what it fetched could not be recorded, so none of it may be shown."""
    st.error(f"Nothing is shown: {message}", icon=":material/block:")
    st.stop()


def describe(g, name: str) -> dict:
    """Title, definition, unit and source from the measure's header (what the cards show on hover)."""
    spec = next((q for q in g.catalogue() if q.name == name), None)
    if spec is None:  # the gate refuses an unknown measure when asked; here we only lack its header
        return {"title": name.replace("_", " ").capitalize()}
    return {"title": spec.title, "definition": spec.definition, "unit": spec.unit, "source": spec.source,
            "extra": dict(getattr(spec, "extra", {}) or {})}


def refusal(message: str) -> None:
    st.warning(f"Not available to you: {message}", icon=":material/block:")


# ------------------------------------------------------------------------------------------ formatting
def fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if "percent" in unit:
            return f"{value:,.1f}%"
        return f"{value:,.1f}" if value != int(value) or "rate" in unit else f"{int(value):,}"
    return str(value)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _names(res, dims: Sequence[str]) -> str:
    labels = [_lower_first(cube.label_of(res, d)) for d in dims]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def not_published_text(a: Answer, fixed: dict, by: str | tuple[str, ...] | None = None) -> str:
    """Why a view over the gate's limit has no figures, and what to do: plain words, never a zero."""
    by_dims = [by] if isinstance(by, str) else list(by or ())
    filtered = [d for d in cube.used_dimensions(a.res, fixed) if d not in by_dims]
    n = a.limit
    head = (f"Not published at this level of detail: choose at most {n} filter{'s' if n != 1 else ''}/breakdowns "
            "at once \u2014 small numbers could identify children.")
    if by_dims and filtered:
        what = f"This view breaks down by {_names(a.res, by_dims)} and is filtered by {_names(a.res, filtered)}."
    elif filtered:
        what = f"This figure is filtered by {_names(a.res, filtered)}."
    else:
        what = f"This view breaks down by {_names(a.res, by_dims)}."
    return f"{head} {what} Set {'a filter' if filtered else 'the filters'} back to All to see it."


def not_published(a: Answer, title: str | None, fixed: dict, by: str | tuple[str, ...] | None = None,
                  text: str = "") -> None:
    """The card standing in for a chart or table whose cells the gate does not publish at this detail."""
    with st.container(border=True):
        st.markdown(f"**{title or a.title}**")
        st.info(text or not_published_text(a, fixed, by), icon=":material/visibility_off:")


def _empty(a: Answer, title: str | None) -> None:
    with st.container(border=True):
        st.markdown(f"**{title or a.title}**")
        st.info("Nothing recorded for this selection.", icon=":material/info:")


def _help(a: Answer, extra: str = "") -> str:
    parts = [a.definition or a.title]
    if a.source:
        parts.append(f"Source: {a.source}")
    if extra:
        parts.append(extra)
    return "\n\n".join(p for p in parts if p)


# ------------------------------------------------------------------------------------------ KPI cards
def kpi(a: Answer, column: str, filters: dict, *, label: str | None = None, previous: Answer | None = None,
        england: float | None = None, unit: str | None = None, invert: bool = False,
        england_year: int | None = None) -> None:
    """A Power BI-style card: the value at the current filter, change on last year, England beside it."""
    if not a.ok:
        st.metric(label or a.title, "-", help=f"Not available to you: {a.refusal}", border=True)
        return
    kind = next((c.kind for c in a.res.columns if c.name == column), "")
    unit = unit or ("percent" if kind == "percentage" else "rate" if kind == "rate" else a.unit)
    label = label or cube.label_of(a.res, column)
    fixed = cube.applicable_filters(a.res, filters)
    if cube.too_detailed(a.res, fixed, None, a.limit):
        # the gate left these cells out; a dash and the reason, never a zero
        text = not_published_text(a, fixed)
        st.metric(label, "\u2013", help=_help(a, text), border=True)
        st.caption(f"Not published with {len(fixed)} filters at once: choose at most {a.limit}.")
        return
    i = cube.total_row(a.res, fixed)
    if i is None:
        # the cube has no row for this selection: nobody was counted. A count of nobody is a true zero (the
        # gate shows true zeros); a percentage or rate of nobody is not applicable.
        value = "0" if kind == "count" else "-"
        st.metric(label, value, help=_help(a, "No children were recorded for this selection."), border=True)
        return
    c = cube.cell(a.res, i, column)
    notes = []
    dims = set(cube.dimensions(a.res))
    ignored = [k.replace("_", " ") for k, v in filters.items() if v not in (None, "") and k != "census_year"
               and k not in dims]
    if ignored:
        notes.append(f"This measure is not split by {', '.join(ignored)}: the figure is for all of them.")
    if c.hidden:
        notes.append(f"'{c.display}': {c.why}")
    if england is not None:
        notes.append(f"England: {fmt(england, unit)}")
    delta = None
    if previous is not None and previous.ok and not c.hidden:
        pfixed = cube.applicable_filters(previous.res, filters)
        j = cube.total_row(previous.res, pfixed)
        if j is not None:
            pc = cube.cell(previous.res, j, column)
            if pc.number is not None and c.number is not None:
                diff = round(c.number - pc.number, 1)
                # a change in a percentage is in percentage points, not a percentage of a percentage
                step = f"{diff:+,.1f} pts" if "percent" in unit else f"{'+' if diff >= 0 else ''}{fmt(diff, unit)}"
                delta = "No change on last year" if diff == 0 else f"{step} on last year"
            elif pc.hidden:
                notes.append("Last year's figure is hidden, so no change is shown.")
    value = fmt(c.display, unit)
    colour = "off" if delta and delta.startswith("No change") else "inverse" if invert else "normal"
    st.metric(label, value, delta=delta, delta_color=colour, delta_arrow="off" if colour == "off" else "auto",
              help=_help(a, "  \n".join(notes)), border=True)
    if england is not None:
        yr = f" ({england_year - 1}-{str(england_year)[2:]})" if isinstance(england_year, int) else ""
        st.caption(f"England{yr}: **{fmt(england, unit)}**")


# ------------------------------------------------------------------------------------------ charts
def _layout(fig: go.Figure, title: str, height: int = 340, ytitle: str = "") -> go.Figure:
    fig.update_layout(
        template="plotly_white", title={"text": title, "font": {"size": 15}, "x": 0.01},
        height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10}, font={"family": "Segoe UI, Arial", "size": 12},
        legend={"orientation": "h", "y": -0.2}, plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
        yaxis={"title": ytitle, "gridcolor": "#eef1f5", "rangemode": "tozero"},
        xaxis={"gridcolor": "#ffffff"}, bargap=0.25,
    )
    return fig


def _hidden_marks(fig: go.Figure, cats: list[str], reasons: list[str], symbols: list[str], horizontal=False,
                  group: str = "g0", name: str = "", first: bool = True):
    """A hatched full-height band with the symbol for each hidden cell, drawn in the cell's own bar slot on a
    separate 0..1 axis, so it can never be read as a value (and never as zero)."""
    if not cats:
        return
    band = dict(name="Hidden (suppressed)", legendgroup="hidden", showlegend=first,
                marker={"color": HIDDEN_FILL, "pattern": {"shape": "/"}}, offsetgroup=group, alignmentgroup="all",
                text=symbols, textposition="inside", insidetextanchor="middle",
                textfont={"size": 14, "color": "#5d6d7e"}, customdata=reasons)
    what = f"{name}: " if name else ""
    if horizontal:
        band["hovertemplate"] = f"%{{y}}: {what}hidden (%{{text}})<br>%{{customdata}}<extra></extra>"
        fig.add_trace(go.Bar(x=[1] * len(cats), y=cats, orientation="h", xaxis="x2", **band))
        fig.update_layout(xaxis2={"overlaying": "x", "range": [0, 1], "visible": False})
    else:
        band["hovertemplate"] = f"%{{x}}: {what}hidden (%{{text}})<br>%{{customdata}}<extra></extra>"
        fig.add_trace(go.Bar(x=cats, y=[1] * len(cats), yaxis="y2", **band))
        fig.update_layout(yaxis2={"overlaying": "y", "range": [0, 1], "visible": False})


def bar(a: Answer, filters: dict, by: str, column: str | Sequence[str], *, title: str | None = None,
        order: list[str] | None = None, horizontal: bool = False, key: str = "") -> None:
    """Bars of one or more columns along one dimension of the cube, at the current filter."""
    if not a.ok:
        _chart_refused(a, title)
        return
    columns = [column] if isinstance(column, str) else list(column)
    fixed = {k: v for k, v in cube.applicable_filters(a.res, filters).items() if k != by}
    if cube.too_detailed(a.res, fixed, by, a.limit):
        not_published(a, title, fixed, by)
        return
    if not cube.rows_where(a.res, fixed, by):
        _empty(a, title)
        return
    cats_all = [k for k, _ in cube.series(a.res, fixed, by, columns[0])]
    if not horizontal and len(cats_all) > 3 and max(map(len, cats_all), default=0) > 12:
        horizontal = True  # long category names are read across, not slanted under the axis
    fig = go.Figure()
    any_hidden = any_shown = False
    for n, col in enumerate(columns):
        pairs = cube.series(a.res, fixed, by, col, order)
        shown = [(k, c) for k, c in pairs if not c.hidden and c.number is not None]
        xs, ys = [k for k, _ in shown], [c.number for _, c in shown]
        trace = go.Bar(x=ys, y=xs, orientation="h") if horizontal else go.Bar(x=xs, y=ys)
        name = cube.label_of(a.res, col)
        trace.update(name=name, marker_color=PALETTE[n % len(PALETTE)], offsetgroup=f"g{n}", alignmentgroup="all",
                     text=[fmt(v, a.unit) for v in ys], textposition="outside", cliponaxis=False,
                     hovertemplate="%{x}: %{y}<extra>%{fullData.name}</extra>" if not horizontal
                     else "%{y}: %{x}<extra>%{fullData.name}</extra>")
        fig.add_trace(trace)
        any_shown = any_shown or bool(shown)
        hidden = [(k, c) for k, c in pairs if c.hidden]
        _hidden_marks(fig, [k for k, _ in hidden], [c.why for _, c in hidden], [str(c.display) for _, c in hidden],
                      horizontal, group=f"g{n}", name=name if len(columns) > 1 else "", first=not any_hidden)
        any_hidden = any_hidden or bool(hidden)
    if order:
        cats = [o for o in order if o in {k for k, _ in cube.series(a.res, fixed, by, columns[0])}]
        if horizontal:
            fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(cats)))
        else:
            fig.update_xaxes(categoryorder="array", categoryarray=cats)
    n_cats = len(cube.series(a.res, fixed, by, columns[0]))
    _layout(fig, title or a.title, height=max(300, 34 * n_cats + 120) if horizontal else 340)
    top = max((c.number for col in columns for _, c in cube.series(a.res, fixed, by, col)
               if c.number is not None), default=0)
    value_axis = "xaxis" if horizontal else "yaxis"   # only the value axis: the hidden bands keep their own 0..1
    if top > 0:  # headroom so the value labels outside the bars are not clipped
        fig.update_layout({value_axis: {"range": [0, top * 1.15]}})
    if not any_shown:  # every cell hidden: a value axis with no values would only mislead
        fig.update_layout({value_axis: {"visible": False}})
    if horizontal and not order:  # read top to bottom in the answer's order
        fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(cats_all)))
    if len(columns) == 1:
        fig.update_layout(showlegend=any_hidden)
    _show(fig, a, key or f"{a.name}-{by}-{'-'.join(columns)}")


def trend(points: list[tuple[str, cube.Cell]], a: Answer, *, title: str | None = None,
          england: dict[str, float] | None = None, key: str = "", filters: dict | None = None) -> None:
    """A line over census years. A hidden year is a gap with its symbol, not a dip to zero."""
    if a.ok and filters is not None:
        fixed = cube.applicable_filters(a.res, filters)
        if cube.too_detailed(a.res, fixed, None, a.limit):
            not_published(a, title, fixed)
            return
    if not points:
        _empty(a, title)
        return
    fig = go.Figure()
    xs = [x for x, _ in points]
    ys = [c.number if not c.hidden else None for _, c in points]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers+text", name="This authority", connectgaps=False,
                             line={"color": PALETTE[0], "width": 3}, marker={"size": 8},
                             text=[fmt(y, a.unit) if y is not None else "" for y in ys], textposition="top center"))
    if england:
        fig.add_trace(go.Scatter(x=list(england), y=list(england.values()), mode="lines+markers", name="England",
                                 line={"color": ENGLAND_COLOUR, "dash": "dash"}))
    hid = [(x, c) for x, c in points if c.hidden]
    if hid:
        fig.add_trace(go.Scatter(x=[x for x, _ in hid], y=[0.5] * len(hid), yaxis="y2", mode="text",
                                 text=[str(c.display) for _, c in hid], name="Hidden (suppressed)",
                                 textfont={"size": 16, "color": "#5d6d7e"}, customdata=[c.why for _, c in hid],
                                 hovertemplate="%{x}: hidden (%{text})<br>%{customdata}<extra></extra>"))
        fig.update_layout(yaxis2={"overlaying": "y", "range": [0, 1], "visible": False})
    _layout(fig, title or a.title)
    fig.update_xaxes(type="category")
    if all(y is None for y in ys):  # every year hidden: no value axis to misread
        fig.update_layout(yaxis={"visible": False})
    elif "percent" not in a.unit and "rate" not in a.unit and max(y for y in ys if y is not None) < 5:
        fig.update_layout(yaxis={"dtick": 1})  # counts of a few children: whole numbers on the axis
    _show(fig, a, key or f"{a.name}-trend")


def sankey(labels: list[str], sources: list[int], targets: list[int], values: list[float], a: Answer,
           *, title: str | None = None, hidden_note: str = "", key: str = "") -> None:
    fig = go.Figure(go.Sankey(
        node={"label": labels, "pad": 18, "thickness": 16, "color": [PALETTE[i % len(PALETTE)] for i in range(len(labels))]},
        link={"source": sources, "target": targets, "value": values, "color": "rgba(29,79,145,0.25)"}))
    _layout(fig, title or a.title, height=420)
    _show(fig, a, key or f"{a.name}-sankey")
    if hidden_note:
        st.caption(hidden_note)


def _show(fig: go.Figure, a: Answer, key: str) -> None:
    # PNG download comes from Plotly's own modebar ("Download plot as a png"); nothing else is offered there.
    config = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"],
              "toImageButtonOptions": {"format": "png", "filename": a.name, "scale": 2}}
    st.plotly_chart(fig, config=config, key=key, width="stretch")
    definition(a)


def _chart_refused(a: Answer, title: str | None) -> None:
    with st.container(border=True):
        st.markdown(f"**{title or a.title}**")
        refusal(a.refusal)


def definition(a: Answer) -> None:
    with st.expander("Definition", icon=":material/info:"):
        st.markdown(a.definition or "No definition recorded.")
        if a.source:
            st.caption(f"Source: {a.source}")


# ------------------------------------------------------------------------------------------ tables
def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], reasons: dict[tuple[int, int], str],
               unit: str = "") -> str:
    """Escaped HTML (values from the data are never markup); a hidden cell carries its reason as a tooltip."""
    e = html.escape
    out = ['<div class="csc-table-wrap"><table class="csc-table"><thead><tr>']
    out += [f"<th>{e(str(h))}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for r, row in enumerate(rows):
        out.append("<tr>")
        for c, v in enumerate(row):
            why = reasons.get((r, c))
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cls = "hidden" if why else ("num" if num else "")
            title = f' title="{e(why)}"' if why else ""
            out.append(f'<td class="{cls}"{title}>{e(fmt(v, unit) if num else str(v))}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def table(a: Answer, filters: dict, by: str | None, columns: list[str] | None, *, g, principal, page: str,
          title: str | None = None, key: str = "") -> None:
    """A table of the slice as shown, with CSV and Excel downloads of exactly that slice (recorded first)."""
    if not a.ok:
        _chart_refused(a, title)
        return
    fixed = {k: v for k, v in cube.applicable_filters(a.res, filters).items() if k != by}
    if cube.too_detailed(a.res, fixed, by, a.limit):
        not_published(a, title, fixed, by)
        return
    header, rows, reasons = cube.table(a.res, fixed, by, columns)
    if title:
        st.markdown(f"**{title}**")
    st.html(html_table(header, rows, reasons, a.unit))
    if reasons:
        symbols = sorted({str(rows[r][c]) for (r, c) in reasons})
        st.caption(f"{', '.join(symbols)} = hidden to protect children's identities (hover for the reason).")
    downloads(g, principal, a, page, lambda res: cube.table(res, fixed, by, columns)[:2],
              key=key or f"{a.name}-{by}", notes=[f"{a.title}: {a.definition}", f"Source: {a.source}"])


def downloads(g, principal, a: Answer, page: str, shape: Callable[[Any], tuple[list, list]], *, key: str,
              notes: Sequence[str] = ()) -> None:
    """CSV and Excel buttons. The file is made only when clicked, from a fresh gate answer on the export path:
    the gate records the export in the audit trail BEFORE the file leaves (and refuses, so no file, if it
    cannot), and the file holds the same protected slice the page shows."""

    def make(fmt_: str) -> Callable[[], bytes]:
        def build() -> bytes:
            res = g.query(principal, a.name, a.params, path=f"export:{fmt_}")
            header, rows = shape(res)
            if fmt_ == "csv":
                return export.to_csv(header, rows)
            return export.to_xlsx(header, rows, sheet=a.title or a.name, notes=notes)
        return build

    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("CSV", data=make("csv"), file_name=f"{a.name}.csv", mime="text/csv",
                       key=f"csv-{key}", icon=":material/download:", on_click="ignore")
    c2.download_button("Excel", data=make("xlsx"), file_name=f"{a.name}.xlsx", key=f"xlsx-{key}",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:", on_click="ignore")


# ------------------------------------------------------------------------------------------ page furniture
CSS = """
<style>
div[data-testid="stMetric"] {background:#ffffff; border-radius:8px; padding:12px 16px;
  box-shadow:0 1px 2px rgba(16,24,40,.06); border-left:4px solid #1d4f91 !important;}
div[data-testid="stMetricValue"] {font-size:1.9rem; font-weight:600; color:#1d4f91;}
[data-testid="stMetricLabel"] {width:100%; min-height:3.6em; align-items:flex-start;}
[data-testid="stMetricLabel"] > div {flex:1 1 0; min-width:0;}
[data-testid="stMetricLabel"] p {font-size:.85rem; color:#52606d; font-weight:600; line-height:1.2;
  white-space:normal !important; overflow:visible !important; text-overflow:clip !important;}
[data-testid="stMetricLabel"] .stMarkdownEllipsis {white-space:normal !important; overflow:visible !important;}
[data-testid="stMetricDelta"] {max-width:100%; height:auto !important;}
[data-testid="stMetricDelta"] .stMarkdownEllipsis, [data-testid="stMetricDelta"] p {white-space:normal !important;
  overflow:visible !important; text-overflow:clip !important;}
div[data-testid="stPlotlyChart"] {background:#ffffff; border-radius:8px; padding:4px;
  box-shadow:0 1px 2px rgba(16,24,40,.06);}
.csc-table-wrap {overflow-x:auto;}
table.csc-table {border-collapse:collapse; width:100%; font-size:.85rem; background:#fff;}
table.csc-table th {background:#1d4f91; color:#fff; text-align:left; padding:6px 10px; font-weight:600;}
table.csc-table td {padding:5px 10px; border-bottom:1px solid #e4e7eb;}
table.csc-table td.num {text-align:right; font-variant-numeric:tabular-nums;}
table.csc-table td.hidden {text-align:right; color:#7b8794; font-style:italic; background:#f5f7fa; cursor:help;}
.csc-header {background:linear-gradient(90deg,#1d4f91,#2e86c1); color:#fff; padding:14px 20px; border-radius:8px;
  margin-bottom:10px;}
.csc-header h1 {color:#fff; font-size:1.5rem; margin:0; padding:0;}
.csc-header p {color:#e1ecf7; margin:2px 0 0 0; font-size:.9rem;}
</style>
"""


def page_header(title: str, subtitle: str = "") -> None:
    st.html(CSS + f'<div class="csc-header"><h1>{html.escape(title)}</h1>'
            f'<p>{html.escape(subtitle)}</p></div>')


def ratio_table(a: Answer, filters: dict, dims: list[str], columns: list[str], *, g, principal, page: str) -> None:
    if not a.ok:
        _chart_refused(a, "Disproportionality")
        return
    fixed = cube.applicable_filters(a.res, filters)
    base = {k: v for k, v in fixed.items() if k not in dims}
    if cube.too_detailed(a.res, base, dims[0], a.limit):
        not_published(a, "Disproportionality", base, dims[0])
        return
    header, rows, reasons = cube.ratios(a.res, fixed, dims, columns)
    st.html(html_table(header, rows, reasons))
    downloads(g, principal, a, page, lambda res: cube.ratios(res, fixed, dims, columns)[:2],
              key=f"{a.name}-ratios", notes=[f"Ratios of {a.title}: {a.definition}"])


def flows(a: Answer, filters: dict, *, g, principal, page: str) -> None:
    """A Sankey of the links between stages; hidden links are left out of the drawing and listed below it."""
    if not a.ok:
        _chart_refused(a, "Flows between interventions")
        return
    fixed = {k: v for k, v in cube.applicable_filters(a.res, filters).items() if k not in ("source", "target")}
    if cube.too_detailed(a.res, fixed, ("source", "target"), a.limit):
        # the measure is already source x target: a filter on top asks for 3-way cells, never published
        head = not_published_text(a, fixed, ("source", "target")).split(" This view")[0]
        not_published(a, "What followed referrals in the year", fixed, text=(
            f"{head} This chart already breaks down by the service children moved from and to, so it cannot "
            f"also be filtered by {_names(a.res, cube.used_dimensions(a.res, fixed))}. Set the filters back to "
            "All to see it."))
        return
    links = cube.flows(a.res, fixed)
    labels: list[str] = []
    for s_, t_, _ in links:
        for n in (s_, t_):
            if n not in labels:
                labels.append(n)
    shown = [(s_, t_, c) for s_, t_, c in links if not c.hidden and c.number]
    hidden = [(s_, t_, c) for s_, t_, c in links if c.hidden]
    note = ""
    if hidden:
        note = ("Not drawn because the number is hidden to protect children's identities: "
                + "; ".join(f"{s_} -> {t_} ({c.display})" for s_, t_, c in hidden))
    sankey(labels, [labels.index(s_) for s_, _, _ in shown], [labels.index(t_) for _, t_, _ in shown],
           [c.number for _, _, c in shown], a, title="What followed referrals in the year", hidden_note=note)
    header = ["From", "To", "Children"]
    rows = [[s_, t_, c.display] for s_, t_, c in links]
    reasons = {(k, 2): c.why for k, (_, _, c) in enumerate(links) if c.hidden}
    with st.expander("Flows as a table"):
        st.html(html_table(header, rows, reasons))
        downloads(g, principal, a, page,
                  lambda res: (header, [[s_, t_, c.display] for s_, t_, c in cube.flows(res, fixed)]),
                  key=f"{a.name}-flows")
