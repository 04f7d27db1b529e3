"""The simulator's four tables, written so that reruns match bytes: leads, events and stages
(the data contract) and `truth`, which only the oracle reads.

truth.parquet, one row per lead (times UTC, rounded down to the µs; days are 86,400 s):

- `lead_id`
- `hazard_base`  per-day SQL hazard outside the ready window
- `ready_at`     when a buying need arises; null: none within the data
- `ready_until`  end of the ready window (null with ready_at; may lie after the data's end)
- `hazard_ready` per-day hazard on [ready_at, ready_until) (what a need brings, had or not)
- `ready_days`   how long the lead's need lasts once it arises, drawn log-normal with
                 `ready_days_median` and `ready_days_sigma`
- `p_need`       the chance that a need arises at all; its onset after creation is exponential
                 with mean `need_now_days` (share `need_now_share`) or `need_later_days`.
                 These let an oracle integrate over a need that has not shown yet
                 (leadscore/simulator/oracle.py) instead of knowing the future.
- `ends_at`      when the lead unsubscribes; hazard 0 from then on; null: not within the data
  (a lead that signed first writes no unsubscribe event: customers leave marketing lists).
  Under `--drift source_conversion_halves` it is also when sales dropped the lead (its hazard
  0, its behaviour unchanged: no unsubscribe event; leadscore/simulator/drift.py)
- `p_sql`        1 - exp(-Λ(end)), end = start + months: the chance of an SQL within the data
- `win_rate`     the chance that a deal of this lead ends WON rather than LOST
- `p_won`        p_sql * win_rate: the chance that the first SQL within the data is won

With e = ends_at (null: +inf) and, where ready_at is null, the second term left out,
  Λ(u) = hazard_base * (min(u, e) - created_at) + (hazard_ready - hazard_base)
         * max(0, min(u, e, ready_until) - ready_at)           for u >= created_at, in days.
For a lead open at t (latest stage MQL or NURTURE; a LOST lead is open again once recycled),
the exact chance of reaching SQL within (t, t + H] is
  oracle(t, H) = 1 - exp(-(Λ(t + H) - Λ(t))).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from leadscore.simulator.behaviour import Events
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.hazard import Hazard
from leadscore.simulator.population import Population
from leadscore.simulator.stages import Deals, Funnel

DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Draws:
    """Everything drawn for the leads of a population, in the order it was drawn."""

    hazard: Hazard
    deals: Deals
    funnel: Funnel
    events: Events


def _stamps(name: str, days: np.ndarray, start: date) -> pl.Series:
    """Float days since start to UTC microsecond timestamps (rounded down); inf becomes null."""
    origin = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * 1_000_000
    finite = np.isfinite(days)
    us = origin + np.floor(np.where(finite, days, 0.0) * DAY_US).astype(np.int64)
    stamps = pl.Series(name, us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return stamps if finite.all() else stamps.set(pl.Series(~finite), None)


def build_tables(
    people: Population, draws: Draws, end: float, config: SimulationConfig
) -> dict[str, pl.DataFrame]:
    """The four tables in writing order (leads last), rows sorted so that reruns match bytes."""
    hazard, deals, funnel, events = draws.hazard, draws.deals, draws.funnel, draws.events
    ids = people.leads[c.LEAD_ID]
    start, readiness = config.start, config.readiness
    p_sql = 1.0 - np.exp(-hazard.cumulative(np.arange(ids.len()), np.full(ids.len(), end)))
    truth = pl.DataFrame(
        [
            ids,
            pl.Series("hazard_base", hazard.base),
            _stamps("ready_at", hazard.ready_at, start),
            _stamps("ready_until", hazard.ready_until, start),
            pl.Series("hazard_ready", hazard.need_ready),
            pl.Series("ready_days", hazard.window),
            pl.Series("p_need", hazard.p_need),
            pl.Series("need_now_share", np.full(ids.len(), readiness.need_now_share)),
            pl.Series("need_now_days", np.full(ids.len(), readiness.need_now_days)),
            pl.Series("need_later_days", np.full(ids.len(), readiness.need_later_days)),
            pl.Series("ready_days_median", np.full(ids.len(), readiness.ready_days_median)),
            pl.Series("ready_days_sigma", np.full(ids.len(), readiness.ready_days_sigma)),
            _stamps("ends_at", hazard.ends, start),
            pl.Series("p_sql", p_sql),
            pl.Series("win_rate", deals.win_rate),
            pl.Series("p_won", p_sql * deals.win_rate),
        ]
    )
    event_table = (
        pl.DataFrame(
            [
                pl.Series("lead", events.lead.astype(np.int32)),
                _stamps(c.TS, events.ts, start),
                pl.Series("kind", events.kind),
                pl.Series(c.VALUE, events.value, nan_to_null=True),
            ]
        )
        .sort("lead", c.TS, "kind")
        .select(
            pl.lit(ids).gather("lead").alias(c.LEAD_ID),
            c.TS,
            pl.lit(pl.Series(c.KNOWN_EVENT_TYPES)).gather("kind").alias(c.EVENT_TYPE),
            c.VALUE,
        )
    )
    stages = pl.DataFrame(
        [
            ids.gather(funnel.lead),
            _stamps(c.TS, funnel.ts, start),
            pl.Series(c.STAGE, c.STAGE_VALUES).gather(funnel.stage),
            pl.Series(c.MRR, funnel.mrr, nan_to_null=True),
        ]
    )
    leads = people.leads.insert_column(1, _stamps(c.CREATED_AT, people.created, start))
    return {c.TRUTH: truth, c.EVENTS: event_table, c.STAGES: stages, c.LEADS: leads}


def write_tables(out_dir: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Write each table under a temporary name, then rename them all, leads.parquet last.

    The old leads.parquet goes first: until the new one lands, the folder fails check_folder
    instead of mixing the tables of two runs.
    """
    try:
        (out_dir / f"{c.LEADS}.parquet").unlink(missing_ok=True)
        partial = {name: out_dir / f".{name}.parquet.partial" for name in tables}
        for name, frame in tables.items():
            frame.write_parquet(partial[name])
        for name, path in partial.items():
            os.replace(path, out_dir / f"{name}.parquet")
    except OSError as exc:
        raise LeadscoreError(f"--out {out_dir}: cannot write ({exc.strerror})") from None
