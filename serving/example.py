"""One example lead: the OpenAPI example, the curl line `leadscore serve` prints, and the tests.

A fixed `as_of` keeps its answer the same every day; attributes are the simulated funnel's.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

EXAMPLE_LEAD: dict[str, Any] = {
    "lead_id": "L-2026-000123",
    "created_at": "2026-10-02T09:15:00Z",
    "source": "webinar",
    "partner_id": None,
    "attributes": {
        "country": "PL",
        "industry": "software",
        "business_model": "B2B",
        "job_role": "head_of_sales",
        "company_size": 120,
    },
    "events": [
        {"ts": "2026-10-02T09:20:00Z", "event_type": "email_open"},
        {"ts": "2026-10-03T14:02:00Z", "event_type": "page_view", "value": 95},
        {"ts": "2026-10-09T10:00:00Z", "event_type": "webinar_registered"},
        {"ts": "2026-10-16T10:05:00Z", "event_type": "webinar_attended"},
        {"ts": "2026-10-20T08:41:00Z", "event_type": "pricing_view", "value": 40},
        {"ts": "2026-10-27T16:30:00Z", "event_type": "demo_request"},
    ],
    "as_of": "2026-11-01T00:00:00Z",
}


def curl_command(base_url: str, token_env: str | None = None) -> str:
    """A shell line that scores EXAMPLE_LEAD; with a token, it sends `$<token_env>` as bearer."""
    parts = [
        "curl -s -X POST",
        shlex.quote(f"{base_url}/score"),
        "-H 'Content-Type: application/json'",
    ]
    if token_env:
        parts.append(f'-H "Authorization: Bearer ${token_env}"')
    parts.append("-d " + shlex.quote(json.dumps(EXAMPLE_LEAD, separators=(",", ":"))))
    return " ".join(parts)


# What /score answered for EXAMPLE_LEAD on a model trained on simulated data (the OpenAPI
# response example; tests/unit/test_scorer.py keeps it valid against ScoreOut).
EXAMPLE_ANSWER: dict[str, Any] = {
    "lead_id": "L-2026-000123",
    "as_of": "2026-11-01T00:00:00Z",
    "probability": 0.1014,
    "score": 10.1,
    "tier": "C",
    "route": "nurturing",
    "route_reason": "tier C: score ≥ 5 routes to nurturing",
    "holdout": False,
    "fit": 3.8,
    "engagement": 3.6,
    "reasons": {
        "up": [
            {"feature": "intent_days_since_last", "value": 4.3125, "contribution": 0.3932},
            {"feature": "intent_count_30d", "value": 4.0, "contribution": 0.3688},
            {"feature": "job_role", "value": "head_of_sales", "contribution": 0.3077},
        ],
        "down": [
            {
                "feature": "webinar_attended_days_since_first",
                "value": 15.5799,
                "contribution": -0.1299,
            },
            {"feature": "page_view_days_since_last", "value": 28.4153, "contribution": -0.1184},
            {
                "feature": "webinar_registered_days_since_first",
                "value": 22.5833,
                "contribution": -0.0865,
            },
        ],
    },
    "velocity": {
        "expected_days_to_contract": 117.7,
        "p_contract_30d": 0.0085,
        "p_contract_90d": 0.0527,
    },
    "expected_value_pln": 2738.0,
    "model": {
        "conversion": {"name": "lead-conversion", "version": 1},
        "velocity": {"name": "deal-velocity", "version": 1},
        "feature_spec": "ca2b5ccabd6e",
    },
    "notes": [],
}
