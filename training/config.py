"""Typed settings of training, evaluation and promotion (configs/train.yaml), and where the
MLflow registry lives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from features.config import FeatureConfig, FrozenConfig

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"  # the embedded store, under ./mlruns


class BacktestConfig(FrozenConfig):
    """How a training run judges itself before it refits on everything.

    `time`: rolling origin. The newest `test_share` of the labelled snapshots (by snapshot
    time) is cut into `folds` consecutive periods; each period is tested by a model trained on
    the snapshots whose label window closed before the period began.
    `random`: for data without real creation times (every lead created at once): leads go to
    `folds` folds by a seeded hash of their id, and each fold is tested by a model trained on
    the others.
    """

    mode: Literal["time", "random"] = "time"
    folds: int = Field(3, ge=2, le=10)
    test_share: float = Field(
        0.3, gt=0, le=0.6, description="time mode: the newest share of snapshots tested"
    )
    seed: int = Field(0, description="random mode: the salt of the lead-id hash")


class BoosterParams(FrozenConfig):
    """LightGBM parameters that `leadscore tune` searches; the rest are fixed in code."""

    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    max_depth: int = Field(
        -1,
        ge=-1,
        description="deepest path of a tree, -1 unbounded; the reasons every answer carries are"
        " exact TreeSHAP, from tables for trees of depth ≤ 6 (training/treeshap.py)",
    )
    min_child_samples: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(
        600, ge=1, description="the backtests choose how many of these rounds the model keeps"
    )


class VelocityConfig(FrozenConfig):
    """Discrete-time hazard of signing: periods of `period_days` up to the horizon."""

    period_days: int = Field(15, ge=1)
    periods: int = Field(12, ge=1, description="horizon = periods × period_days")
    negative_rate: float = Field(
        0.25, gt=0, le=1, description="share of no-signing period rows kept (reweighted)"
    )
    max_rows: int = Field(
        200_000,
        ge=1_000,
        description="snapshots a hazard booster fits on (a seeded sample when there are more): "
        "each becomes up to `periods` rows",
    )
    params: BoosterParams = BoosterParams(num_leaves=15, learning_rate=0.1, max_rounds=200)

    @property
    def horizon_days(self) -> int:
        return self.periods * self.period_days


class SufficiencyConfig(FrozenConfig):
    """Below these counts a model would be noise: training refuses and says so.

    Counted in leads, not snapshots: one converted lead looked at weekly is still one lead.
    HubSpot asks for 100 conversions, Einstein for 120. Thin backtests are not refused; their
    intervals say how thin they are.
    """

    min_converted_leads: int = Field(100, ge=1)
    min_fold_converted_leads: int = Field(
        20, ge=1, description="converted leads each backtest fold must train on"
    )
    min_contracts: int = Field(50, ge=1)


class TrainConfig(FrozenConfig):
    """Everything `leadscore train` needs besides the data."""

    seed: int = 0
    threads: int = Field(2, ge=1)
    backtest: BacktestConfig = BacktestConfig()
    conversion: BoosterParams = BoosterParams()
    linear_base: bool = Field(
        True,
        description="grow the conversion trees from the baseline logistic regression's logit",
    )
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    velocity: VelocityConfig = VelocityConfig()
    sufficiency: SufficiencyConfig = SufficiencyConfig()
    tuned_params: str | None = Field(
        "mlruns/tuned_conversion.yaml",
        description="written by `leadscore tune`; used instead of `conversion` when present",
    )
    promotion_auc_tolerance: float = Field(
        0.002,
        ge=0,
        description="a challenger whose backtest AUC trails the champion's by more is refused",
    )
    promotion_ece_tolerance: float = Field(0.005, ge=0)
    reference_days: int = Field(
        90,
        ge=1,
        description="the monitor's reference: the training snapshots of this many last days",
    )

    @model_validator(mode="before")
    @classmethod
    def _capacity_moved(cls, raw: object) -> object:
        if isinstance(raw, dict) and "capacity_per_day" in raw:
            raise ValueError(
                "capacity_per_day moved to configs/routing.yaml (capacity: reps × "
                "leads_per_rep_per_day), the one place sales capacity is set"
            )
        return raw


class Procedure(FrozenConfig):
    """How a model is trained: the feature and training configs and the booster parameters.

    A training run records its procedure; promotion backtests two recorded procedures again
    on the same folds to compare the models they made.
    """

    features: FeatureConfig
    train: TrainConfig
    params: BoosterParams
    params_from: str = Field(
        "configs", description="where `params` came from: the train config, or a tuned file"
    )


class RegistryConfig(FrozenConfig):
    """Where runs and models live: an MLflow tracking URI, and where a new experiment keeps
    its artifacts. Resolved once at the edge (leadscore/settings.py reads
    MLFLOW_TRACKING_URI) and handed to the one gateway to MLflow, training/registry.py."""

    tracking_uri: str = Field(DEFAULT_TRACKING_URI, min_length=1)
    artifact_location: str | None = Field(
        None, description="None: artifacts/ beside a SQLite store; the store's default otherwise"
    )
