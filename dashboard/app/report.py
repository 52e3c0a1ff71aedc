"""Scaffolding shared by the report pages: guard, header, filters, and measures fetched through the gate.

A report page runs in two phases. Fetch: `start` asks the gate for every measure the page declares (each
measure's whole protected cube, once per census year it shows) in ONE `gate.query_many` call, whose audit records
are committed together before anything is returned; if that commit fails the page stops and shows nothing. Render:
filters, cards, charts and tables are local slices of those cubes (`cube.py`), never further questions to the
warehouse, which is also the differencing defence (every view is a slice of one protected answer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from dashboard.app import cube, filters, guard, render

AGE_ORDER = ["Unborn", "Under 1", "1-4", "5-9", "10-15", "16+", "Not known"]
#: stands for the deployment's flows measure (flows_query) in a page's declared measures
FLOWS = "<flows>"


@dataclass
class Report:
    """One report page run: who asks, the filter selection, and a fetch helper bound to this page."""

    key: str
    g: Any
    principal: Any
    filters: dict
    #: (measure, census year) -> the answer fetched in this page run (fetch phase, or on demand)
    answers: dict = field(default_factory=dict)
    _years: list[int] | None = None

    @property
    def year(self) -> int | None:
        return self.filters.get("census_year")

    def params(self, year: int | None = None) -> dict:
        y = year if year is not None else self.year
        return {"census_year": y} if y is not None else {}

    def fetch(self, name: str, year: int | None = None) -> render.Answer:
        """The answer fetched for this page run; a measure the page did not declare is fetched on its own
        (still recorded before it is returned), once per page run."""
        y = year if year is not None else self.year
        a = self.answers.get((name, y))
        if a is None:
            a = self.answers[(name, y)] = render.fetch(self.g, self.principal, name, self.params(y), self.key)
        return a

    def prefetch(self, wanted: Iterable[tuple[str, int | None]]) -> None:
        """The fetch phase: every (measure, year) not fetched yet, in one gate call and one audit commit."""
        todo = list(dict.fromkeys((n, y) for n, y in wanted if (n, y) not in self.answers))
        if todo:
            got = render.fetch_many(self.g, self.principal, [(n, self.params(y)) for n, y in todo], self.key)
            self.answers.update(zip(todo, got, strict=True))

    def previous(self, name: str) -> render.Answer | None:
        if self.year is None or (self.year - 1) not in self.years():
            return None
        return self.fetch(name, self.year - 1)

    def years(self) -> list[int]:
        if self._years is None:
            try:
                self._years = sorted(int(y) for y in self.g.choices(self.principal, "census_year", {}))
            except Exception:  # noqa: BLE001 - a refusal leaves no years to offer
                self._years = []
        return list(self._years)

    def trend(self, name: str, column: str) -> tuple[list[tuple[str, cube.Cell]], render.Answer | None]:
        """One cell per census year at the current filter (each year's whole cube is protected on its own)."""
        points, last = [], None
        for y in self.years():
            a = self.fetch(name, y)
            if not a.ok:
                continue
            last = a
            fixed = cube.applicable_filters(a.res, self.filters)
            if cube.too_detailed(a.res, fixed, None, a.limit):
                continue  # not published at this detail: render.trend says so when given the filters
            i = cube.total_row(a.res, fixed)
            if i is not None:
                points.append((str(y), cube.cell(a.res, i, column)))
            elif first(a, "count") and column in {c.name for c in a.res.columns if c.kind == "count"}:
                points.append((str(y), cube.Cell(display=0, number=0)))  # nobody counted: a true zero
        return points, last

    def england(self, a: render.Answer, column: str) -> float | None:
        """England's published figure from the measure's header (`england: {year: Y, <column>: value}`).
        Shown beside the authority's figure for reference; the card names England's year when it differs."""
        table = (a.extra or {}).get("england") or {}
        v = table.get(column) if isinstance(table, dict) else None
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    def england_year(self, a: render.Answer):
        table = (a.extra or {}).get("england") or {}
        return table.get("year") if isinstance(table, dict) else None

def start(key: str, title: str, subtitle: str, *, dims: tuple[str, ...] | None = None,
          cards: Iterable[Iterable[tuple[str, str | None, str | None]]] = (), compare: Iterable[str] = (),
          current: Iterable[str] = (), trends: Iterable[str] = ()) -> Report:
    """Guard the page, pick the year, fetch everything the page declares (one gate call, one audit commit),
    then the other filters and the header. Declare: `cards` (rows of card specs: shown with last year's
    figure), `compare` (other measures shown beside last year), `current` (this year only) and `trends` (every
    census year). Only what the page shows is declared, so the audit trail records no more than is shown."""
    g, principal = guard.require(key)
    year = filters.year_filter(g, principal)
    r = Report(key, g, principal, {"census_year": year} if year is not None else {})
    years = r.years()
    previous = [year - 1] if year is not None and (year - 1) in years else []
    with_last = [n for row in cards for n, _, _ in row] + list(compare)
    wanted = [(filters.CHOICES_QUERY, year)]
    wanted += [(n, y) for n in with_last for y in [year, *previous]]
    wanted += [(n, year) for n in current]
    wanted += [(n, y) for n in trends for y in (years or [year])]
    flows = flows_query(g) if any(n == FLOWS for n, _ in wanted) else None
    wanted = [(flows, y) if n == FLOWS else (n, y) for n, y in wanted if n != FLOWS or flows]
    try:
        r.prefetch(wanted)
    except render.AuditUnavailable as e:
        render.nothing_shown(str(e))
    source = r.answers.get((filters.CHOICES_QUERY, year))
    f = filters.sidebar(g, principal, year=year, source=source, **({"dims": dims} if dims is not None else {}))
    r.filters = f
    render.page_header(title, f"{subtitle}  |  {filters.describe(f)}")
    return r


def rate_column(a: render.Answer) -> str | None:
    if not a.ok:
        return None
    return next((c.name for c in a.res.columns if c.kind == "rate"), None)


def first(a: render.Answer, kind: str) -> str | None:
    if not a.ok:
        return None
    return next((c.name for c in a.res.columns if c.kind == kind), None)


def has_dim(a: render.Answer, dim: str) -> bool:
    return a.ok and dim in cube.dimensions(a.res)


def other_dims(a: render.Answer) -> list[str]:
    std = {"age_band", "sex", "ethnicity_group", "disability", "team"}
    return [d for d in cube.dimensions(a.res) if d not in std] if a.ok else []


def cards(r: Report, specs: list[tuple[str, str | None, str | None]]) -> None:
    """A row of KPI cards: (measure, column or None for its first count, label)."""
    cols = st.columns(len(specs))
    for col, (name, column, label) in zip(cols, specs, strict=True):
        with col:
            a = r.fetch(name)
            column = column or first(a, "count")
            if column is None:
                render.kpi(a, "", r.filters, label=label)
                continue
            render.kpi(a, column, r.filters, label=label, previous=r.previous(name), england=r.england(a, column))


def flows_query(g) -> str | None:
    """The measure of flows between interventions (source, target dimensions), if installed."""
    for spec in g.catalogue():
        if {"source", "target"} <= set(spec.dimensions):
            return spec.name
    return None
