"""Typed settings of training, evaluation and promotion (configs/train.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SplitConfig(BaseModel):
    """Leads are split by creation time: the oldest train, the newest test.

    `random` is for data without real creation times (e.g. an export where every lead has the
    same date): each lead goes to a split by a seeded hash of its id, with the same shares.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["time", "random"] = "time"
    validation_share: float = Field(0.15, gt=0, lt=0.5)
    test_share: float = Field(0.15, gt=0, lt=0.5)
    seed: int = Field(0, description="random mode: the salt of the lead-id hash")


class BoosterParams(BaseModel):
    """LightGBM parameters that `leadscore tune` searches; the rest are fixed in code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    max_depth: int = Field(
        -1,
        ge=-1,
        description="deepest path of a tree, -1 unbounded; exact TreeSHAP costs leaves × depth²"
        " a tree, so the reasons every answer carries need shallow trees",
    )
    min_child_samples: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(600, ge=1)
    early_stopping_rounds: int = Field(40, ge=1)


class VelocityConfig(BaseModel):
    """Discrete-time hazard of signing: periods of `period_days` up to the horizon."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period_days: int = Field(15, ge=1)
    periods: int = Field(12, ge=1, description="horizon = periods × period_days")
    negative_rate: float = Field(
        0.25, gt=0, le=1, description="share of no-signing period rows kept (reweighted)"
    )
    params: BoosterParams = BoosterParams(num_leaves=15, learning_rate=0.05, max_rounds=400)


class SufficiencyConfig(BaseModel):
    """Below these counts a model would be noise: training refuses and says so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_train_conversions: int = Field(200, ge=1)
    min_eval_conversions: int = Field(30, ge=1)
    min_contracts: int = Field(50, ge=1)


class TrainConfig(BaseModel):
    """Everything `leadscore train` needs besides the data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    threads: int = Field(2, ge=1)
    split: SplitConfig = SplitConfig()
    conversion: BoosterParams = BoosterParams()
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    velocity: VelocityConfig = VelocityConfig()
    sufficiency: SufficiencyConfig = SufficiencyConfig()
    capacity_per_day: int = Field(
        300, ge=1, description="leads sales can take a day (100 reps × 3): recall@capacity"
    )
    tuned_params: str | None = Field(
        "mlruns/tuned_conversion.yaml",
        description="written by `leadscore tune`; used instead of `conversion` when present",
    )
    promotion_auc_margin: float = Field(0.002, ge=0)
    promotion_ece_tolerance: float = Field(0.005, ge=0)

    @model_validator(mode="after")
    def _split_leaves_training(self) -> TrainConfig:
        if self.split.validation_share + self.split.test_share >= 0.8:
            raise ValueError("split: validation_share + test_share must leave ≥ 20% to train")
        return self
