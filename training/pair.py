"""The champion pair: the conversion and velocity models that answer together.

The service, the nightly batch and the funnel score with a pair; training/registry.py loads
one from the store, and nothing else needs MLflow to hold or read it. A pair whose spec no
longer rebuilds the columns its boosters were trained on cannot be made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from features.errors import LeadscoreError
from features.spec import FeatureSpec
from training.lgb import lgb
from training.models import ConversionModel, VelocityModel

CONVERSION = "lead-conversion"  # the registered names of the two models
VELOCITY = "deal-velocity"


@dataclass(frozen=True)
class Champions:
    """What the champion aliases point at now, and whether both come from one run."""

    conversion: int
    velocity: int
    same_run: bool


@dataclass(frozen=True)
class ModelPair:
    """Both champions, loaded together and swapped as one reference: no request mixes two."""

    conversion: ConversionModel
    velocity: VelocityModel
    conversion_version: int
    velocity_version: int

    def __post_init__(self) -> None:
        _check_features(
            CONVERSION, self.conversion_version, self.conversion.booster, self.conversion.spec
        )
        _check_features(VELOCITY, self.velocity_version, self.velocity.booster, self.velocity.spec)

    @property
    def same_features(self) -> bool:
        return self.conversion.spec.hash == self.velocity.spec.hash

    def describe(self) -> dict[str, Any]:
        """Names and versions of both models and the feature-spec hash (the `model` field)."""
        return {
            "conversion": {"name": CONVERSION, "version": self.conversion_version},
            "velocity": {"name": VELOCITY, "version": self.velocity_version},
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
