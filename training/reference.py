"""The training reference: a compact picture of what the deployed model was trained on.

Recorded in every training run (`reference_profile.json`) beside the model it describes, so the
monitor can tell later whether the leads now being scored still look like these: each model
input and the score as histograms (features/profile.py), the mix of event types and sources,
how often each attribute is missing, the conversion rate, and the backtests' AUC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from features import contract as c
from features.profile import Histogram
from features.spec import FeatureSpec
from training.dataset import TrainingSet
from training.models import ConversionModel

REFERENCE = "reference_profile.json"  # the artifact's name in a training run
MAX_ROWS = 200_000  # rows the histograms are cut from (a seeded sample beyond)


@dataclass(frozen=True)
class Reference:
    data_end: datetime
    rows: int
    base_rate: float
    backtest_auc: float
    features: dict[str, Histogram]
    score: Histogram
    event_types: dict[str, float]
    sources: dict[str, float]
    missing: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_end": self.data_end.isoformat(),
            "rows": self.rows,
            "base_rate": self.base_rate,
            "backtest_auc": self.backtest_auc,
            "features": {name: h.to_dict() for name, h in self.features.items()},
            "score": self.score.to_dict(),
            "event_types": self.event_types,
            "sources": self.sources,
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Reference:
        return cls(
            datetime.fromisoformat(raw["data_end"]),
            int(raw["rows"]),
            float(raw["base_rate"]),
            float(raw["backtest_auc"]),
            {name: Histogram.from_dict(h) for name, h in raw["features"].items()},
            Histogram.from_dict(raw["score"]),
            dict(raw["event_types"]),
            dict(raw["sources"]),
            dict(raw["missing"]),
        )


def build_reference(
    ts: TrainingSet, X: np.ndarray, model: ConversionModel, days: int, backtest_auc: float
) -> Reference:
    """The reference of `model`, fitted on the rows X of `ts`: its rows, leads and events of
    the last `days` before the newest labelled snapshot."""
    as_of = ts.rows["as_of"]
    since = as_of.max() - timedelta(days=days)
    recent = np.flatnonzero((as_of >= since).to_numpy())
    X = X[recent]
    leads = ts.leads.filter(pl.col(c.CREATED_AT) >= since)
    return Reference(
        data_end=ts.facts.end,
        rows=len(X),
        base_rate=float(ts.converted[recent].mean()),
        backtest_auc=backtest_auc,
        features=feature_histograms(model.spec, X),
        score=Histogram.of_numbers(model.predict(X)),
        event_types=ts.event_mix(since),
        sources=shares(leads[c.SOURCE]),
        missing=missing_shares(model.spec, leads),
    )


def feature_histograms(spec: FeatureSpec, X: np.ndarray) -> dict[str, Histogram]:
    """A histogram of every model input; categories binned by their code in the spec."""
    if len(X) > MAX_ROWS:
        X = X[np.sort(np.random.default_rng(0).choice(len(X), MAX_ROWS, replace=False))]
    categories = set(spec.categorical_indices)
    out = {}
    for j, name in enumerate(spec.feature_names):
        if j in categories:
            out[name] = Histogram.of_codes(X[:, j], len(spec.categories[name]))
        else:
            out[name] = Histogram.of_numbers(X[:, j])
    return out


def shares(values: pl.Series) -> dict[str, float]:
    """Share of each distinct value (missing ones as "(missing)"), largest first."""
    if values.len() == 0:
        return {}
    counts = values.fill_null("(missing)").cast(pl.String).value_counts(sort=True, name="n")
    total = float(values.len())
    return {str(k): n / total for k, n in zip(counts[values.name], counts["n"], strict=True)}


def missing_shares(spec: FeatureSpec, leads: pl.DataFrame) -> dict[str, float]:
    """Share of leads without each static attribute the model reads."""
    total = max(leads.height, 1)
    return {
        name: (leads[name].null_count() / total if name in leads.columns else 1.0)
        for name in spec.static_names
    }
