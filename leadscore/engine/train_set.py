"""`train` on Dask: snapshots and features built in the partitions, gathered for LightGBM.

The row budget (features.yaml `snapshot_row_budget`) bounds the training set however large
the data: 500,000 rows of ~50 features are ~0.2 GB, which one machine fits. So the
partitions build their snapshots and features, the sample is gathered here, and training
runs as in one process; `lightgbm.dask` would pay only for a training set no machine holds
(1M × 50 rows on this VM: 43 s plain against 67 s on Dask, issue 18). Four passes over the
partitions, each a small answer per partition: the data's facts and leads (its end labels
every partition), the sample's draws, the labelled rows with their features, and the event mix of
the reference period.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import partial, reduce
from operator import add
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features import contract as c
from features.config import FeatureConfig
from features.snapshots import every_snapshot, sample_bound, sample_hashes
from features.spec import FeatureSpec
from features.tables import load_data
from features.vectors import FeatureBlock, concat_blocks
from training.dataset import DataFacts, TrainingSet, event_counts, labelled_rows, mix_of

if TYPE_CHECKING:
    from distributed import Client


def training_set_on_dask(
    client: Client, folders: list[str], features: FeatureConfig, seed: int
) -> TrainingSet:
    """`training.dataset.build_training_set` over the partitions: the same rows and features."""
    facts_and_leads = client.gather(client.map(_facts_and_leads, folders, pure=False))
    facts = reduce(add, [part_facts for part_facts, _ in facts_and_leads])
    leads = pl.concat([part_leads for _, part_leads in facts_and_leads], how="vertical")
    budget = features.snapshot_row_budget
    draws = client.gather(
        client.map(_draws, folders, features=features, end=facts.end, seed=seed, pure=False)
    )
    total = sum(count for count, _ in draws)
    bound = sample_bound(np.concatenate([smallest for _, smallest in draws]), budget)
    every_attribute = FeatureSpec.fit(features, leads)
    parts = client.gather(
        client.map(
            _labelled,
            folders,
            features=features,
            spec=every_attribute,
            sample=(facts.end, seed, bound),
            pure=False,
        )
    )
    rows = pl.concat([part_rows for part_rows, _ in parts], how="vertical").with_row_index("_at")
    rows = rows.sort(c.LEAD_ID, "as_of")
    block = concat_blocks([part_block for _, part_block in parts]).take(rows["_at"].to_numpy())
    mix = partial(_event_mix, client, folders)
    rate = min(1.0, budget / max(total, 1))
    return TrainingSet(leads, facts, mix, features, rows.drop("_at"), block, rate)


def _facts_and_leads(folder: str) -> tuple[DataFacts, pl.DataFrame]:
    data = load_data(folder)
    return DataFacts.of(data), data.leads


def _draws(
    folder: str, features: FeatureConfig, end: datetime, seed: int
) -> tuple[int, np.ndarray]:
    """How many snapshots the partition has, and its budget smallest draws: the budget-th
    smallest of all lies among them."""
    hashes = sample_hashes(every_snapshot(load_data(folder), features, end), seed).to_numpy()
    keep = min(len(hashes), features.snapshot_row_budget)
    return len(hashes), np.partition(hashes, keep - 1)[:keep] if keep else hashes


def _labelled(
    folder: str, features: FeatureConfig, spec: FeatureSpec, sample: tuple[datetime, int, int]
) -> tuple[pl.DataFrame, FeatureBlock]:
    end, seed, bound = sample
    data = load_data(folder)
    snaps = every_snapshot(data, features, end)
    return labelled_rows(data, snaps.filter(sample_hashes(snaps, seed) <= bound), spec)


def _event_mix(client: Client, folders: list[str], since: datetime) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for part in client.gather(client.map(_event_counts, folders, since=since, pure=False)):
        counts.update(part)
    return mix_of(counts)


def _event_counts(folder: str, since: datetime) -> dict[str, int]:
    return event_counts(load_data(folder), since)
