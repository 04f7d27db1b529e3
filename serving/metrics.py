"""The service's own Prometheus metrics, beside BentoML's request counts and latencies.

Created when a worker starts, never at import: BentoML sets PROMETHEUS_MULTIPROC_DIR in the
worker first, so the workers' counts add up on /metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from serving.explain import Note

BAND_WIDTH = 10  # score points per band of the score distribution
BANDS = [f"{low}-{low + BAND_WIDTH}" for low in range(0, 100, BAND_WIDTH)]


class ServiceMetrics:
    """Leads by route and tier, the score distribution, scoring latency, refusals, input notes
    and model checks."""

    def __init__(self) -> None:
        from prometheus_client import Counter as PromCounter
        from prometheus_client import Histogram

        self.leads = PromCounter(
            "leadscore_leads_scored", "Leads scored", ["endpoint", "route", "tier"]
        )
        # Counts per band rather than a Histogram: a batch adds ten numbers, not one per lead,
        # and Prometheus reads the drift of the distribution between monitor runs from them.
        self.bands = PromCounter(
            "leadscore_scores", "Leads scored by score band (0-10 … 90-100)", ["endpoint", "band"]
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
        scores: np.ndarray,
        routes: Sequence[str],
        tiers: Sequence[str],
        notes: Sequence[Sequence[Note]],
        seconds: float,
    ) -> None:
        self.latency.labels(endpoint).observe(seconds)
        for (route, tier), n in Counter(zip(routes, tiers, strict=True)).items():
            self.leads.labels(endpoint, route, tier).inc(n)
        band = np.minimum(np.asarray(scores) // BAND_WIDTH, len(BANDS) - 1).astype(np.int64)
        for k, n in enumerate(np.bincount(band, minlength=len(BANDS)).tolist()):
            if n:
                self.bands.labels(endpoint, BANDS[k]).inc(n)
        for kind, n in Counter(note.kind for lead_notes in notes for note in lead_notes).items():
            self.notes.labels(kind).inc(n)

    def refused(self, reason: str) -> None:
        self.refusals.labels(reason).inc()

    def checked(self, outcome: str) -> None:
        self.checks.labels(outcome).inc()
