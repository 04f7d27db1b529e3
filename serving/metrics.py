"""The service's own Prometheus metrics, beside BentoML's request counts and latencies.

Created when a worker starts, never at import: BentoML sets PROMETHEUS_MULTIPROC_DIR in the
worker first, so the workers' counts add up on /metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from serving.explain import Note


class ServiceMetrics:
    """Leads by route and tier, scoring latency, refusals, input notes and model checks."""

    def __init__(self) -> None:
        from prometheus_client import Counter as PromCounter
        from prometheus_client import Histogram

        self.leads = PromCounter(
            "leadscore_leads_scored", "Leads scored", ["endpoint", "route", "tier"]
        )
        self.latency = Histogram(
            "leadscore_scoring_seconds",
            "Time from a validated request to its answer (features, models, routing)",
            ["endpoint"],
            buckets=(0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 4),
        )
        self.refusals = PromCounter(
            "leadscore_refused_requests", "Requests answered 4xx", ["reason"]
        )
        self.notes = PromCounter(
            "leadscore_input_notes",
            "Inputs scored as missing or ignored: late events, unknown types and categories",
            ["kind"],
        )
        self.checks = PromCounter(
            "leadscore_model_checks", "Champion alias checks by outcome", ["outcome"]
        )

    def scored(
        self,
        endpoint: str,
        routes: Sequence[str],
        tiers: Sequence[str],
        notes: Sequence[Sequence[Note]],
        seconds: float,
    ) -> None:
        self.latency.labels(endpoint).observe(seconds)
        for (route, tier), n in Counter(zip(routes, tiers, strict=True)).items():
            self.leads.labels(endpoint, route, tier).inc(n)
        for kind, n in Counter(note.kind for lead_notes in notes for note in lead_notes).items():
            self.notes.labels(kind).inc(n)

    def refused(self, reason: str) -> None:
        self.refusals.labels(reason).inc()

    def checked(self, outcome: str) -> None:
        self.checks.labels(outcome).inc()
