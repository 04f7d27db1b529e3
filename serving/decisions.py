"""Every score kept: the decision rows the store records for the service and the batch.

One row per scored lead (features/store/schema.py `decisions` names the columns): when, as of
when, both model versions and the feature-spec hash, probability, score, tier, route and the
rule that chose it, whether the lead was in the routing holdout, the top reasons, a digest of
the model's input and who asked. Sales managers ask "why was this lead sent to a rep last
Tuesday, and which model said so": `leadscore audit` and GET /leads/{id}/decisions answer
from these rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl

from features.store.records import to_us
from serving.scorer import Scores
from training.policy import HoldoutConfig

CALLER_HEADER = "x-leadscore-caller"
MAX_CALLER = 100
RESCORE_CALLER = "rescore"
NO_REASONS = json.dumps({"up": [], "down": []})


def decision_rows(
    scores: Scores, holdout: HoldoutConfig, caller: str, scored_at: datetime
) -> list[dict[str, Any]]:
    """The decisions of `scores` (after capacity), as store rows."""
    model = scores.model
    common = {
        "scored_at": to_us(scored_at),
        "conversion_version": model["conversion"]["version"],
        "velocity_version": model["velocity"]["version"],
        "feature_spec": model["feature_spec"],
        "holdout_share": holdout.share,
        "caller": caller[:MAX_CALLER],
    }
    as_of_ms, probability, score, held = (
        column.tolist()
        for column in (scores.as_of_ms, scores.probability, scores.score, scores.holdout)
    )
    return [
        common
        | {
            "lead_id": scores.lead_ids[i],
            "as_of": as_of_ms[i] * 1000,
            "probability": probability[i],
            "score": score[i],
            "tier": scores.tier[i],
            "route": scores.route[i],
            "route_reason": scores.route_reason[i],
            "holdout": held[i],
            "reasons": scores.reasons[i],
            "input_digest": scores.input_digest[i],
        }
        for i in range(len(scores.lead_ids))
    ]


def rescore_decisions(
    frame: pl.DataFrame, holdout: HoldoutConfig, scored_at: datetime
) -> list[dict[str, Any]]:
    """The decisions of a rescore's scores frame (serving/rescore.py), as store rows; leads
    the batch did not explain (not sent to sales) have no reasons."""
    rows = frame.select(
        "lead_id",
        pl.col("as_of").dt.epoch("us"),
        "conversion_version",
        "velocity_version",
        "feature_spec",
        "probability",
        "score",
        "tier",
        "route",
        "route_reason",
        "holdout",
        pl.col("reasons").fill_null(NO_REASONS),
        "input_digest",
    ).to_dicts()
    common = {
        "scored_at": to_us(scored_at),
        "holdout_share": holdout.share,
        "caller": RESCORE_CALLER,
    }
    for row in rows:
        row["reasons"] = json.loads(row["reasons"])
        row.update(common)
    return rows


def caller_of(headers: dict[str, str], default: str) -> str:
    """Who asked, as the caller names itself (X-Leadscore-Caller), else `default`."""
    return (headers.get(CALLER_HEADER) or default).strip()[:MAX_CALLER] or default
