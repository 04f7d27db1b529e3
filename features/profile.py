"""What a population of values looks like, compactly, and how far another one has moved.

A model's training rows are summarised per column as a `Histogram` (decile edges of numbers,
one bin per category code, and a bin for missing values) and stored with the model; the
monitor bins the rows scored later on the same edges and compares shares with the population
stability index. Edges come from the reference only, so a later population is judged on the
grid the model was trained on, and a value beyond the last edge still falls in the last bin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

QUANTILES = np.linspace(0.1, 0.9, 9)
PSI_FLOOR = 1e-4  # a share of 0 on either side would make the index infinite


@dataclass(frozen=True)
class Histogram:
    """Shares of a column's values: bins by `edges` (numbers) or by code (categories), and
    missing values last. `edges` None means the column holds category codes 0..len-2."""

    edges: tuple[float, ...] | None
    shares: tuple[float, ...]

    @classmethod
    def of_numbers(cls, values: np.ndarray) -> Histogram:
        """Decile edges of the present values (ties merged, so a count column with mostly
        zeros gets few bins) and the shares of the bins they make."""
        present = values[~np.isnan(values)]
        edges = tuple(np.unique(np.quantile(present, QUANTILES)).tolist()) if present.size else ()
        return cls(edges, cls(edges, ()).shares_of(values))

    @classmethod
    def of_codes(cls, values: np.ndarray, categories: int) -> Histogram:
        """One bin per category code 0..categories-1, then missing (unseen codes count there)."""
        return cls(None, cls(None, (0.0,) * (categories + 1)).shares_of(values))

    def shares_of(self, values: np.ndarray) -> tuple[float, ...]:
        """Shares of `values` in this histogram's bins (all zero for no values)."""
        bins = len(self.edges) + 2 if self.edges is not None else len(self.shares)
        missing = np.isnan(values)
        if self.edges is not None:
            # (-inf, e0], (e0, e1], ..., (e_last, inf): the interval each present value is in.
            placed = np.searchsorted(np.asarray(self.edges), values[~missing], side="left")
        else:
            codes = values[~missing]
            known = (codes >= 0) & (codes < bins - 1)
            placed = codes[known].astype(np.int64)
            missing = missing.copy()
            missing[np.flatnonzero(~missing)[~known]] = True
        counts = np.bincount(placed, minlength=bins - 1).astype(np.float64)
        counts = np.append(counts, float(missing.sum()))
        total = max(float(values.size), 1.0)
        return tuple((counts / total).tolist())

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": None if self.edges is None else list(self.edges),
            "shares": list(self.shares),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Histogram:
        edges = raw["edges"]
        return cls(None if edges is None else tuple(edges), tuple(raw["shares"]))


def psi(
    expected: Mapping[str, float] | tuple[float, ...],
    actual: Mapping[str, float] | tuple[float, ...],
) -> float:
    """Population stability index Σ (a − e) · ln(a / e) over the bins of both populations.

    Shares are floored at PSI_FLOOR so an empty bin on one side counts as very unlikely, not
    impossible. Mappings (shares by name) are compared over the union of their names.
    """
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        names = sorted(set(expected) | set(actual))
        e = np.array([expected.get(n, 0.0) for n in names])
        a = np.array([actual.get(n, 0.0) for n in names])
    else:
        e, a = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    e, a = np.maximum(e, PSI_FLOOR), np.maximum(a, PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))
