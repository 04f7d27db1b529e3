"""Stage rows of the simulated funnel: MQL at creation, NURTURE when idle, then deal rounds.

SQLs are drawn from each lead's hazard (leadscore/simulator/hazard.py) by inverting its
cumulative; the only loop is over deal rounds, which ends when no lead is left at risk
before the end of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import contract as c
from leadscore.simulator.config import StageTimingConfig
from leadscore.simulator.hazard import Hazard

STAGE_CODES = {stage: code for code, stage in enumerate(c.STAGE_VALUES)}


@dataclass(frozen=True)
class Deals:
    """Per-lead deal terms: chance to win a deal, median deal length, mean MRR."""

    win_rate: np.ndarray
    cycle_days: np.ndarray
    mrr: np.ndarray


@dataclass(frozen=True)
class Funnel:
    """Stage rows sorted by (lead, time, stage), every deal, and each lead's signing time."""

    lead: np.ndarray
    ts: np.ndarray
    stage: np.ndarray  # codes into contract.STAGE_VALUES
    mrr: np.ndarray  # NaN except on WON rows
    deal_lead: np.ndarray
    deal_start: np.ndarray  # the SQL
    deal_stop: np.ndarray  # WON/LOST, or the end of the data for open deals
    won_at: np.ndarray  # inf: not signed within the data


def _next_sql(
    rng: np.random.Generator, hazard: Hazard, idx: np.ndarray, since: np.ndarray
) -> np.ndarray:
    """The first SQL after `since`: the hazard's own clock moved on by an Exp(1) draw."""
    return hazard.time_at(idx, hazard.cumulative(idx, since) + rng.exponential(size=idx.size))


def draw_funnel(
    rng: np.random.Generator, hazard: Hazard, deals: Deals, end: float, config: StageTimingConfig
) -> Funnel:
    """MQL at creation, NURTURE when idle, then deal rounds until nobody is at risk."""
    n = hazard.created.size
    rows: list[tuple[np.ndarray, np.ndarray, int, np.ndarray | None]] = []
    deal_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    won_at = np.full(n, np.inf)
    idx, since = np.arange(n), hazard.created
    sql = _next_sql(rng, hazard, idx, since)
    parked = since + rng.uniform(*config.nurture_after_days, size=n)
    idle = parked < np.minimum(sql, end)
    rows.append((idx, since, STAGE_CODES[c.MQL], None))
    rows.append((idx[idle], parked[idle], STAGE_CODES[c.NURTURE], None))
    while idx.size:
        keep = sql < end
        idx, sql = idx[keep], sql[keep]
        close = sql + deals.cycle_days[idx] * rng.lognormal(0.0, config.cycle_sigma, idx.size)
        won = (close < end) & (rng.random(idx.size) < deals.win_rate[idx])
        lost = (close < end) & ~won
        sigma = config.mrr_sigma
        mrr = np.round(deals.mrr[idx[won]] * rng.lognormal(-sigma * sigma / 2, sigma, won.sum()))
        rows.append((idx, sql, STAGE_CODES[c.SQL], None))
        rows.append((idx[won], close[won], STAGE_CODES[c.WON], mrr))
        rows.append((idx[lost], close[lost], STAGE_CODES[c.LOST], None))
        deal_rows.append((idx, sql, np.minimum(close, end)))
        won_at[idx[won]] = close[won]
        since = close[lost] + rng.uniform(*config.recycle_days, size=lost.sum())
        back = since < end
        idx, since = idx[lost][back], since[back]
        rows.append((idx, since, STAGE_CODES[c.NURTURE], None))
        sql = _next_sql(rng, hazard, idx, since)
    lead = np.concatenate([r[0] for r in rows])
    ts = np.concatenate([r[1] for r in rows])
    stage = np.concatenate([np.full(r[0].size, r[2], np.int8) for r in rows])
    mrr = np.concatenate([np.full(r[0].size, np.nan) if r[3] is None else r[3] for r in rows])
    order = np.lexsort((stage, ts, lead))
    deal_lead, deal_start, deal_stop = (np.concatenate(d) for d in zip(*deal_rows, strict=True))
    return Funnel(
        lead[order], ts[order], stage[order], mrr[order], deal_lead, deal_start, deal_stop, won_at
    )
