"""Typed settings of the scoring service: routing policy, lead economics and the server itself.

`leadscore serve` reads configs/routing.yaml, economics.yaml and serve.yaml into these models
(leadscore/settings.py) and hands them to the service whole, as one `ServiceSettings`, so
every worker process scores with exactly what the command line resolved.
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


class RoutingConfig(FrozenConfig):
    """Tiers from the best down, each with its route, and an optional daily capacity."""

    tiers: tuple[TierRule, ...] = Field(min_length=1)
    capacity: CapacityConfig | None = None

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
    """What a sales-qualified lead is worth: P(contract | SQL) × MRR × months a customer stays."""

    mrr_pln: float = Field(gt=0, description="monthly recurring revenue of a contract, PLN")
    lifetime_months: float = Field(gt=0, description="months an average customer stays")
    sql_to_contract_rate: float = Field(gt=0, le=1, description="share of SQLs that sign")

    @property
    def value_of_sql_pln(self) -> float:
        return self.sql_to_contract_rate * self.mrr_pln * self.lifetime_months


class ServeConfig(FrozenConfig):
    """The HTTP server: where it listens, how many workers, limits and the reload period."""

    host: str = "127.0.0.1"
    port: int = Field(3000, ge=1, le=65535)
    workers: int = Field(2, ge=1, description="processes; each holds both models (~0.5 GiB)")
    reload_seconds: float = Field(30, ge=1, description="how often champion aliases are checked")
    registry_timeout_seconds: float = Field(
        20, gt=0, description="a registry check running longer makes /readyz say unreachable"
    )
    max_body_bytes: int = Field(16 * 2**20, ge=1024, description="larger bodies get 413")
    max_batch_leads: int = Field(1000, ge=1, description="leads in one /score_batch request")
    max_events_per_request: int = Field(
        100_000, ge=1, description="events of all the leads of one request"
    )
    max_concurrency: int = Field(
        4, ge=1, description="scoring requests a worker reads or scores at once; others wait"
    )
    max_waiting: int = Field(
        32, ge=0, description="scoring requests a worker lets wait; past that, 429"
    )
    batch_threads: int = Field(
        2, ge=1, description="LightGBM threads for a request of several leads; one lead uses one"
    )
    timeout_seconds: float = Field(60, gt=0, description="a request running longer gets 504")
    capacity_ledger: str = Field(
        "mlruns/route_ledger.sqlite",
        description="SQLite file the workers share to count today's active-sales leads",
    )


class ServiceSettings(FrozenConfig):
    """Everything a worker needs besides the models; travels as BentoML's service arguments."""

    serve: ServeConfig
    routing: RoutingConfig
    economics: EconomicsConfig
