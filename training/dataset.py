"""From a data folder to labelled snapshots and their features, computed once.

Every snapshot whose label window closed before the data's end is a row (a seeded sample when
there are more than the feature config's row budget). Behaviour features are computed once
for all rows; static attributes stay raw in the block, so each backtest fold encodes them with
a spec fitted on its own training leads — a category first seen in a fold's test period is
unseen there, as it would be in production — and the deployed model with a spec fitted on all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import numpy as np
import polars as pl

from features import contract as c
from features.config import FeatureConfig
from features.snapshots import every_snapshot, sample_bound, sample_hashes
from features.spec import FeatureSpec
from features.tables import LeadData
from features.vectors import FeatureBlock, table_features, to_matrix


@dataclass(frozen=True)
class DataFacts:
    """What training keeps of the data besides its rows: sizes, span and a content hash, each
    summed alike over any partitioning, so both engines record the same fingerprint."""

    leads: int
    events: int
    stage_rows: int
    first_lead_at: datetime
    end: datetime
    row_hashes: tuple[int, int, int]  # per table, the sum mod 2**64 of its rows' hashes

    @classmethod
    def of(cls, data: LeadData) -> DataFacts:
        tables = (data.leads, data.events, data.stages)
        return cls(
            data.leads.height,
            data.events.height,
            data.stages.height,
            data.leads[c.CREATED_AT].min(),
            data.end,
            tuple(int(t.hash_rows(seed=0).to_numpy().sum(dtype=np.uint64)) for t in tables),
        )

    def __add__(self, other: DataFacts) -> DataFacts:
        return DataFacts(
            self.leads + other.leads,
            self.events + other.events,
            self.stage_rows + other.stage_rows,
            min(self.first_lead_at, other.first_lead_at),
            max(self.end, other.end),
            tuple((a + b) % 2**64 for a, b in zip(self.row_hashes, other.row_hashes, strict=True)),
        )


@dataclass(frozen=True)
class TrainingSet:
    """Labelled snapshot rows (lead_id, created_at, as_of, labels) and their features, with
    the leads table (each fold fits its spec on its own leads) and the data's facts."""

    leads: pl.DataFrame
    facts: DataFacts
    event_mix: Callable[[datetime], dict[str, float]]  # shares of event types from a moment on
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
            self.features, self.leads.filter(pl.col(c.LEAD_ID).is_in(ids.implode()))
        )

    def matrix(self, spec: FeatureSpec, positions: np.ndarray) -> np.ndarray:
        """The model input of these rows, static attributes encoded by `spec`."""
        return to_matrix(spec, self.block.take(positions))


def build_training_set(data: LeadData, features: FeatureConfig, seed: int) -> TrainingSet:
    """Labelled snapshots (within the row budget) and their features, sorted by lead and time."""
    snaps = every_snapshot(data, features, data.end)
    hashes = sample_hashes(snaps, seed)
    bound = sample_bound(hashes.to_numpy(), features.snapshot_row_budget)
    every_attribute = FeatureSpec.fit(features, data.leads)
    rows, block = labelled_rows(data, snaps.filter(hashes <= bound), every_attribute)
    rate = min(1.0, features.snapshot_row_budget / max(snaps.height, 1))
    mix = partial(event_mix, data)
    return TrainingSet(data.leads, DataFacts.of(data), mix, features, rows, block, rate)


def labelled_rows(
    data: LeadData, snaps: pl.DataFrame, every_attribute: FeatureSpec
) -> tuple[pl.DataFrame, FeatureBlock]:
    """The snapshots whose outcome is known, with created_at, and their features. Every
    attribute column stays raw (`every_attribute` names them all): which are categories is
    each fold's spec's business."""
    rows = (
        snaps.filter(pl.col("converted").is_not_null())
        .join(data.leads.select(c.LEAD_ID, c.CREATED_AT), on=c.LEAD_ID)
        .sort(c.LEAD_ID, "as_of")
    )
    block = table_features(
        data, every_attribute, rows[c.LEAD_ID].to_list(), rows["as_of"].dt.epoch("ms").to_numpy()
    )
    return rows, block


def event_mix(data: LeadData, since: datetime) -> dict[str, float]:
    """Shares of event types among `data`'s events from `since` on (the training reference)."""
    return mix_of(event_counts(data, since))


def event_counts(data: LeadData, since: datetime) -> dict[str, int]:
    """Events of each type from `since` on (a partition's, summed by the Dask engine)."""
    recent = data.events.filter(pl.col(c.TS) >= since)[c.EVENT_TYPE]
    counts = recent.cast(pl.String).value_counts(name="n")
    return dict(zip(counts[c.EVENT_TYPE], counts["n"], strict=True))


def mix_of(counts: dict[str, int]) -> dict[str, float]:
    """Each type's share of the counts, most frequent first."""
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {kind: n / total for kind, n in ranked} if total else {}


def fingerprint(ts: TrainingSet) -> dict[str, object]:
    """What the model was trained on, small enough to log: counts, ranges, rates, a hash."""
    facts = ts.facts
    digest = hashlib.sha256(np.array(facts.row_hashes, dtype=np.uint64).tobytes())
    converted = ts.rows.filter(pl.col("converted") == 1)
    return {
        "leads": facts.leads,
        "events": facts.events,
        "stage_rows": facts.stage_rows,
        "first_lead_at": facts.first_lead_at.isoformat(),
        "data_end": facts.end.isoformat(),
        "data_hash": digest.hexdigest()[:16],
        "snapshot_rows": ts.rows.height,
        "snapshot_sample_rate": round(ts.sample_rate, 5),
        "label_rate": round(float(ts.converted.mean()), 5) if ts.rows.height else 0.0,
        "converted_leads": converted[c.LEAD_ID].n_unique(),
        "last_labelled_as_of": ts.rows["as_of"].max().isoformat() if ts.rows.height else None,
    }
