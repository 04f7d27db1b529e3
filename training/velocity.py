"""Deal velocity: a discrete-time hazard of signing, backtested and calibrated like conversion.

LightGBM learns f(x), a lead's shift of the per-period logit hazard on top of a pooled
baseline; open deals stop contributing periods where they are censored, never "never sign".
The backtests choose the round count, and the hazard is calibrated on their out-of-fold
periods: logit h_k = a · (f(x) + baseline_k) + c_k, so a model that is too sure (a < 1) or a
period that drifted (c_k) is corrected from periods the model had not seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from features import contract as c
from features.spec import FeatureSpec
from training.config import TrainConfig, VelocityConfig
from training.fit import Rows, best_rounds, boost
from training.folds import Fold
from training.lgb import lgb
from training.models import VelocityForecast, VelocityModel, logit

DAY_US = 86_400_000_000
SHRINK = 5.0  # pseudo-events holding each calibration parameter at "no change"


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
    """Expand snapshots into (row, period, signed, weight); thin no-sign rows, reweighted.

    A deal censored inside a period was at risk for part of it: it counts as a no-sign row
    weighted by the share of the period seen. Dropping it (the textbook shortcut) keeps that
    period's signings but not its exposure, and inflates the hazard of every period where
    many deals are censored — the last ones a backtest can see.
    """
    k = np.arange(config.periods)
    start = k[None, :] * config.period_days
    end = start + config.period_days
    r = surv.remaining[:, None]
    inside = (r >= start) & (r < end)
    event = surv.observed[:, None] & inside
    partial = ~surv.observed[:, None] & inside & (r > start)
    keep = event | (r >= end) | partial
    rows, periods = np.nonzero(keep)
    label = event[rows, periods].astype(np.float64)
    exposure = np.where(
        partial[rows, periods], (r[rows, 0] - start[0, periods]) / config.period_days, 1.0
    )
    thin = np.random.default_rng(seed).random(len(rows)) < config.negative_rate
    chosen = (label == 1) | thin
    weight = np.where(label == 1, 1.0, exposure / config.negative_rate)
    return rows[chosen], periods[chosen], label[chosen], weight[chosen]


def baseline_hazard(surv: Survival, config: VelocityConfig) -> np.ndarray:
    """Pooled logit hazard of each period over all training snapshots (the offset)."""
    _, periods, label, weight = person_periods(
        surv, config.model_copy(update={"negative_rate": 1.0}), seed=0
    )
    at_risk = np.bincount(periods, weights=weight, minlength=config.periods)
    events = np.bincount(periods, weights=label, minlength=config.periods)
    return logit((events + 0.5) / (at_risk + 1.0))


def _person_rows(X: np.ndarray, surv: Survival, base: np.ndarray, config: TrainConfig) -> Rows:
    rows, periods, label, weight = person_periods(surv, config.velocity, config.seed)
    return Rows(X[rows], label, weight, base[periods])


@dataclass(frozen=True)
class Calibration:
    """logit h_k = slope · (f(x) + baseline_k) + offset_k; slope > 0, so it never reverses
    the model's ranking (a backwards fit keeps slope 1 and refits only each period's level)."""

    slope: float
    offset: np.ndarray

    def model(
        self, booster: lgb.Booster, base: np.ndarray, spec: FeatureSpec, period_days: int
    ) -> VelocityModel:
        """The calibrated hazard model of a booster trained on top of `base`."""
        baseline = tuple(float(v) for v in self.slope * base + self.offset)
        return VelocityModel(booster, baseline, period_days, spec, self.slope)


@dataclass(frozen=True)
class VelocityFoldFit:
    """One fold's hazard booster, its baseline and its test rows' survival."""

    fold: Fold
    booster: lgb.Booster
    base: np.ndarray
    spec: FeatureSpec
    X: np.ndarray
    surv: Survival
    curve: np.ndarray
    weight: float  # the watched person-periods' total weight

    def linear_predictor(self, rounds: int, config: VelocityConfig) -> tuple[np.ndarray, ...]:
        """Test person-periods (thinned, weighted): f(x) + baseline_k, period, signed, weight."""
        rows, periods, label, weight = person_periods(self.surv, config, seed=0)
        shift = self.booster.predict(self.X, raw_score=True, num_iteration=rounds)
        return shift[rows] + self.base[periods], periods, label, weight

    def model(self, rounds: int, calibration: Calibration, period_days: int) -> VelocityModel:
        return calibration.model(truncate(self.booster, rounds), self.base, self.spec, period_days)


def fit_velocity_fold(
    fold: Fold,
    spec: FeatureSpec,
    train: tuple[np.ndarray, pl.DataFrame],
    test: tuple[np.ndarray, pl.DataFrame],
    config: TrainConfig,
    data_end: datetime,
) -> VelocityFoldFit:
    """Hazard booster on the fold's training rows (censored at its start), watched on its test
    rows (censored at the data's end)."""
    (X, rows), (X_test, rows_test) = train, test
    keep = sample_rows(len(rows), config)
    X, rows = X[keep], rows[keep]
    surv = survival_of(rows, fold.start or data_end)
    base = baseline_hazard(surv, config.velocity)
    surv_test = survival_of(rows_test, data_end)
    watch = _person_rows(X_test, surv_test, base, config)
    params = config.velocity.params
    booster, curve = boost(
        params, params.max_rounds, _person_rows(X, surv, base, config), spec, config, watch
    )
    return VelocityFoldFit(
        fold, booster, base, spec, X_test, surv_test, curve, float(watch.weight.sum())
    )


def velocity_rounds(fits: list[VelocityFoldFit]) -> int:
    return best_rounds([f.curve for f in fits], [f.weight for f in fits])


def calibrate(fits: list[VelocityFoldFit], rounds: int, config: VelocityConfig) -> Calibration:
    """Slope and per-period offsets fitted on the folds' out-of-fold person-periods, each
    pulled toward "no change" by SHRINK pseudo-events: a period the backtests saw often gets
    its own level, one they barely saw (the last before the data's end) keeps the model's."""
    parts = [f.linear_predictor(rounds, config) for f in fits]
    eta, periods, label, weight = (np.concatenate([p[i] for p in parts]) for i in range(4))
    dummies = np.eye(config.periods)[periods]
    change = _shrunk_logistic(eta, np.hstack([eta[:, None], dummies]), label, weight)
    if 1 + change[0] > 0:
        return Calibration(1 + float(change[0]), change[1:])
    # Ranked backwards out of fold: keep the ranking, fix each period's level.
    return Calibration(1.0, _shrunk_logistic(eta, dummies, label, weight))


def _shrunk_logistic(offset: np.ndarray, Z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """β maximising Σ w·log-likelihood(y | σ(offset + Zβ)) − SHRINK/2·|β|² (Newton steps)."""
    beta = np.zeros(Z.shape[1])
    penalty = SHRINK * np.eye(Z.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(offset + Z @ beta)))
        gradient = Z.T @ (w * (p - y)) + SHRINK * beta
        hessian = (Z * (w * p * (1 - p))[:, None]).T @ Z + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return beta


@dataclass(frozen=True)
class VelocityBacktest:
    """The deployed model's rounds and calibration; every fold's out-of-fold forecast."""

    rounds: int
    calibration: Calibration
    surv: Survival  # pooled over the folds' test rows, in fold order
    forecast: VelocityForecast
    fold_rows: tuple[int, ...]  # how many of the pooled rows each fold holds


def cross_fit_velocity(fits: list[VelocityFoldFit], config: TrainConfig) -> VelocityBacktest:
    """Like the conversion backtests: rounds from all folds, each fold calibrated by the others."""
    vc = config.velocity
    rounds = velocity_rounds(fits)
    forecasts = []
    for fit in fits:
        others = [other for other in fits if other is not fit]
        model = fit.model(rounds, calibrate(others, rounds, vc), vc.period_days)
        forecasts.append(model.forecast(fit.X, config.threads))
    surv = Survival(
        *(
            np.concatenate([getattr(f.surv, name) for f in fits])
            for name in Survival.__dataclass_fields__
        )
    )
    forecast = VelocityForecast(
        np.vstack([f.cumulative for f in forecasts]),
        np.concatenate([f.expected_remaining_days for f in forecasts]),
        vc.period_days,
    )
    sizes = tuple(len(f.surv.remaining) for f in fits)
    return VelocityBacktest(rounds, calibrate(fits, rounds, vc), surv, forecast, sizes)


def fit_velocity(
    spec: FeatureSpec,
    X: np.ndarray,
    rows: pl.DataFrame,
    backtest: VelocityBacktest,
    config: TrainConfig,
    data_end: datetime,
) -> VelocityModel:
    """The deployed hazard model: every row (within the budget), censored at the data's end,
    with the backtests' round count and calibration."""
    keep = sample_rows(len(rows), config)
    X, rows = X[keep], rows[keep]
    surv = survival_of(rows, data_end)
    base = baseline_hazard(surv, config.velocity)
    booster, _ = boost(
        config.velocity.params, backtest.rounds, _person_rows(X, surv, base, config), spec, config
    )
    return backtest.calibration.model(booster, base, spec, config.velocity.period_days)


def sample_rows(n: int, config: TrainConfig) -> np.ndarray:
    """Positions of the rows a hazard booster fits on: all, or a seeded sample of max_rows."""
    limit = config.velocity.max_rows
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(config.seed).choice(n, limit, replace=False))


def truncate(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """The same booster keeping only its first `rounds` trees."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
