"""The funnel over time: how long deals take to sign, and the pool of leads not ready yet.

Both read the per-lead facts of `leadscore/funnel/facts.py` at the report's as-of moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from lifelines import KaplanMeierFitter

from features import contract as c
from leadscore.funnel.facts import NAN, Rate, days, quartiles, wilson


@dataclass(frozen=True)
class Velocity:
    """Days from lead to contract: over signed deals only, and Kaplan-Meier with open deals.

    The curves give the share signed by each whole day (0, 1, 2, ...): Kaplan-Meier's, and the
    signed-only one a naive report would draw.
    """

    signed: int
    open: int
    median_days: float
    q1_days: float
    q3_days: float
    km_median_days: float
    km_q1_days: float
    km_q3_days: float
    curve_days: tuple[int, ...]
    km_share_signed: tuple[float, ...]
    signed_only_share: tuple[float, ...]


@dataclass(frozen=True)
class Nurture:
    """Leads whose latest stage is NURTURE, their age, and how many came back to sign."""

    pool: int
    share_of_leads: float
    age_median_days: float
    age_q1_days: float
    age_q3_days: float
    age_buckets: tuple[tuple[str, int], ...]
    nurtured_signed: Rate
    recycled_signed: Rate


def km_time(timeline: np.ndarray, survival: np.ndarray, share_signed: float) -> float:
    """First day by which `share_signed` of deals have signed (inf if never reached).

    Our own rather than lifelines' `percentile`, whose strict comparison misses a survival of
    exactly 0.75 that the product of (1 - d/n) lands a rounding error above.
    """
    reached = np.flatnonzero(survival <= 1 - share_signed + 1e-9)
    return float(timeline[reached[0]]) if reached.size else math.inf


def velocity(facts: pl.DataFrame, as_of: datetime) -> Velocity:
    """Signed deals end at their first WON; open deals (latest stage SQL) are censored at as_of.

    The median over signed deals alone is biased short: the slow deals are the ones still
    open. Kaplan-Meier counts them as "not signed yet" instead. Lost deals leave the
    population, so the curve answers "how long do deals that sign take".
    """
    deals = facts.filter(pl.col("won") | (pl.col("latest") == c.SQL)).select(
        days(pl.coalesce("won_at", pl.lit(as_of)) - pl.col(c.CREATED_AT)).alias("days"),
        pl.col("won"),
    )
    lengths, signed = deals["days"].to_numpy(), deals["won"].to_numpy()
    median, q1, q3 = quartiles(lengths[signed])
    km: tuple[float, ...] = (NAN, NAN, NAN)
    grid = np.arange(int(np.ceil(lengths.max())) + 1 if lengths.size else 0)
    km_share, naive = np.zeros(grid.size), np.zeros(grid.size)
    if signed.any():
        fitted = KaplanMeierFitter().fit(lengths, signed)
        timeline = fitted.survival_function_.index.to_numpy()
        survival = fitted.survival_function_.iloc[:, 0].to_numpy()
        km = tuple(km_time(timeline, survival, share) for share in (0.5, 0.25, 0.75))
        km_share = 1 - fitted.survival_function_at_times(grid).to_numpy()
        naive = np.searchsorted(np.sort(lengths[signed]), grid, side="right") / signed.sum()
    return Velocity(
        int(signed.sum()),
        int((~signed).sum()),
        median,
        q1,
        q3,
        *km,
        tuple(grid.tolist()),
        tuple(km_share.tolist()),
        tuple(naive.tolist()),
    )


def nurture(
    facts: pl.DataFrame, as_of: datetime, age_edges_days: tuple[int, ...], level: float
) -> Nurture:
    """The not-ready pool at as_of: its size, its age since creation, and who came back.

    "Came back" is counted over all leads: those ever nurtured that signed after their first
    NURTURE, and those recycled after an SQL or LOST that signed after that.
    """
    pool = facts.filter(pl.col("latest") == c.NURTURE)
    age = pool.select(days(pl.lit(as_of) - pl.col(c.CREATED_AT))).to_series().to_numpy()
    median, q1, q3 = quartiles(age)
    edges = (0, *age_edges_days)
    labels = [f"{a}–{b} d" for a, b in zip(edges, edges[1:], strict=False)] + [f"≥ {edges[-1]} d"]
    counts = np.bincount(np.searchsorted(edges[1:], age, side="right"), minlength=len(labels))
    sums = facts.select(pl.col("nurtured", "nurtured_won", "recycled", "recycled_won").sum())
    row = sums.row(0, named=True)
    return Nurture(
        pool=pool.height,
        share_of_leads=pool.height / facts.height,
        age_median_days=median,
        age_q1_days=q1,
        age_q3_days=q3,
        age_buckets=tuple(zip(labels, (int(n) for n in counts), strict=True)),
        nurtured_signed=wilson(row["nurtured_won"], row["nurtured"], level),
        recycled_signed=wilson(row["recycled_won"], row["recycled"], level),
    )
