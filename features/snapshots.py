"""Training snapshots: (lead, as_of) moments with what happened next as labels.

Each lead is looked at from its MQL moment (its creation where it has no MQL stage) and then
every `snapshot_every_days` while it is open — no SQL, WON or LOST as its latest stage, so a
lead recycled into NURTURE is looked at again. Labels come from after as_of only:

- `converted`: reached SQL in [as_of, as_of + horizon). When the horizon runs past the end of
  the data the outcome is unknown: null, never a negative — and never a positive either, since
  keeping the early SQLs of such rows but not their misses would inflate the newest rates.
- `days_to_contract` / `event_observed`: days from creation to the first WON after as_of, or to
  the end of the data with `event_observed = False` (censored, never "never closes").

Past the row budget, a snapshot is kept when the hash of (lead, as_of, seed) is among the
budget smallest: a seeded uniform sample that is the same rows however the leads are
partitioned, so training on Dask keeps exactly what one process keeps.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from features import contract as c
from features.config import FeatureConfig
from features.tables import LeadData

DAY_US = 86_400_000_000


def build_snapshots(
    data: LeadData, config: FeatureConfig, seed: int = 0, since: datetime | None = None
) -> pl.DataFrame:
    """One row per snapshot: lead_id, as_of, converted, days_to_contract, event_observed;
    with `since`, only the snapshots from that moment on (the monitor's recent periods).
    Sorted by lead and as_of; a seeded sample of `snapshot_row_budget` rows when there are
    more."""
    snaps = every_snapshot(data, config, data.end, since)
    hashes = sample_hashes(snaps, seed)
    return snaps.filter(hashes <= sample_bound(hashes.to_numpy(), config.snapshot_row_budget))


def sample_hashes(snaps: pl.DataFrame, seed: int) -> pl.Series:
    """Each snapshot's draw: the hash of its lead, as_of and the seed (polars' stable hash)."""
    return snaps.select(pl.struct(c.LEAD_ID, "as_of").hash(seed=seed)).to_series()


def sample_bound(hashes: np.ndarray, budget: int) -> int:
    """The largest draw kept: the budget-th smallest of `hashes` (every draw under budget)."""
    if len(hashes) <= budget:
        return 2**64 - 1
    return int(np.partition(hashes, budget - 1)[budget - 1])


def every_snapshot(
    data: LeadData, config: FeatureConfig, end: datetime, since: datetime | None = None
) -> pl.DataFrame:
    """Every snapshot of `data`'s leads, labelled as of `end` (the data's end; a partition's
    leads are labelled at the end of the whole data)."""
    step = pl.duration(days=config.snapshot_every_days)
    mql = (
        data.stages.filter(pl.col(c.STAGE) == c.MQL)
        .group_by(c.LEAD_ID)
        .agg(pl.col(c.TS).min().alias("mql_at"))
    )
    starts = data.leads.select(c.LEAD_ID, c.CREATED_AT).join(mql, on=c.LEAD_ID, how="left")
    starts = starts.with_columns(start=pl.coalesce("mql_at", c.CREATED_AT))
    max_age = pl.duration(days=config.snapshot_max_age_days)
    recent = pl.lit(True)
    if since is not None:  # a lead older than its last snapshot has none from `since` on
        starts = starts.filter(pl.col(c.CREATED_AT) + max_age >= since)
        recent = pl.col("as_of") >= since
    horizon_end = pl.min_horizontal(pl.lit(end), pl.col(c.CREATED_AT) + max_age)
    count = (
        (horizon_end - pl.col("start")).dt.total_microseconds()
        // (config.snapshot_every_days * DAY_US)
        + 1
    ).clip(lower_bound=0)
    snaps = (
        starts.with_columns(k=pl.int_ranges(0, count))
        .explode("k")
        .drop_nulls("k")
        .with_columns(as_of=pl.col("start") + step * pl.col("k"))
        .filter((pl.col("as_of") < end) & recent)
        .select(c.LEAD_ID, c.CREATED_AT, "as_of")
        .sort("as_of")
    )
    snaps = _latest_stage(snaps, data.stages).filter(
        pl.col("stage_then").is_null() | ~pl.col("stage_then").is_in(c.ENGAGED_STAGES)
    )
    snaps = _next(snaps, data.stages, c.SQL, "next_sql")
    snaps = _next(snaps, data.stages, c.WON, "next_won")
    horizon = pl.duration(days=config.horizon_days)
    converted = (
        pl.when(pl.col("as_of") + horizon > end)
        .then(None)
        .when(pl.col("next_sql") < pl.col("as_of") + horizon)
        .then(1)
        .otherwise(0)
        .cast(pl.Int8)
    )
    contract_at = pl.coalesce("next_won", pl.lit(end))
    snaps = snaps.select(
        c.LEAD_ID,
        "as_of",
        converted.alias("converted"),
        ((contract_at - pl.col(c.CREATED_AT)).dt.total_microseconds() / DAY_US).alias(
            "days_to_contract"
        ),
        pl.col("next_won").is_not_null().alias("event_observed"),
    ).sort(c.LEAD_ID, "as_of")
    return snaps


def _latest_stage(snaps: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """The lead's latest stage strictly before as_of (what was known then)."""
    history = stages.select(c.LEAD_ID, pl.col(c.TS).alias("stage_ts"), pl.col(c.STAGE)).sort(
        "stage_ts"
    )
    joined = snaps.join_asof(
        history,
        left_on="as_of",
        right_on="stage_ts",
        by=c.LEAD_ID,
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    return joined.rename({c.STAGE: "stage_then"}).drop("stage_ts")


def _next(snaps: pl.DataFrame, stages: pl.DataFrame, stage: str, name: str) -> pl.DataFrame:
    """The time of the lead's first `stage` at or after as_of."""
    times = (
        stages.filter(pl.col(c.STAGE) == stage)
        .select(c.LEAD_ID, pl.col(c.TS).alias(name))
        .sort(name)
    )
    return snaps.join_asof(
        times,
        left_on="as_of",
        right_on=name,
        by=c.LEAD_ID,
        strategy="forward",
        allow_exact_matches=True,
        check_sortedness=False,
    )
