"""Scaffolding shared by the report pages: guard, header, filters, and measures fetched through the gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.app import cube, filters, guard, render

AGE_ORDER = ["Unborn", "Under 1", "1-4", "5-9", "10-15", "16+", "Not known"]


@dataclass
class Report:
    """One report page run: who asks, the filter selection, and a fetch helper bound to this page."""

    key: str
    g: Any
    principal: Any
    filters: dict

    @property
    def year(self) -> int | None:
        return self.filters.get("census_year")

    def params(self, year: int | None = None) -> dict:
        y = year if year is not None else self.year
        return {"census_year": y} if y is not None else {}

    def fetch(self, name: str, year: int | None = None) -> render.Answer:
        return render.fetch(self.g, self.principal, name, self.params(year), self.key)

    def previous(self, name: str) -> render.Answer | None:
        if self.year is None or (self.year - 1) not in self.years():
            return None
        return self.fetch(name, self.year - 1)

    def years(self) -> list[int]:
        try:
            return sorted(int(y) for y in self.g.choices(self.principal, "census_year", {}))
        except Exception:  # noqa: BLE001 - a refusal leaves no years to offer
            return []

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

def start(key: str, title: str, subtitle: str, *, dims: tuple[str, ...] | None = None) -> Report:
    g, principal = guard.require(key)
    f = filters.sidebar(g, principal, **({"dims": dims} if dims is not None else {}))
    render.page_header(title, f"{subtitle}  |  {filters.describe(f)}")
    return Report(key, g, principal, f)


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
