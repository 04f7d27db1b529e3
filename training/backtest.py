"""Conversion backtests: what the training procedure scores on periods it has not seen.

Each fold fits the baseline logistic regression and the booster (grown from it) on the fold's
training rows, and records the test rows' log loss after every round. The round count of the
deployed model is the one with the lowest log loss pooled over the folds, and its calibrator
is fitted on the folds' out-of-fold predictions (cross-fitting), so no recent period is held
back from the deployed model.

Each fold's figures are calibrated by the other folds only (its calibrator never saw its
labels). The round count is the one choice shared by all folds: one integer picked from flat
log-loss curves, worth about 0.001 of AUC (BENCHMARKS.md "Training"), against a deployed model
that trains on more and newer data than any fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from features.spec import FeatureSpec
from features.tables import LeadData
from training.config import BoosterParams, Procedure, TrainConfig
from training.dataset import TrainingSet, build_training_set
from training.fit import Rows, best_rounds, boost
from training.folds import Fold, backtest_folds
from training.lgb import lgb
from training.linear import LinearBase
from training.models import Calibrator, ConversionModel


@dataclass(frozen=True)
class FoldFit:
    """One fold's fitted booster, its test rows and the log loss after each round."""

    fold: Fold
    booster: lgb.Booster
    X: np.ndarray
    init: np.ndarray
    y: np.ndarray
    baseline: np.ndarray  # the logistic regression's probabilities on the test rows
    curve: np.ndarray
    train_rows: int

    def raw(self, rounds: int) -> np.ndarray:
        """Uncalibrated probabilities of the test rows after `rounds` rounds."""
        trees = self.booster.predict(self.X, raw_score=True, num_iteration=rounds)
        return 1 / (1 + np.exp(-(trees + self.init)))


@dataclass(frozen=True)
class FoldResult:
    """Out-of-fold predictions of one fold, calibrated by the other folds."""

    number: int
    start: datetime | None
    positions: np.ndarray
    train_rows: int
    raw: np.ndarray
    p: np.ndarray
    baseline: np.ndarray


@dataclass(frozen=True)
class ConversionBacktest:
    rounds: int  # what the deployed model keeps
    calibrator: Calibrator  # fitted on every fold's out-of-fold predictions
    folds: list[FoldResult]

    def pooled(self, name: str) -> np.ndarray:
        """One array over every fold's test rows, in fold order: positions, raw, p, baseline."""
        return np.concatenate([getattr(f, name) for f in self.folds])


@dataclass(frozen=True)
class FoldData:
    """A fold's matrices, encoded by a spec fitted on its training leads, and its baseline."""

    fold: Fold
    spec: FeatureSpec
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    linear: LinearBase

    def starts(self, config: TrainConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The log-odds the trees start from on each side: the baseline's, or none."""
        if not config.linear_base:
            return None, None
        return self.linear.logit(self.X), self.linear.logit(self.X_test)


def prepare_fold(ts: TrainingSet, fold: Fold, config: TrainConfig) -> FoldData:
    spec = ts.spec_for(fold.train)
    X, y = ts.matrix(spec, fold.train), ts.converted[fold.train]
    linear = LinearBase.fit(X, y, spec.categorical_indices, config.seed)
    return FoldData(fold, spec, X, y, ts.matrix(spec, fold.test), ts.converted[fold.test], linear)


def fit_fold(data: FoldData, params: BoosterParams, config: TrainConfig) -> FoldFit:
    """The booster on the fold's training rows, watched on its test rows."""
    init, init_test = data.starts(config)
    booster, curve = boost(
        params,
        params.max_rounds,
        Rows(data.X, data.y, init=init),
        data.spec,
        config,
        watch=Rows(data.X_test, data.y_test, init=init_test),
    )
    # Without a base LightGBM starts from the training rate inside the trees themselves.
    start = init_test if init_test is not None else np.zeros(len(data.y_test))
    baseline = data.linear.probability(data.X_test)
    return FoldFit(
        data.fold, booster, data.X_test, start, data.y_test, baseline, curve, len(data.y)
    )


def fit_conversion(
    spec: FeatureSpec,
    data: tuple[np.ndarray, np.ndarray],
    backtest: ConversionBacktest,
    params: BoosterParams,
    config: TrainConfig,
) -> ConversionModel:
    """The deployed model: every row, the backtests' round count and calibrator."""
    X, y = data
    linear = (
        LinearBase.fit(X, y, spec.categorical_indices, config.seed) if config.linear_base else None
    )
    init = linear.logit(X) if linear is not None else None
    booster, _ = boost(params, backtest.rounds, Rows(X, y, init=init), spec, config)
    return ConversionModel(booster, backtest.calibrator, spec, linear)


def cross_fit(fits: list[FoldFit], config: TrainConfig) -> ConversionBacktest:
    """Rounds and calibrator for the deployed model, and each fold's out-of-fold figures."""
    rounds = _rounds(fits)
    calibrator = _calibrator(fits, rounds, config)
    results = []
    for fit in fits:
        others = [other for other in fits if other is not fit]
        raw = fit.raw(rounds)
        p = _calibrator(others, rounds, config).apply(raw)
        results.append(
            FoldResult(
                fit.fold.number, fit.fold.start, fit.fold.test, fit.train_rows, raw, p, fit.baseline
            )
        )
    return ConversionBacktest(rounds, calibrator, results)


def _rounds(fits: list[FoldFit]) -> int:
    return best_rounds([f.curve for f in fits], [len(f.y) for f in fits])


def _calibrator(fits: list[FoldFit], rounds: int, config: TrainConfig) -> Calibrator:
    raw = np.concatenate([f.raw(rounds) for f in fits])
    return Calibrator.fit(config.calibration, raw, np.concatenate([f.y for f in fits]))


def check_sufficiency(ts: TrainingSet, folds: list[Fold], config: TrainConfig) -> None:
    """Refuse data with too few converted leads to learn from, naming the counts."""
    need = config.sufficiency
    leads = ts.rows[c.LEAD_ID].to_numpy()
    y = ts.converted
    converted = np.unique(leads[y == 1]).size
    if converted < need.min_converted_leads:
        raise LeadscoreError(
            f"too few converted leads for a stable model: {converted} leads reached SQL within "
            f"{ts.features.horizon_days} days of a snapshot whose outcome is known "
            f"(need {need.min_converted_leads}; {ts.rows.height:,} labelled snapshots of "
            f"{ts.facts.leads:,} leads). Bring more history, or lower "
            "configs/train.yaml sufficiency.min_converted_leads."
        )
    short = []
    for fold in folds:
        trained_on = np.unique(leads[fold.train][y[fold.train] == 1]).size
        tested_on = np.unique(leads[fold.test][y[fold.test] == 1]).size
        if trained_on < need.min_fold_converted_leads or tested_on == 0:
            short.append(f"fold {fold.number} trains on {trained_on}, tests on {tested_on}")
    if short:
        raise LeadscoreError(
            "backtest folds too thin (converted leads): "
            + "; ".join(short)
            + f" (need {need.min_fold_converted_leads} to train, 1 to test). Use fewer "
            "configs/train.yaml backtest.folds or a smaller backtest.test_share."
        )


def backtest_procedure(data: LeadData, procedure: Procedure) -> pl.DataFrame:
    """A training procedure's out-of-fold predictions on `data` (conversion only): lead_id,
    as_of, converted and p, what `promote` pairs two procedures on."""
    features, config = procedure.features, procedure.train
    ts = build_training_set(data, features, config.seed)
    folds = backtest_folds(ts.rows, config.backtest, features.horizon_days)
    check_sufficiency(ts, folds, config)
    bt = cross_fit(
        [fit_fold(prepare_fold(ts, fold, config), procedure.params, config) for fold in folds],
        config,
    )
    return (
        ts.rows[bt.pooled("positions")]
        .select(c.LEAD_ID, "as_of", "converted")
        .with_columns(p=pl.Series(bt.pooled("p")))
    )
