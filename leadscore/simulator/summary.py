"""The funnel figures a simulation prints and returns, from counts that add up across blocks.

A run in one piece counts once; a run in blocks (leadscore/simulator/blocks.py) counts each
block and adds the counts, so both print the same table from the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from rich.console import Console
from rich.table import Table

from features import contract as c
from leadscore.simulator.behaviour import EVENT_CODES, Events
from leadscore.simulator.config import Targets
from leadscore.simulator.hazard import Hazard
from leadscore.simulator.stages import STAGE_CODES, Funnel


@dataclass(frozen=True)
class Counts:
    """What the figures are made of: lead counts, MRR sums and days to contract, per block."""

    leads: int
    mql: int
    attended: int  # leads with a webinar_attended event
    sql: int  # leads with an SQL
    won: int
    attended_won: int
    mrr_sum: float  # over WON rows
    mrr_rows: int
    days_to_contract: np.ndarray  # of each WON lead
    nurture_pool: int
    open_deals: int
    events: int

    def __add__(self, other: Counts) -> Counts:
        days = np.concatenate((self.days_to_contract, other.days_to_contract))
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "days_to_contract"
        }
        return Counts(**sums, days_to_contract=days)


def count(hazard: Hazard, funnel: Funnel, events: Events) -> Counts:
    """Counts from the drawn arrays (every lead has an MQL row, so a latest stage)."""
    n = hazard.created.size
    latest = funnel.stage[np.r_[np.flatnonzero(np.diff(funnel.lead)), funnel.lead.size - 1]]
    attended = np.zeros(n, bool)
    attended[events.lead[events.kind == EVENT_CODES["webinar_attended"]]] = True
    won = np.isfinite(funnel.won_at)
    mrr = funnel.mrr[funnel.stage == STAGE_CODES[c.WON]]
    return Counts(
        leads=n,
        mql=int((funnel.stage == STAGE_CODES[c.MQL]).sum()),
        attended=int(attended.sum()),
        sql=np.unique(funnel.deal_lead).size,
        won=int(won.sum()),
        attended_won=int((attended & won).sum()),
        mrr_sum=float(mrr.sum()),
        mrr_rows=mrr.size,
        days_to_contract=funnel.won_at[won] - hazard.created[won],
        nurture_pool=int((latest == STAGE_CODES[c.NURTURE]).sum()),
        open_deals=int((latest == STAGE_CODES[c.SQL]).sum()),
        events=events.lead.size,
    )


def figures(counts: Counts, seconds: float) -> dict[str, float]:
    """The funnel's shares and sizes, as `run_simulation` returns them."""
    n, days = counts.leads, counts.days_to_contract
    return {
        "leads": n,
        "mql": counts.mql,
        "webinar_attended_share": counts.attended / n,
        "sql_share": counts.sql / n,
        "won_share": counts.won / n,
        "attended_won_share": counts.attended_won / max(counts.attended, 1),
        "mean_mrr": counts.mrr_sum / counts.mrr_rows if counts.mrr_rows else float("nan"),
        "median_days_to_contract": float(np.median(days)) if days.size else float("nan"),
        "nurture_pool": counts.nurture_pool,
        "open_deals": counts.open_deals,
        "events": counts.events,
        "seconds": seconds,
    }


def print_summary(s: dict[str, float], t: Targets, caption: str | None) -> None:
    """The figures beside the calibration targets (counts scaled to the run's leads)."""
    scale, pct = s["leads"] / t.leads, "{:.1%}".format
    rows = [
        ("leads", f"{s['leads']:,}", ""),
        ("MQL", f"{s['mql']:,}", ""),
        ("webinar attended", pct(s["webinar_attended_share"]), pct(t.webinar_attended_share)),
        ("SQL", pct(s["sql_share"]), ""),
        ("WON", pct(s["won_share"]), ""),
        ("attended → WON", pct(s["attended_won_share"]), pct(t.attended_won_share)),
        ("mean MRR (PLN)", f"{s['mean_mrr']:,.0f}", f"{t.mean_mrr:,.0f}"),
        ("median days to contract", f"{s['median_days_to_contract']:.0f}", ""),
        ("nurture pool", f"{s['nurture_pool']:,}", f"{t.nurture_pool * scale:,.0f}"),
        ("open deals", f"{s['open_deals']:,}", ""),
        ("events", f"{s['events']:,}", f"{t.events * scale:,.0f}"),
        ("elapsed (s)", f"{s['seconds']:.1f}", ""),
    ]
    table = Table(title="Simulated funnel", caption=caption)
    for name in ("", "simulated", "calibrated to"):
        table.add_column(name, justify="right" if name else "left")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
