"""A logistic regression on the model's own feature matrix, applied with numpy.

It has two jobs. It is the baseline every training run is judged against (a booster that
cannot beat a linear model out of time is not worth its trees), and it is the base the
conversion booster grows from: the trees fit what the linear model leaves, so the deployed
model keeps the linear trends the trees cannot extrapolate (macro indicators, a campaign's
slow drift) and is rarely worse than its own baseline.

Numbers go through a signed log (counts and durations are heavy-tailed), are standardised on
the training rows, missing becomes the mean plus an indicator; categories are one-hot, missing
being a category of its own. Each feature's term is additive, so its contribution to a score is
exact: its term minus the term's training mean — the linear counterpart of TreeSHAP.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
from scipy import sparse

from features.threads import map_rows

REGULARISATION = 1.0  # scikit-learn's C: the default L2 penalty
MAX_ITER = 300
FIT_ROWS = 300_000  # beyond this many rows a seeded sample, which bounds the time of a fit
LOGIT_ROWS = 8_192  # rows per chunk of `logit`


class _Arrays(NamedTuple):
    """LinearBase's fitted values as arrays; the categorical weights in one flat table, each
    column's [missing, code 0, 1, ...] starting at its offset."""

    numeric: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    missing_coef: np.ndarray
    categorical: np.ndarray
    size: np.ndarray
    offset: np.ndarray
    table: np.ndarray


@dataclass(frozen=True)
class LinearBase:
    """Fitted terms per feature column; `logit(X)` = intercept + Σ terms."""

    intercept: float
    numeric: tuple[int, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    missing_coef: tuple[float, ...]
    categorical: tuple[int, ...]
    weights: tuple[tuple[float, ...], ...]  # per categorical column: [missing, code 0, 1, ...]
    term_mean: tuple[float, ...]  # per feature column, over the training rows
    n_features: int

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, categorical: Sequence[int], seed: int = 0
    ) -> LinearBase:
        """Fit on training rows (a seeded sample of FIT_ROWS when there are more); columns
        constant in them get no term."""
        from sklearn.exceptions import ConvergenceWarning  # imported where fitted: training/lgb.py
        from sklearn.linear_model import LogisticRegression

        if len(X) > FIT_ROWS:
            sample = np.sort(np.random.default_rng(seed).choice(len(X), FIT_ROWS, replace=False))
            X, y = X[sample], y[sample]
        cats = [j for j in categorical if _varies(X[:, j])]
        nums = [j for j in range(X.shape[1]) if j not in set(categorical) and _varies(X[:, j])]
        z = _signed_log(X[:, nums])
        center = np.nanmean(z, axis=0) if nums else np.zeros(0)
        scale = np.nanstd(z, axis=0) if nums else np.zeros(0)
        scale = np.where(scale > 0, scale, 1.0)
        gaps = np.isnan(z).any(axis=0)  # only columns with gaps get a missing indicator
        sizes = [int(np.nanmax(X[:, j], initial=-1)) + 2 for j in cats]
        design = _design(X, nums, (center, scale, gaps), cats, sizes)
        model = LogisticRegression(C=REGULARISATION, max_iter=MAX_ITER, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(design, y)
        w = model.coef_[0]
        k, at = len(nums), len(nums) + int(gaps.sum())
        missing_coef = np.zeros(k)
        missing_coef[gaps] = w[k:at]
        weights = []
        for size in sizes:
            weights.append(tuple(float(v) for v in w[at : at + size]))
            at += size
        base = cls(
            float(model.intercept_[0]),
            tuple(nums),
            tuple(float(v) for v in center),
            tuple(float(v) for v in scale),
            tuple(float(v) for v in w[:k]),
            tuple(float(v) for v in missing_coef),
            tuple(cats),
            tuple(weights),
            (),
            X.shape[1],
        )
        mean = base.terms(X).mean(axis=0)
        return cls(**{**base.to_dict(), "term_mean": tuple(float(v) for v in mean)})

    def terms(self, X: np.ndarray) -> np.ndarray:
        """Each feature column's additive term, rows × columns (zero where it has none)."""
        a = self._arrays
        out = np.zeros((len(X), self.n_features))
        if self.numeric:
            z = (_signed_log(X[:, a.numeric]) - a.center) / a.scale
            missing = np.isnan(z)
            out[:, a.numeric] = np.where(missing, 0.0, z) * a.coef + missing * a.missing_coef
        if self.categorical:
            out[:, a.categorical] = a.table[a.offset + _codes(X[:, a.categorical], a.size)]
        return out

    @cached_property
    def _arrays(self) -> _Arrays:
        """The fitted tuples as arrays, made once: a request's one row would otherwise spend
        more time converting them than computing its terms."""
        sizes = [len(weights) for weights in self.weights]
        return _Arrays(
            np.asarray(self.numeric, dtype=np.intp),
            np.asarray(self.center),
            np.asarray(self.scale),
            np.asarray(self.coef),
            np.asarray(self.missing_coef),
            np.asarray(self.categorical, dtype=np.intp),
            np.asarray(sizes, dtype=np.int64),
            np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            np.concatenate([np.asarray(w, dtype=np.float64) for w in self.weights] or [[]]),
        )

    def logit(self, X: np.ndarray) -> np.ndarray:
        """In row chunks: a chunk's terms stay in cache and chunks run on every core (the
        nightly 200,000 rows: 1.6 s in one pass, 0.5 s in chunks on 2 cores)."""
        return np.concatenate(
            map_rows(
                lambda rows: self.intercept + self.terms(X[rows]).sum(axis=1), len(X), LOGIT_ROWS
            )
        )

    def probability(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per feature, its term minus the training mean; last column the expected logit."""
        phi = self.terms(X) - np.asarray(self.term_mean)
        bias = self.intercept + float(np.sum(self.term_mean))
        return np.hstack([phi, np.full((len(X), 1), bias)])

    def to_dict(self) -> dict[str, object]:
        return {
            "intercept": self.intercept,
            "numeric": self.numeric,
            "center": self.center,
            "scale": self.scale,
            "coef": self.coef,
            "missing_coef": self.missing_coef,
            "categorical": self.categorical,
            "weights": self.weights,
            "term_mean": self.term_mean,
            "n_features": self.n_features,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> LinearBase:
        return cls(
            float(raw["intercept"]),
            tuple(int(j) for j in raw["numeric"]),
            tuple(raw["center"]),
            tuple(raw["scale"]),
            tuple(raw["coef"]),
            tuple(raw["missing_coef"]),
            tuple(int(j) for j in raw["categorical"]),
            tuple(tuple(w) for w in raw["weights"]),
            tuple(raw["term_mean"]),
            int(raw["n_features"]),
        )


def _varies(column: np.ndarray) -> bool:
    present = column[~np.isnan(column)]
    distinct = len(np.unique(present)) + int(len(present) < len(column))
    return distinct > 1


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _codes(column: np.ndarray, size: int | np.ndarray) -> np.ndarray:
    """Category code + 1, 0 for missing and for codes the fit never saw (of one column, or of
    several with a size each)."""
    codes = np.where(np.isnan(column), -1, column).astype(np.int64) + 1
    return np.where((codes >= 0) & (codes < size), codes, 0)


def _design(
    X: np.ndarray,
    nums: list[int],
    scaling: tuple[np.ndarray, np.ndarray, np.ndarray],
    cats: list[int],
    sizes: list[int],
) -> sparse.csr_matrix:
    """Standardised numbers, indicators of the gaps of those that have any, then one-hot
    categories (sparse)."""
    center, scale, gaps = scaling
    z = (_signed_log(X[:, nums]) - center) / scale
    missing = np.isnan(z)
    blocks = [sparse.csr_matrix(np.hstack([np.where(missing, 0.0, z), missing[:, gaps]]))]
    rows = np.arange(len(X))
    for j, size in zip(cats, sizes, strict=True):
        ones = np.ones(len(X))
        blocks.append(sparse.csr_matrix((ones, (rows, _codes(X[:, j], size))), (len(X), size)))
    return sparse.hstack(blocks, format="csr")
