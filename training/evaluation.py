"""The backtests' figures: pooled and per fold, the model beside its baseline, with intervals.

Every number here is computed from out-of-fold predictions (training/backtest.py,
training/velocity.py), and every metric's definition is in training/metrics.py; this module
only decides which rows each figure covers and how it is named in MLflow and the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lifelines.utils import concordance_index
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from features import contract as c
from training.backtest import ConversionBacktest
from training.config import TrainConfig
from training.dataset import TrainingSet
from training.intervals import Interval, LeadBootstrap
from training.metrics import (
    EPS,
    expected_calibration_error,
    lift_at,
    recall_at_capacity,
    velocity_calibration,
    velocity_metrics,
)
from training.models import VELOCITY_DAYS
from training.velocity import VelocityBacktest


def evaluate(
    y: np.ndarray, p: np.ndarray, day: np.ndarray, capacity: float | None
) -> dict[str, float]:
    """The test-period figures of conversion probabilities `p`: what the backtests log, what
    promotion compares. `capacity` is the leads a day sales takes among these rows (see
    `capacity_per_snapshot_day`); None leaves out recall at capacity."""
    clipped = np.clip(p, EPS, 1 - EPS)
    figures = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "lift_top_decile": lift_at(y, p, 0.1),
    }
    if capacity is not None:
        figures["recall_at_capacity"] = recall_at_capacity(y, p, day, capacity)
    return figures | {"base_rate": float(y.mean()), "mean_prediction": float(p.mean())}


def capacity_per_snapshot_day(
    capacity_per_day: float, sample_rate: float, snapshot_every_days: int
) -> float:
    """Sales capacity scaled to the snapshot rows of a day: a lead is looked at once every
    `snapshot_every_days`, and the rows are a `sample_rate` share of all snapshots."""
    return capacity_per_day * sample_rate / snapshot_every_days


@dataclass(frozen=True)
class FoldLine:
    """One line of the backtest table `train` prints and the report shows."""

    fold: str
    test_from: str
    rows: int
    converted_leads: int
    base_rate: float
    auc: Interval
    baseline_auc: float
    ece: float


@dataclass(frozen=True)
class ConversionFigures:
    metrics: dict[str, float]
    table: list[FoldLine]
    y: np.ndarray
    p: np.ndarray
    raw: np.ndarray
    baseline: np.ndarray
    positions: np.ndarray


def conversion_figures(
    ts: TrainingSet,
    bt: ConversionBacktest,
    config: TrainConfig,
    capacity_per_day: int | None,
    oracle: np.ndarray | None,
) -> ConversionFigures:
    """Pooled and per-fold metrics of the model and its baseline (names without prefix);
    recall at the sales capacity when the policy sets one."""
    positions = bt.pooled("positions")
    rows = ts.rows[positions]
    y, p, raw, base = (
        ts.converted[positions],
        bt.pooled("p"),
        bt.pooled("raw"),
        bt.pooled("baseline"),
    )
    leads = rows[c.LEAD_ID].to_numpy()
    day = rows["as_of"].dt.date().to_physical().to_numpy()
    capacity = (
        capacity_per_snapshot_day(capacity_per_day, ts.sample_rate, ts.features.snapshot_every_days)
        if capacity_per_day is not None
        else None
    )
    boot = LeadBootstrap(y, leads, seed=config.seed)
    m = {f"backtest_{k}": v for k, v in evaluate(y, p, day, capacity).items()}
    m["backtest_log_loss_uncalibrated"] = float(
        log_loss(y, np.clip(raw, EPS, 1 - EPS), labels=[0, 1])
    )
    auc = boot.auc(p)
    m |= {"backtest_roc_auc_low": auc.low, "backtest_roc_auc_high": auc.high}
    baseline = evaluate(y, base, day, None)
    m |= {f"baseline_{k}": baseline[k] for k in ("roc_auc", "pr_auc", "log_loss", "ece", "brier")}
    base_auc = boot.auc(base)
    m |= {"baseline_roc_auc_low": base_auc.low, "baseline_roc_auc_high": base_auc.high}
    gain = boot.auc_difference(p, base)
    m |= {
        "model_minus_baseline_auc": gain.estimate,
        "model_minus_baseline_auc_low": gain.low,
        "model_minus_baseline_auc_high": gain.high,
        "rounds": float(bt.rounds),
    }
    if oracle is not None:
        m["backtest_oracle_roc_auc"] = float(roc_auc_score(y, oracle))
        m["backtest_model_to_oracle_auc"] = m["backtest_roc_auc"] / m["backtest_oracle_roc_auc"]
    table = []
    at = 0
    for fold in bt.folds:
        part = slice(at, at + len(fold.positions))
        at += len(fold.positions)
        fold_boot = LeadBootstrap(y[part], leads[part], seed=config.seed)
        line = FoldLine(
            str(fold.number),
            fold.start.date().isoformat() if fold.start else "random",
            len(fold.positions),
            int(np.unique(leads[part][y[part] == 1]).size),
            float(y[part].mean()),
            fold_boot.auc(fold.p),
            _auc(y[part], fold.baseline),
            expected_calibration_error(y[part], fold.p),
        )
        table.append(line)
        prefix = f"fold{fold.number}_"
        m |= {
            f"{prefix}roc_auc": line.auc.estimate,
            f"{prefix}roc_auc_low": line.auc.low,
            f"{prefix}roc_auc_high": line.auc.high,
            f"{prefix}baseline_roc_auc": line.baseline_auc,
            f"{prefix}ece": line.ece,
            f"{prefix}base_rate": line.base_rate,
            f"{prefix}rows": float(line.rows),
            f"{prefix}train_rows": float(fold.train_rows),
        }
    table.append(
        FoldLine(
            "pooled",
            "",
            len(y),
            int(np.unique(leads[y == 1]).size),
            float(y.mean()),
            auc,
            m["baseline_roc_auc"],
            m["backtest_ece"],
        )
    )
    return ConversionFigures(m, table, y, p, raw, base, positions)


def velocity_figures(bt: VelocityBacktest, horizon_days: float) -> dict[str, float]:
    """C-index, MAE, P(30 d) calibration and Kaplan-Meier per risk tercile, out of fold.

    Calibration figures pool the folds. The C-index is a ranking over pairs, and each fold has
    its own calibration, so it is computed within each fold (`fold<k>_c_index`) and averaged
    by rows; pairs across folds would compare calibrations, not leads.
    """
    surv, forecast = bt.surv, bt.forecast
    metrics = velocity_metrics(
        surv.remaining,
        surv.observed,
        forecast.cumulative[:, -1],
        forecast.expected_remaining_days,
        forecast.within(30),
        horizon_days,
    )
    predicted = {d: forecast.within(d) for d in VELOCITY_DAYS}
    metrics |= velocity_calibration(surv.remaining, surv.observed, predicted)
    edges = np.cumsum((0, *bt.fold_rows))
    per_fold = [
        concordance_index(surv.remaining[a:b], -forecast.cumulative[a:b, -1], surv.observed[a:b])
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    metrics |= {f"fold{k}_c_index": float(v) for k, v in enumerate(per_fold, start=1)}
    metrics["c_index"] = float(np.average(per_fold, weights=bt.fold_rows))
    return metrics


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
