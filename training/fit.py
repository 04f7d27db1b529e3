"""Fitting the conversion classifier (with calibration) and the velocity hazard model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import lightgbm as lgb
import numpy as np
import polars as pl

from features import contract as c
from features.spec import FeatureSpec
from training.config import BoosterParams, TrainConfig, VelocityConfig
from training.dataset import Split
from training.models import Calibrator, ConversionModel, VelocityModel, logit

DAY_US = 86_400_000_000


def lgb_params(params: BoosterParams, seed: int, threads: int) -> dict[str, object]:
    """LightGBM settings: deterministic, quiet, one seed for every source of randomness."""
    return {
        "objective": "binary",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.lambda_l2,
        "min_data_per_group": 50,
        "cat_smooth": 10,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads,
        "verbose": -1,
    }


def boost(
    params: BoosterParams,
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset,
    config: TrainConfig,
    callbacks: list | None = None,
) -> lgb.Booster:
    """Binary log-loss boosting, early-stopped on `valid_set` (named "validation")."""
    return lgb.train(
        lgb_params(params, config.seed, config.threads) | {"metric": "binary_logloss"},
        train_set,
        num_boost_round=params.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, verbose=False),
            *(callbacks or []),
        ],
    )


def fit_conversion(
    spec: FeatureSpec,
    train: Split,
    validation: Split,
    params: BoosterParams,
    config: TrainConfig,
    callbacks: list | None = None,
) -> tuple[ConversionModel, lgb.Booster]:
    """Booster early-stopped on the validation period, then calibrated on it.

    Platt scaling has two parameters, so reusing the early-stopping rows costs little, and it
    keeps every validation row for both; isotonic is there for large validation sets.
    """
    cats = spec.categorical_indices
    train_set = lgb.Dataset(
        train.X,
        train.converted,
        categorical_feature=cats,
        feature_name=spec.feature_names,
        free_raw_data=False,
    )
    stop_set = lgb.Dataset(validation.X, validation.converted, reference=train_set)
    booster = boost(params, train_set, stop_set, config, callbacks)
    raw = booster.predict(validation.X, num_threads=config.threads)
    calibrator = Calibrator.fit(config.calibration, raw, validation.converted)
    return ConversionModel(booster, calibrator, spec), booster


@dataclass(frozen=True)
class Survival:
    """Per snapshot: days from as_of to contract (observed) or to censoring."""

    remaining: np.ndarray
    observed: np.ndarray
    age_days: np.ndarray


def survival_of(rows: pl.DataFrame, censor_at: datetime | None = None) -> Survival:
    """Remaining time of each snapshot; `censor_at` cuts what a training row may see."""
    age = (pl.col("as_of") - pl.col(c.CREATED_AT)).dt.total_microseconds() / DAY_US
    frame = rows.select(age.alias("age"), "days_to_contract", "event_observed")
    remaining = frame["days_to_contract"].to_numpy() - frame["age"].to_numpy()
    observed = frame["event_observed"].to_numpy().astype(bool)
    if censor_at is not None:
        limit = (
            rows.select((pl.lit(censor_at) - pl.col("as_of")).dt.total_microseconds() / DAY_US)
            .to_series()
            .to_numpy()
        )
        observed = observed & (remaining <= limit)
        remaining = np.minimum(remaining, limit)
    return Survival(np.maximum(remaining, 0.0), observed, frame["age"].to_numpy())


def person_periods(
    surv: Survival, config: VelocityConfig, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expand snapshots into (row, period, signed) triples; thin no-sign rows, with weights."""
    k = np.arange(config.periods)
    start = k[None, :] * config.period_days
    end = start + config.period_days
    r = surv.remaining[:, None]
    event = surv.observed[:, None] & (r >= start) & (r < end)
    fully_seen = r >= end
    keep = event | fully_seen
    rows, periods = np.nonzero(keep)
    label = event[rows, periods].astype(np.float64)
    thin = np.random.default_rng(seed).random(len(rows)) < config.negative_rate
    chosen = (label == 1) | thin
    weight = np.where(label == 1, 1.0, 1.0 / config.negative_rate)
    return rows[chosen], periods[chosen], label[chosen], weight[chosen]


def baseline_hazard(surv: Survival, config: VelocityConfig) -> np.ndarray:
    """Pooled logit hazard of each period over all training snapshots (the offset)."""
    rows, periods, label, weight = person_periods(
        surv, config.model_copy(update={"negative_rate": 1.0}), seed=0
    )
    at_risk = np.bincount(periods, minlength=config.periods).astype(np.float64)
    events = np.bincount(periods, weights=label, minlength=config.periods)
    hazard = (events + 0.5) / (at_risk + 1.0)
    return logit(hazard)


def fit_velocity(
    spec: FeatureSpec,
    train: Split,
    validation: Split,
    config: TrainConfig,
    cutoffs: dict[str, datetime],
) -> VelocityModel:
    """Proportional-odds hazard: LightGBM learns f(x) on top of the per-period baseline."""
    vc = config.velocity
    surv_train = survival_of(train.rows, cutoffs["validation"])
    base = baseline_hazard(surv_train, vc)

    def dataset(split: Split, surv: Survival, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        rows, periods, label, weight = person_periods(surv, vc, config.seed)
        return lgb.Dataset(
            split.X[rows],
            label,
            weight=weight,
            init_score=base[periods],
            categorical_feature=spec.categorical_indices,
            feature_name=spec.feature_names,
            reference=reference,
        )

    train_set = dataset(train, surv_train)
    valid_set = dataset(
        validation, survival_of(validation.rows, cutoffs["test"]), reference=train_set
    )
    booster = boost(vc.params, train_set, valid_set, config)
    return VelocityModel(booster, tuple(float(b) for b in base), vc.period_days, spec)
