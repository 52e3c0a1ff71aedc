"""Small tables for the suppression tests: a cube with its margins, and its flat relations."""

from __future__ import annotations

import numpy as np

from dashboard.policy.suppression import flat_relations


def with_margins(inner: np.ndarray) -> np.ndarray:
    """The whole cube of an inner table: index 0 of every axis is its Total (as GROUP BY CUBE gives)."""
    a = np.asarray(inner)
    for ax in range(a.ndim):
        a = np.concatenate([a.sum(axis=ax, keepdims=True), a], axis=ax)
    return a


def flat_rels(v: np.ndarray):
    """One 'Total = sum of the rest' relation per axis (index 0 is the Total)."""
    return [flat_relations(n) for n in v.shape]
