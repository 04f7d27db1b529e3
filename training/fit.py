"""LightGBM boosting, one way for both models: a fixed number of rounds, optionally watching
how a held-out set's log loss moves round by round (the backtests choose the rounds from it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.spec import FeatureSpec
from training.config import BoosterParams, TrainConfig
from training.lgb import lgb


@dataclass(frozen=True)
class Rows:
    """What one boosting run reads: features, labels, and optional weights and start scores."""

    X: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None = None
    init: np.ndarray | None = None  # log-odds the trees start from (a linear base, a baseline)


def lgb_params(params: BoosterParams, seed: int, threads: int) -> dict[str, object]:
    """LightGBM settings: deterministic, quiet, one seed for every source of randomness."""
    return {
        "objective": "binary",
        "metric": "binary_logloss",
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
    rounds: int,
    train: Rows,
    spec: FeatureSpec,
    config: TrainConfig,
    watch: Rows | None = None,
) -> tuple[lgb.Booster, np.ndarray]:
    """`rounds` rounds of binary log-loss boosting; with `watch`, its log loss after each."""
    train_set = lgb.Dataset(
        train.X,
        train.y,
        weight=train.weight,
        init_score=train.init,
        categorical_feature=spec.categorical_indices,
        feature_name=spec.feature_names,
    )
    record: dict[str, dict[str, list[float]]] = {}
    watched = (
        [
            lgb.Dataset(
                watch.X, watch.y, weight=watch.weight, init_score=watch.init, reference=train_set
            )
        ]
        if watch is not None
        else []
    )
    booster = lgb.train(
        lgb_params(params, config.seed, config.threads),
        train_set,
        num_boost_round=rounds,
        valid_sets=watched,
        valid_names=["watch"] * len(watched),
        callbacks=[lgb.record_evaluation(record)] if watched else None,
    )
    curve = np.asarray(record["watch"]["binary_logloss"]) if watched else np.zeros(0)
    return booster, curve


def pooled_curve(curves: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Log loss per round over several watched sets, weighted by their sizes."""
    return np.average(np.vstack(curves), axis=0, weights=weights)


def best_rounds(curves: list[np.ndarray], weights: list[float]) -> int:
    """The round count with the lowest pooled log loss."""
    return int(np.argmin(pooled_curve(curves, weights))) + 1
