"""The in-process scorer: leads in; probability, reasons, tier, route, velocity and value out.

Pure — LightGBM and numpy on a loaded pair (training/pair.py), no registry, no BentoML, no
HTTP — so that the service, its tests and batch rescoring share one arithmetic. Every feature
comes from features/ with each model's own spec; the only model calls are one predict and one
TreeSHAP (conversion) and one forecast (velocity) for all the leads at once. The capacity
rule, which needs shared state, is applied by the caller (serving/routing.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from features.threads import run_all
from features.vectors import FeatureBlock, LeadRecord, pick, record_features, to_matrix
from serving.explain import Note, input_notes, split_scores, top_reasons
from serving.routing import assign_routes
from training.models import VelocityAnswer
from training.pair import ModelPair
from training.policy import Policy, Route

NO_REASONS: dict[str, list[dict[str, Any]]] = {"up": [], "down": []}
NO_NOTES: list[Note] = []


@dataclass(frozen=True)
class Inputs:
    """Rows to score: their features as built, each model's input matrix, and what was
    noticed about their input (None: nothing to say, as for rows from data tables)."""

    block: FeatureBlock
    X: np.ndarray
    velocity_X: np.ndarray
    notes: list[list[Note]] | None = None

    def take(self, rows: np.ndarray | slice) -> Inputs:
        """The rows at these positions (or in this slice), in that order."""
        notes = None if self.notes is None else pick(self.notes, rows)
        return Inputs(self.block.take(rows), self.X[rows], self.velocity_X[rows], notes)


@dataclass(frozen=True)
class Scores:
    """Scores of a set of leads, column by column; `to_dicts` gives the API's answers."""

    lead_ids: list[str]
    as_of_ms: np.ndarray
    probability: np.ndarray
    score: np.ndarray
    tier: list[str]
    route: list[Route]
    route_reason: list[str]
    holdout: np.ndarray
    fit: np.ndarray
    engagement: np.ndarray
    reasons: list[dict[str, list[dict[str, Any]]]]
    expected_days_to_contract: np.ndarray
    p_contract_30d: np.ndarray
    p_contract_90d: np.ndarray
    expected_value_pln: np.ndarray
    notes: list[list[Note]]
    model: dict[str, Any]
    input_digest: list[str]  # of each model input row: what the decision trail records

    def to_dicts(self) -> list[dict[str, Any]]:
        # Columns as Python lists first: one conversion per column, not one per value.
        as_of, probability, score, holdout = (
            c.tolist() for c in (self.as_of_ms, self.probability, self.score, self.holdout)
        )
        fit, engagement, value = (
            c.tolist() for c in (self.fit, self.engagement, self.expected_value_pln)
        )
        days, p30, p90 = (
            c.tolist()
            for c in (self.expected_days_to_contract, self.p_contract_30d, self.p_contract_90d)
        )
        return [
            {
                "lead_id": self.lead_ids[i],
                "as_of": datetime.fromtimestamp(as_of[i] / 1000, UTC),
                "probability": probability[i],
                "score": score[i],
                "tier": self.tier[i],
                "route": self.route[i],
                "route_reason": self.route_reason[i],
                "holdout": holdout[i],
                "fit": fit[i],
                "engagement": engagement[i],
                "reasons": self.reasons[i],
                "velocity": {
                    "expected_days_to_contract": days[i],
                    "p_contract_30d": p30[i],
                    "p_contract_90d": p90[i],
                },
                "expected_value_pln": value[i],
                "model": self.model,
                "notes": [note.text for note in self.notes[i]],
            }
            for i in range(len(self.lead_ids))
        ]


def score_records(
    pair: ModelPair,
    records: Sequence[LeadRecord],
    as_of: Sequence[datetime],
    policy: Policy,
    threads: int = 1,
) -> Scores:
    """Score leads that arrive with their own events (a request, one or a batch)."""
    spec = pair.conversion.spec
    block = record_features(spec, records, as_of)
    X = to_matrix(spec, block)
    if pair.same_features:
        velocity_X = X
    else:
        velocity_spec = pair.velocity.spec
        velocity_X = to_matrix(velocity_spec, record_features(velocity_spec, records, as_of))
    notes = input_notes(spec, records, block, X)
    return score_block(pair, Inputs(block, X, velocity_X, notes), policy, threads=threads)


def explain_rows(
    pair: ModelPair, inputs: Inputs, threads: int = 1
) -> tuple[np.ndarray, np.ndarray, list[dict[str, list[dict[str, Any]]]]]:
    """(fit, engagement, top reasons) of rows, from one exact TreeSHAP pass."""
    contributions = pair.conversion.contributions(inputs.X, threads)
    fit, engagement = split_scores(pair.conversion, contributions)
    return fit, engagement, top_reasons(pair.conversion.spec, inputs.block, contributions)


def score_block(
    pair: ModelPair, inputs: Inputs, policy: Policy, explain: bool = True, threads: int = 1
) -> Scores:
    """Score rows whose features are already built (from a request or from data tables).

    `explain=False` skips TreeSHAP (fit and engagement are NaN, reasons empty): the batch
    explains only the rows it sends to sales, with `explain_rows`.
    """
    rows = len(inputs.X)

    def predict() -> tuple[np.ndarray, VelocityAnswer]:
        conversion = pair.conversion.predict(inputs.X, threads)
        return conversion, pair.velocity.answer(inputs.velocity_X, threads)

    if explain:  # LightGBM's predictions (GIL released) beside TreeSHAP and the reasons
        (probability, velocity), (fit, engagement, reasons) = run_all(
            [predict, lambda: explain_rows(pair, inputs, threads)], parallel=threads > 1
        )
    else:
        probability, velocity = predict()
        fit = engagement = np.full(rows, np.nan)
        reasons = [NO_REASONS] * rows  # one shared value: 200,000 dicts would cost seconds
    score = np.round(100 * probability, 1)
    assigned = assign_routes(inputs.block.lead_ids, score, policy.routing)
    return Scores(
        lead_ids=list(inputs.block.lead_ids),
        as_of_ms=inputs.block.as_of_ms,
        probability=probability,
        score=score,
        tier=assigned.tier,
        route=assigned.route,
        route_reason=assigned.route_reason,
        holdout=assigned.holdout,
        fit=fit,
        engagement=engagement,
        reasons=reasons,
        expected_days_to_contract=np.round(velocity.expected_days_to_contract, 1),
        p_contract_30d=np.round(velocity.p_contract[30], 4),
        p_contract_90d=np.round(velocity.p_contract[90], 4),
        expected_value_pln=np.round(probability * policy.economics.value_of_sql_pln, 0),
        notes=inputs.notes if inputs.notes is not None else [NO_NOTES] * rows,
        model=pair.describe(),
        input_digest=input_digests(inputs.X),
    )


def input_digests(X: np.ndarray) -> list[str]:
    """A short digest of each row the model saw: two decisions with the same digest scored
    the same input, however it arrived (a request, the store, a rescore)."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in rows]
