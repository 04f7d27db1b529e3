"""What the funnel report counts: one row of facts per lead, as known at a moment.

Every funnel figure is a count over these rows, so each definition lives here once (the
tests' hand computations follow them):
- a lead *reached* MQL if it has an MQL or an SQL row, SQL if it has an SQL row, a
  *contract* if it has a WON row (the data contract makes WON imply SQL);
- webinar figures count leads with at least one `webinar_registered`/`webinar_attended`
  event, in any order relative to the contract (how the sales organisation quotes them);
- a lead's *latest* stage is its last row by time, ties broken by their order in the file;
- a *recycled* lead has a NURTURE row after one of its SQL or LOST rows; it *signed after*
  if a WON row follows that NURTURE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from features import contract as c
from features.tables import LeadData

DAY_US = 86_400_000_000
REGISTERED, ATTENDED = "webinar_registered", "webinar_attended"
NAN = float("nan")

# Counts of a group of leads (all leads, a source, a partner, a cohort) over lead_facts rows.
COUNTS = {
    "leads": pl.len(),
    **{name: pl.col(name).sum() for name in ("mql", "sql", "won", "registered", "attended", "mrr")},
    "reg_att": (pl.col("registered") & pl.col("attended")).sum(),
    "att_won": (pl.col("attended") & pl.col("won")).sum(),
}


@dataclass(frozen=True)
class Rate:
    """hits out of total with a Wilson interval (all nan when total is 0)."""

    hits: int
    total: int
    rate: float
    low: float
    high: float


def wilson(hits: int, total: int, level: float) -> Rate:
    """Wilson score interval: unlike p ± z·SE it stays inside [0, 1] and is honest at 0 hits
    or a handful of leads, which is what keeps a 3-lead partner off the top of a table."""
    if total == 0:
        return Rate(hits, total, NAN, NAN, NAN)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = hits / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if hits == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if hits == total else min(1.0, centre + half)
    return Rate(hits, total, p, low, high)


def lead_facts(data: LeadData) -> pl.DataFrame:
    """One row per lead: source, partner (`pid`), cohort month, stage times and the flags."""
    stages = data.stages
    if c.MRR not in stages.columns:
        stages = stages.with_columns(pl.lit(None, pl.Float64).alias(c.MRR))
    engaged = pl.col(c.STAGE).is_in([c.SQL, c.LOST]).cast(pl.Int8)
    stages = (
        stages.with_row_index("row")
        .sort(c.LEAD_ID, c.TS, "row")
        .with_columns(after_deal=engaged.cum_max().shift(1, fill_value=0).over(c.LEAD_ID))
    )
    first = {s: pl.col(c.TS).filter(pl.col(c.STAGE) == s).min() for s in c.STAGE_VALUES}
    won = pl.col(c.STAGE) == c.WON
    recycle = (pl.col(c.STAGE) == c.NURTURE) & (pl.col("after_deal") == 1)
    per_lead = stages.group_by(c.LEAD_ID).agg(
        mql_at=first[c.MQL],
        sql_at=first[c.SQL],
        won_at=first[c.WON],
        won_last=pl.col(c.TS).filter(won).max(),
        mrr=pl.col(c.MRR).filter(won).sum(),
        nurtured_at=first[c.NURTURE],
        recycled_at=pl.col(c.TS).filter(recycle).min(),
        latest=pl.col(c.STAGE).last(),
    )
    kind = pl.col(c.EVENT_TYPE)
    webinars = (
        data.events.filter(kind.is_in([REGISTERED, ATTENDED]))
        .group_by(c.LEAD_ID)
        .agg(reg=(kind == REGISTERED).any(), att=(kind == ATTENDED).any())
    )
    partner = pl.col(c.PARTNER_ID) if c.PARTNER_ID in data.leads.columns else pl.lit(None)
    facts = (
        data.leads.select(c.LEAD_ID, c.CREATED_AT, c.SOURCE, partner.cast(pl.String).alias("pid"))
        .join(per_lead, on=c.LEAD_ID, how="left")
        .join(webinars, on=c.LEAD_ID, how="left")
    )
    return facts.with_columns(
        cohort=pl.col(c.CREATED_AT).dt.strftime("%Y-%m"),
        mql=pl.col("mql_at").is_not_null() | pl.col("sql_at").is_not_null(),
        sql=pl.col("sql_at").is_not_null(),
        won=pl.col("won_at").is_not_null(),
        registered=pl.col("reg").fill_null(False),
        attended=pl.col("att").fill_null(False),
        mrr=pl.col("mrr").fill_null(0.0),
        recycled=pl.col("recycled_at").is_not_null(),
        recycled_won=(pl.col("won_last") > pl.col("recycled_at")).fill_null(False),
        nurtured=pl.col("nurtured_at").is_not_null(),
        nurtured_won=(pl.col("won_last") > pl.col("nurtured_at")).fill_null(False),
    )


def days(delta: pl.Expr) -> pl.Expr:
    """A duration expression in days (86,400 s), fractional."""
    return delta.dt.total_microseconds() / DAY_US


def quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """(median, first quartile, third quartile), numpy's linear interpolation; nan if empty."""
    if values.size == 0:
        return NAN, NAN, NAN
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(median), float(q1), float(q3)
