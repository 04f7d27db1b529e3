"""The leads the champion scored lately, rebuilt from the data: who, when, what it said, what
happened next.

A nightly rescore looks at every open lead; so do the training snapshots (features/
snapshots.py), every `snapshot_every_days` while a lead is open. The monitor takes the same
snapshots over its look-back window — the periods before --as-of, none before the training
data ended — scores them with the champion pair, and keeps the labels that have matured by
--as-of. One path for a data folder and a store URL, and the reference it is compared with was
cut from the same kind of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from features import contract as c
from features.snapshots import DAY_US, build_snapshots
from features.tables import LeadData
from features.vectors import table_features, to_matrix
from leadscore.monitor.config import MonitorConfig
from training.models import ConversionModel, VelocityModel
from training.reference import Reference

VELOCITY_DAYS = 90  # the deal-velocity horizon the monitor checks (of the service's 30/60/90)
_EVERY = {"week": "1w", "month": "1mo"}


@dataclass(frozen=True)
class Monitored:
    """The models a monitor run judges (no velocity model where the data had no contracts)
    and the reference their training run recorded."""

    conversion: ConversionModel
    conversion_version: int
    velocity: VelocityModel | None
    velocity_version: int | None
    reference: Reference


@dataclass(frozen=True)
class Window:
    """The periods a run looks at: [starts[0], end), rows from `since` on."""

    starts: tuple[datetime, ...]
    end: datetime
    since: datetime


@dataclass(frozen=True)
class Population:
    """Scored snapshot rows: lead_id, as_of, period, source, converted (null until matured),
    remaining_days and event_observed (to the first WON after as_of, or censored)."""

    rows: pl.DataFrame
    X: np.ndarray
    p: np.ndarray  # calibrated P(SQL within the horizon)
    p_contract: np.ndarray  # P(contract within VELOCITY_DAYS); NaN without a velocity model


def window(as_of: datetime, trained_until: datetime, config: MonitorConfig) -> Window:
    """The `lookback_periods` complete periods before as_of (weeks start on Monday, UTC), and
    the moment rows count from: the later of the first period's start and the training data's
    end, so the model is never judged on rows it was fitted on."""
    every = _EVERY[config.period]
    unit = every[1:]
    current = pl.Series([as_of]).dt.truncate(every)
    starts = [
        pl.Series(current).dt.offset_by(f"-{k}{unit}")[0]
        for k in range(config.lookback_periods, 0, -1)
    ]
    return Window(tuple(starts), current[0], max(starts[0], trained_until))


def period_of(moments: pl.Expr, config: MonitorConfig) -> pl.Expr:
    return moments.dt.truncate(_EVERY[config.period])


def scored_population(
    data: LeadData, champion: Monitored, span: Window, config: MonitorConfig, seed: int = 0
) -> Population:
    """The snapshots with as_of in [span.since, span.end), at most max_rows_per_period a
    period (a seeded sample), scored by the champions, with their labels as of data.end."""
    conversion, velocity = champion.conversion, champion.velocity
    features = conversion.spec.config
    everything = features.model_copy(update={"snapshot_row_budget": 2**62})
    snaps = build_snapshots(data, everything, since=span.since).filter(pl.col("as_of") < span.end)
    keep = pl.int_range(pl.len()).shuffle(seed).over("period") < config.max_rows_per_period
    rows = (
        snaps.with_columns(period=period_of(pl.col("as_of"), config))
        .filter(keep)
        .join(data.leads.select(c.LEAD_ID, c.CREATED_AT, c.SOURCE), on=c.LEAD_ID)
        .with_columns(
            remaining_days=pl.col("days_to_contract")
            - (pl.col("as_of") - pl.col(c.CREATED_AT)).dt.total_microseconds() / DAY_US
        )
        .sort("period", c.LEAD_ID, "as_of")
    )
    ids, as_of_ms = rows[c.LEAD_ID].to_list(), rows["as_of"].dt.epoch("ms").to_numpy()
    X = to_matrix(conversion.spec, table_features(data, conversion.spec, ids, as_of_ms))
    p_contract = np.full(len(X), np.nan)
    if velocity is not None:
        X_velocity = (
            X
            if velocity.spec.hash == conversion.spec.hash
            else to_matrix(velocity.spec, table_features(data, velocity.spec, ids, as_of_ms))
        )
        p_contract = velocity.forecast(X_velocity).within(VELOCITY_DAYS)
    return Population(rows, X, conversion.predict(X), p_contract)
