"""What a rescore moved, in one summary: counts to active sales by source and partner, tiers,
expected value, the capacity check, and how the run went."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from features import contract as c
from training.policy import ACTIVE_SALES


@dataclass(frozen=True)
class Summary:
    """What moved: counts to active sales by source and partner, tiers, value, capacity.

    `tier_rule_to_active_sales` is how many leads the tier rule alone would send to sales:
    set against the capacity, it says whether sales can take what the pool offers.
    """

    as_of: str
    pool: str
    leads: int
    to_active_sales: int
    recycled: int | None  # moved from nurturing to active sales (with a previous output)
    moved_by_source: dict[str, int]
    moved_by_partner: dict[str, int]
    tiers: dict[str, int]
    expected_value_moved_pln: float
    tier_rule_to_active_sales: int
    capacity_per_day: int | None
    held_back_by_capacity: int
    # How the run went (engine, partitions, seconds per stage, peak memory): not a result, so
    # two runs of the same data agree on everything else.
    run: dict[str, Any] = field(default_factory=dict)


def summarise(
    frame: pl.DataFrame, as_of: datetime, pool: str, capacity: int | None, wanted: int
) -> Summary:
    """The summary of a scores frame; `wanted` is what the tier rule alone sent to sales."""
    to_sales = frame.filter(pl.col("route") == ACTIVE_SALES)
    moved = to_sales.filter(pl.col("recycled")) if "recycled" in frame.columns else to_sales

    def counts(by: str) -> dict[str, int]:
        grouped = moved.group_by(by).len().sort(["len", by], descending=[True, False])
        return {str(k): int(v) for k, v in grouped.iter_rows()}

    tiers = frame.group_by("tier").len().sort("tier")
    return Summary(
        as_of=as_of.isoformat(),
        pool=pool,
        leads=frame.height,
        to_active_sales=to_sales.height,
        recycled=int(frame["recycled"].sum()) if "recycled" in frame.columns else None,
        moved_by_source=counts(c.SOURCE),
        moved_by_partner=counts(c.PARTNER_ID),
        tiers={str(t): int(n) for t, n in tiers.iter_rows()},
        expected_value_moved_pln=float(moved["expected_value_pln"].sum()),
        tier_rule_to_active_sales=wanted,
        capacity_per_day=capacity,
        held_back_by_capacity=wanted - to_sales.height,
    )
