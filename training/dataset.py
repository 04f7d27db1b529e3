"""From a data folder to labelled feature matrices, split by time.

Leads are split by creation time into train (oldest), validation and test (newest) cohorts, so
no lead is in two splits. Training rows also stop where validation begins: a training label
never looks past the first validation lead's creation, so nothing learned comes from the
period the model is judged on.

Data without real creation times (every lead created at once) uses `split.mode: random`
instead: each lead's cohort comes from a seeded hash of its id, with the same shares, so a
lead keeps its cohort however the rest of the data changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from features import contract as c
from features.config import FeatureConfig
from features.snapshots import build_snapshots
from features.spec import FeatureSpec
from features.tables import LeadData
from features.vectors import table_features, to_matrix
from training.config import SplitConfig, TrainConfig

SPLITS = ("train", "validation", "test")
TIME_SPLIT = SplitConfig()


@dataclass(frozen=True)
class Split:
    """One split: snapshot rows (lead_id, as_of, labels) and their feature matrix."""

    rows: pl.DataFrame
    X: np.ndarray

    @property
    def converted(self) -> np.ndarray:
        return self.rows["converted"].to_numpy().astype(np.float64)


@dataclass(frozen=True)
class TrainingSet:
    spec: FeatureSpec
    splits: dict[str, Split]
    cutoffs: dict[str, datetime]
    fingerprint: dict[str, object]


def cohort_cutoffs(
    leads: pl.DataFrame, config: SplitConfig, end: datetime | None = None
) -> dict[str, datetime]:
    """Creation times where the validation and the test cohorts begin.

    A random split has no such times: every cohort spans the whole period, so both cutoffs
    are `end` (default: the last creation) and nothing is cut or censored early.
    """
    created = leads[c.CREATED_AT].sort()
    if config.mode == "random":
        last = end if end is not None else created[-1]
        return {"validation": last, "test": last}
    n = len(created)
    val_at = created[int(n * (1 - config.validation_share - config.test_share))]
    test_at = created[int(n * (1 - config.test_share))]
    return {"validation": val_at, "test": test_at}


def lead_splits(
    leads: pl.DataFrame, cutoffs: dict[str, datetime], config: SplitConfig = TIME_SPLIT
) -> pl.Series:
    """Each lead's cohort, in the order of `leads`: by creation time, or by a hash of its id."""
    if config.mode == "random":
        u = _unit_hash(leads[c.LEAD_ID].to_list(), config.seed)
        train_end = 1 - config.validation_share - config.test_share
        split = np.where(
            u < train_end, "train", np.where(u < 1 - config.test_share, "validation", "test")
        )
        return pl.Series("split", split, dtype=pl.String)
    split = (
        pl.when(pl.col(c.CREATED_AT) >= cutoffs["test"])
        .then(pl.lit("test"))
        .when(pl.col(c.CREATED_AT) >= cutoffs["validation"])
        .then(pl.lit("validation"))
        .otherwise(pl.lit("train"))
    )
    return leads.select(split.alias("split")).to_series()


def _unit_hash(ids: Sequence[str], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per id, fixed by the id and the seed alone."""
    digests = (
        hashlib.blake2b(f"{seed}:{lead_id}".encode(), digest_size=8).digest() for lead_id in ids
    )
    return np.array([int.from_bytes(d, "big") for d in digests], dtype=np.float64) / 2.0**64


def assign_split(
    snaps: pl.DataFrame,
    leads: pl.DataFrame,
    cutoffs: dict[str, datetime],
    horizon_days: int,
    config: SplitConfig = TIME_SPLIT,
) -> pl.DataFrame:
    """Label each snapshot with its lead's cohort; drop training rows that see validation.

    A random split has no later period to protect: no row is dropped.
    """
    created = leads.select(c.LEAD_ID, c.CREATED_AT).with_columns(
        lead_splits(leads, cutoffs, config)
    )
    rows = snaps.join(created, on=c.LEAD_ID)
    if config.mode == "random":
        return rows
    label_end = pl.col("as_of") + pl.duration(days=horizon_days)
    too_late = (pl.col("split") == "train") & (label_end > cutoffs["validation"])
    return rows.filter(~too_late)


def split_rows(
    data: LeadData, features: FeatureConfig, config: TrainConfig
) -> tuple[pl.DataFrame, dict[str, datetime]]:
    """Labelled snapshot rows with their split, and the cohort cutoffs."""
    snaps = build_snapshots(data, features, seed=config.seed).filter(
        pl.col("converted").is_not_null()
    )
    cutoffs = cohort_cutoffs(data.leads, config.split, data.end)
    rows = assign_split(snaps, data.leads, cutoffs, features.horizon_days, config.split)
    return rows, cutoffs


def featurize(data: LeadData, spec: FeatureSpec, rows: pl.DataFrame) -> Split:
    """The feature matrix of snapshot rows, encoded with `spec`."""
    block = table_features(
        data, spec, rows[c.LEAD_ID].to_list(), rows["as_of"].dt.epoch("ms").to_numpy()
    )
    return Split(rows, to_matrix(spec, block))


def build_training_set(data: LeadData, features: FeatureConfig, config: TrainConfig) -> TrainingSet:
    """Snapshots → split → features; the spec is fitted on training leads only.

    A split may come out empty on short data; `check_sufficiency` then says so with counts.
    """
    rows, cutoffs = split_rows(data, features, config)
    train_leads = data.leads.filter(lead_splits(data.leads, cutoffs, config.split) == "train")
    spec = FeatureSpec.fit(features, train_leads)
    splits = {
        name: featurize(data, spec, rows.filter(pl.col("split") == name).sort(c.LEAD_ID, "as_of"))
        for name in SPLITS
    }
    return TrainingSet(spec, splits, cutoffs, fingerprint(data, rows))


def fingerprint(data: LeadData, rows: pl.DataFrame) -> dict[str, object]:
    """What the model was trained on, small enough to log: counts, ranges, rates, a hash."""
    digest = hashlib.sha256()
    for frame in (data.leads, data.events, data.stages):
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    by_split = rows.group_by("split").agg(
        pl.len().alias("rows"), pl.col("converted").mean().alias("rate")
    )
    facts: dict[str, object] = {
        "leads": data.leads.height,
        "events": data.events.height,
        "stage_rows": data.stages.height,
        "first_lead_at": data.leads[c.CREATED_AT].min().isoformat(),
        "data_end": data.end.isoformat(),
        "data_hash": digest.hexdigest()[:16],
    }
    for row in by_split.iter_rows(named=True):
        facts[f"{row['split']}_rows"] = row["rows"]
        facts[f"{row['split']}_label_rate"] = round(row["rate"], 5)
    return facts
