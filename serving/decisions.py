"""Every score kept: the decision rows the store records for the service and the batch.

One row per scored lead (features/store/schema.py `decisions` names the columns): when, as of
when, both model versions and the feature-spec hash, probability, score, tier, route and the
rule that chose it, whether the lead was in the routing holdout, the top reasons, a digest of
the model's input and who asked. Sales managers ask "why was this lead sent to a rep last
Tuesday, and which model said so": `leadscore audit` and GET /leads/{id}/decisions answer
from these rows.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from features.store.records import Columns, to_us
from serving.scorer import Scores
from training.policy import HoldoutConfig

RESCORE_CALLER = "rescore"
NO_REASONS = '{"up":[],"down":[]}'


def decision_columns(
    scores: Scores, holdout: HoldoutConfig, caller: str, scored_at: datetime
) -> Columns:
    """The decisions of `scores` (after capacity), column by column: the lists the scores
    already hold, so recording costs a request almost nothing."""
    rows = len(scores.lead_ids)
    model = scores.model
    return {
        "lead_id": scores.lead_ids,
        "scored_at": [to_us(scored_at)] * rows,
        "as_of": (scores.as_of_ms * 1000).tolist(),
        "conversion_version": [model["conversion"]["version"]] * rows,
        "velocity_version": [model["velocity"]["version"]] * rows,
        "feature_spec": [model["feature_spec"]] * rows,
        "probability": scores.probability.tolist(),
        "score": scores.score.tolist(),
        "tier": scores.tier,
        "route": scores.route,
        "route_reason": scores.route_reason,
        "holdout": scores.holdout.tolist(),
        "holdout_share": [holdout.share] * rows,
        "reasons": scores.reasons,
        "input_digest": scores.input_digest,
        "caller": [caller] * rows,
    }


def rescore_decisions(
    frame: pl.DataFrame, holdout: HoldoutConfig, scored_at: datetime
) -> pl.DataFrame:
    """The decisions of a rescore's scores frame (serving/rescore.py), as a frame of the
    store's columns. Its reasons are JSON already and go to the store as they are; leads the
    batch did not explain (not sent to sales) have none."""
    return frame.select(
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
        "input_digest",
        pl.col("reasons").fill_null(NO_REASONS),
        scored_at=pl.lit(to_us(scored_at), pl.Int64),
        holdout_share=pl.lit(holdout.share, pl.Float64),
        caller=pl.lit(RESCORE_CALLER, pl.String),
    )
