"""Typed settings of the scoring service: the server itself, and everything a worker gets.

`leadscore serve` reads configs/serve.yaml, the policy (configs/routing.yaml and
economics.yaml, training/policy.py) and the registry setting into these models
(leadscore/settings.py) and hands them to the service whole, as one `ServiceSettings`, so
every worker process scores with exactly what the command line resolved.
"""

from __future__ import annotations

from pydantic import Field

from features.config import FrozenConfig
from training.config import RegistryConfig
from training.policy import Policy


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
    policy: Policy
    registry: RegistryConfig
