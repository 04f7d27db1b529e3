"""The business's decisions, read once: who sales works and what a lead is worth.

Routing (tiers by score, the daily active-sales capacity) and economics (MRR, customer
lifetime, the share of SQLs that sign, the margin target) come from configs/routing.yaml and
configs/economics.yaml into one `Policy`. Training judges its models at this capacity (recall
at capacity), the service and the nightly batch route by it, and the funnel report values
leads and model routing by it: the number of leads sales can take a day is decided here only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from features.config import FrozenConfig

Route = Literal["active_sales", "nurturing"]
ACTIVE_SALES: Route = "active_sales"
NURTURING: Route = "nurturing"


class TierRule(FrozenConfig):
    """A lead whose score reaches `min_score` (and no better tier's) gets `tier` and `route`."""

    tier: str = Field(min_length=1, max_length=8)
    min_score: float = Field(ge=0, le=100)
    route: Route


class CapacityConfig(FrozenConfig):
    """At most reps × leads_per_rep_per_day different leads a day go to active sales.

    Only days within `window_days` of the server's own date count: a request about another
    day (a replay, a far-future as_of) neither takes nor frees a place of today's.
    """

    reps: int = Field(ge=1)
    leads_per_rep_per_day: int = Field(ge=1)
    window_days: int = Field(1, ge=0, le=7, description="days either side of today that count")

    @property
    def leads_per_day(self) -> int:
        return self.reps * self.leads_per_rep_per_day


class HoldoutConfig(FrozenConfig):
    """A share of leads routed by a fixed rule instead of the model, so that what the model
    adds over the rule can be measured honestly later (leadscore monitor).

    Membership is a stable hash of the salt and the lead id: a lead is in or out for good,
    whoever scores it and however often, and the same share of every source and period is in.
    The rule sends every holdout lead to `route` whatever its score. Of the active-sales places
    one request is granted, the holdout takes about `share`, its leads in the order of their
    hash, not their score (serving/routing.py `claim_order`).
    """

    share: float = Field(0.0, ge=0, le=0.5, description="0: no holdout")
    salt: str = Field("leadscore", min_length=1, max_length=100)
    route: Route = ACTIVE_SALES


class RoutingConfig(FrozenConfig):
    """Tiers from the best down, each with its route, an optional daily capacity, and the
    routing holdout."""

    tiers: tuple[TierRule, ...] = Field(min_length=1)
    capacity: CapacityConfig | None = None
    holdout: HoldoutConfig = HoldoutConfig()

    @model_validator(mode="after")
    def _tiers_cover_every_score(self) -> RoutingConfig:
        floors = [rule.min_score for rule in self.tiers]
        if any(a <= b for a, b in zip(floors, floors[1:], strict=False)):
            raise ValueError("tiers: min_score must fall strictly from the first tier to the last")
        if floors[-1] != 0:
            raise ValueError("tiers: the last tier must have min_score 0, so every lead has one")
        names = [rule.tier for rule in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: names must be unique, got {names}")
        return self


class EconomicsConfig(FrozenConfig):
    """What a sales-qualified lead is worth: P(contract | SQL) × MRR × months a customer stays,
    and the margin target that says how much of it winning the customer may cost."""

    mrr_pln: float = Field(gt=0, description="monthly recurring revenue of a contract, PLN")
    lifetime_months: float = Field(gt=0, description="months an average customer stays")
    sql_to_contract_rate: float = Field(gt=0, le=1, description="share of SQLs that sign")
    margin: float = Field(
        0.5, ge=0, lt=1, description="target margin; CLV × (1 − margin) may win and serve a deal"
    )

    @property
    def value_of_sql_pln(self) -> float:
        return self.sql_to_contract_rate * self.mrr_pln * self.lifetime_months


class Policy(FrozenConfig):
    """Routing and economics together, as every command and the service receive them."""

    routing: RoutingConfig
    economics: EconomicsConfig

    @property
    def capacity_per_day(self) -> int | None:
        """Leads sales can take a day; None when the routing config sets no cap."""
        capacity = self.routing.capacity
        return capacity.leads_per_day if capacity is not None else None
