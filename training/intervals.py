"""Bootstrap intervals that respect how snapshots come: several rows per lead.

A lead looked at weekly contributes correlated rows, so resampling rows would make intervals
too narrow; leads are resampled instead (a cluster bootstrap), each drawn lead bringing all its
rows. The AUC of a draw is computed from per-row weights over the scores sorted once, so a
thousand draws over a hundred thousand rows take about a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

DRAWS = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


class LeadBootstrap:
    """Seeded lead-level resampling of one set of rows (labels y, lead of each row)."""

    def __init__(self, y: np.ndarray, leads: np.ndarray, draws: int = DRAWS, seed: int = 0):
        _, self._lead_of_row = np.unique(leads, return_inverse=True)
        self._leads = int(self._lead_of_row.max()) + 1 if len(leads) else 0
        self.y = np.asarray(y, dtype=np.float64)
        self._draws, self._seed = draws, seed

    def _row_weights(self) -> Iterator[np.ndarray]:
        """The same draws on every call: intervals of different scores stay comparable."""
        rng = np.random.default_rng(self._seed)
        for _ in range(self._draws):
            counts = np.bincount(rng.integers(0, self._leads, self._leads), minlength=self._leads)
            yield counts[self._lead_of_row].astype(np.float64)

    def auc(self, p: np.ndarray) -> Interval:
        """ROC AUC of scores `p` with its percentile interval."""
        ranks = _Ranked(self.y, p)
        draws = [ranks.auc(w) for w in self._row_weights()]
        return _interval(ranks.auc(np.ones_like(self.y)), draws)

    def auc_difference(self, p: np.ndarray, q: np.ndarray) -> Interval:
        """AUC(p) − AUC(q) on the same rows, both drawn together (a paired interval)."""
        first, second = _Ranked(self.y, p), _Ranked(self.y, q)
        ones = np.ones_like(self.y)
        draws = [first.auc(w) - second.auc(w) for w in self._row_weights()]
        return _interval(first.auc(ones) - second.auc(ones), draws)


class _Ranked:
    """Scores grouped into distinct values once; AUC for any row weights (ties count half)."""

    def __init__(self, y: np.ndarray, p: np.ndarray):
        _, self._group = np.unique(p, return_inverse=True)
        self._groups = int(self._group.max()) + 1 if len(p) else 0
        self._y = y

    def auc(self, w: np.ndarray) -> float:
        pos = np.bincount(self._group, weights=w * self._y, minlength=self._groups)
        neg = np.bincount(self._group, weights=w * (1 - self._y), minlength=self._groups)
        below = np.cumsum(neg) - neg
        total = pos.sum() * neg.sum()
        return float((pos * (below + 0.5 * neg)).sum() / total) if total > 0 else float("nan")


def _interval(estimate: float, draws: list[float]) -> Interval:
    finite = np.asarray([d for d in draws if np.isfinite(d)])
    if not len(finite):
        return Interval(estimate, float("nan"), float("nan"))
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))
