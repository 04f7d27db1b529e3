"""From a data folder to labelled snapshots and their features, computed once.

Every snapshot whose label window closed before the data's end is a row (a seeded sample when
there are more than the feature config's row budget). Behaviour features are computed once
for all rows; static attributes stay raw in the block, so each backtest fold encodes them with
a spec fitted on its own training leads — a category first seen in a fold's test period is
unseen there, as it would be in production — and the deployed model with a spec fitted on all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from features import contract as c
from features.config import FeatureConfig
from features.snapshots import build_snapshots
from features.spec import FeatureSpec
from features.tables import LeadData
from features.vectors import FeatureBlock, table_features, to_matrix


@dataclass(frozen=True)
class TrainingSet:
    """Labelled snapshot rows (lead_id, created_at, as_of, labels) and their features."""

    data: LeadData
    features: FeatureConfig
    rows: pl.DataFrame
    block: FeatureBlock
    sample_rate: float  # share of all snapshots the rows are (1.0 under the row budget)

    @property
    def converted(self) -> np.ndarray:
        return self.rows["converted"].to_numpy().astype(np.float64)

    def spec_for(self, positions: np.ndarray) -> FeatureSpec:
        """A spec fitted on the leads of these rows (their categories, their kinds)."""
        ids = self.rows[c.LEAD_ID].gather(positions).unique()
        return FeatureSpec.fit(
            self.features, self.data.leads.filter(pl.col(c.LEAD_ID).is_in(ids.implode()))
        )

    def matrix(self, spec: FeatureSpec, positions: np.ndarray) -> np.ndarray:
        """The model input of these rows, static attributes encoded by `spec`."""
        return to_matrix(spec, self.block.take(positions))


def build_training_set(data: LeadData, features: FeatureConfig, seed: int) -> TrainingSet:
    """Labelled snapshots (within the row budget) and their features, sorted by lead and time."""
    snaps = build_snapshots(data, features, seed=seed)
    total = snaps.height
    rows = (
        snaps.filter(pl.col("converted").is_not_null())
        .join(data.leads.select(c.LEAD_ID, c.CREATED_AT), on=c.LEAD_ID)
        .sort(c.LEAD_ID, "as_of")
    )
    # Every attribute column, raw: which are categories is each fold's spec's business.
    every_attribute = FeatureSpec.fit(features, data.leads)
    block = table_features(
        data, every_attribute, rows[c.LEAD_ID].to_list(), rows["as_of"].dt.epoch("ms").to_numpy()
    )
    rate = 1.0 if total <= features.snapshot_row_budget else features.snapshot_row_budget / total
    return TrainingSet(data, features, rows, block, rate)


def fingerprint(ts: TrainingSet) -> dict[str, object]:
    """What the model was trained on, small enough to log: counts, ranges, rates, a hash."""
    data = ts.data
    digest = hashlib.sha256()
    for frame in (data.leads, data.events, data.stages):
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    converted = ts.rows.filter(pl.col("converted") == 1)
    return {
        "leads": data.leads.height,
        "events": data.events.height,
        "stage_rows": data.stages.height,
        "first_lead_at": data.leads[c.CREATED_AT].min().isoformat(),
        "data_end": data.end.isoformat(),
        "data_hash": digest.hexdigest()[:16],
        "snapshot_rows": ts.rows.height,
        "snapshot_sample_rate": round(ts.sample_rate, 5),
        "label_rate": round(float(ts.converted.mean()), 5) if ts.rows.height else 0.0,
        "converted_leads": converted[c.LEAD_ID].n_unique(),
        "last_labelled_as_of": ts.rows["as_of"].max().isoformat() if ts.rows.height else None,
    }
