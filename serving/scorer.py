"""The in-process scorer: leads in; probability, reasons, tier, route, velocity and value out.

Independent of BentoML and HTTP, so that the service, its tests and batch rescoring share one
arithmetic. Every feature comes from features/ with each model's own spec; the only model
calls are one predict and one pred_contrib (conversion) and one forecast (velocity) for all
the leads at once. The capacity rule, which needs shared state, is applied by the caller
(serving/routing.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from features.errors import LeadscoreError
from features.spec import FeatureSpec
from features.vectors import FeatureBlock, LeadRecord, record_features, to_matrix
from serving.config import EconomicsConfig, Route, RoutingConfig
from serving.explain import Note, input_notes, split_scores, top_reasons
from serving.routing import assign_tiers
from training import registry
from training.models import ConversionModel, VelocityModel

LEAD_AGE = "lead_age_days"
NO_REASONS: dict[str, list[dict[str, Any]]] = {"up": [], "down": []}
NO_NOTES: list[Note] = []


def champion_versions() -> tuple[int, int]:
    """Versions of both champions; one clear line when either is missing.

    Scoring answers with velocity too, so it needs both: data without contract dates trains
    only the conversion model, and then says so here rather than "run train first".
    """
    conversion = registry.version_of(registry.CONVERSION, registry.CHAMPION)
    try:
        velocity = registry.version_of(registry.VELOCITY, registry.CHAMPION)
    except LeadscoreError:
        raise LeadscoreError(
            f"{registry.CONVERSION}@champion is v{conversion} but there is no "
            f"{registry.VELOCITY}@champion: training could not fit a velocity model on this "
            "data (no signed contracts with dates), and scoring needs both"
        ) from None
    return conversion, velocity


@dataclass(frozen=True)
class ModelPair:
    """Both champions, loaded together and swapped as one reference: no request mixes two."""

    conversion: ConversionModel
    velocity: VelocityModel
    conversion_version: int
    velocity_version: int

    @classmethod
    def load(cls, conversion_version: int, velocity_version: int) -> ModelPair:
        """Download both versions from the registry and read their boosters into memory."""
        with tempfile.TemporaryDirectory(prefix="leadscore-models-") as tmp:
            conversion = registry.load_conversion(conversion_version, Path(tmp) / "conversion")
            velocity = registry.load_velocity(velocity_version, Path(tmp) / "velocity")
        _check_features(
            registry.CONVERSION, conversion_version, conversion.booster, conversion.spec
        )
        _check_features(registry.VELOCITY, velocity_version, velocity.booster, velocity.spec)
        return cls(conversion, velocity, conversion_version, velocity_version)

    @property
    def same_features(self) -> bool:
        return self.conversion.spec.hash == self.velocity.spec.hash

    def describe(self) -> dict[str, Any]:
        """Names and versions of both models and the feature-spec hash (the `model` field)."""
        return {
            "conversion": {"name": registry.CONVERSION, "version": self.conversion_version},
            "velocity": {"name": registry.VELOCITY, "version": self.velocity_version},
            "feature_spec": self.conversion.spec.hash,
        }


def _check_features(name: str, version: int, booster: lgb.Booster, spec: FeatureSpec) -> None:
    """Refuse a model whose spec no longer rebuilds the columns its booster was trained on."""
    trained, built = booster.feature_name(), spec.feature_names
    if trained != built:
        first = next(
            (f"{a} vs {b}" for a, b in zip(trained, built, strict=False) if a != b),
            f"{len(trained)} vs {len(built)} columns",
        )
        raise LeadscoreError(
            f"{name} v{version} was trained on {len(trained)} features but this code builds "
            f"{len(built)} from its spec (first difference: {first}); retrain it with this code"
        )


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
    fit: np.ndarray
    engagement: np.ndarray
    reasons: list[dict[str, list[dict[str, Any]]]]
    expected_days_to_contract: np.ndarray
    p_contract_30d: np.ndarray
    p_contract_90d: np.ndarray
    expected_value_pln: np.ndarray
    notes: list[list[Note]]
    model: dict[str, Any]

    def to_dicts(self) -> list[dict[str, Any]]:
        # Columns as Python lists first: one conversion per column, not one per value.
        as_of, probability, score = (
            c.tolist() for c in (self.as_of_ms, self.probability, self.score)
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
    routing: RoutingConfig,
    economics: EconomicsConfig,
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
    return score_block(pair, block, X, velocity_X, routing, economics, notes, threads=threads)


def explain_rows(
    pair: ModelPair, block: FeatureBlock, X: np.ndarray, threads: int = 1
) -> tuple[np.ndarray, np.ndarray, list[dict[str, list[dict[str, Any]]]]]:
    """(fit, engagement, top reasons) of rows, from one exact TreeSHAP pass."""
    contributions = pair.conversion.contributions(X, threads)
    fit, engagement = split_scores(pair.conversion, contributions)
    return fit, engagement, top_reasons(pair.conversion.spec, block, contributions)


def score_block(
    pair: ModelPair,
    block: FeatureBlock,
    X: np.ndarray,
    velocity_X: np.ndarray,
    routing: RoutingConfig,
    economics: EconomicsConfig,
    notes: list[list[Note]] | None = None,
    explain: bool = True,
    threads: int = 1,
) -> Scores:
    """Score rows whose features are already built (from a request or from data tables).

    `explain=False` skips TreeSHAP (fit and engagement are NaN, reasons empty): the batch
    explains only the rows it sends to sales, with `explain_rows`.
    """
    conversion = pair.conversion
    probability = conversion.predict(X, threads)
    if explain:
        fit, engagement, reasons = explain_rows(pair, block, X, threads)
    else:
        fit = engagement = np.full(len(X), np.nan)
        reasons = [NO_REASONS] * len(X)  # one shared value: 200,000 dicts would cost seconds
    score = np.round(100 * probability, 1)
    tier, route, route_reason = assign_tiers(score, routing)
    forecast = pair.velocity.forecast(velocity_X, threads)
    age = block.behaviour[:, conversion.spec.behaviour_names.index(LEAD_AGE)]
    return Scores(
        lead_ids=list(block.lead_ids),
        as_of_ms=block.as_of_ms,
        probability=probability,
        score=score,
        tier=tier,
        route=route,
        route_reason=route_reason,
        fit=fit,
        engagement=engagement,
        reasons=reasons,
        expected_days_to_contract=np.round(age + forecast.expected_remaining_days, 1),
        p_contract_30d=np.round(forecast.within(30), 4),
        p_contract_90d=np.round(forecast.within(90), 4),
        expected_value_pln=np.round(probability * economics.value_of_sql_pln, 0),
        notes=notes if notes is not None else [NO_NOTES] * len(X),
        model=pair.describe(),
    )
