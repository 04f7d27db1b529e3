"""The backtests' figures: pooled and per fold, the model beside its baseline, with intervals.

Every number here is computed from out-of-fold predictions (training/backtest.py,
training/velocity.py), and every metric's definition is in training/metrics.py; this module
only decides which rows each figure covers and how it is named in MLflow and the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lifelines.utils import concordance_index
from sklearn.metrics import log_loss, roc_auc_score

from features import contract as c
from features.config import FeatureConfig
from training.backtest import ConversionBacktest
from training.config import TrainConfig
from training.dataset import TrainingSet
from training.intervals import Interval, LeadBootstrap
from training.metrics import EPS, conversion_metrics, velocity_calibration, velocity_metrics
from training.velocity import VelocityBacktest

VELOCITY_DAYS = (30, 60, 90)


def capacity_per_snapshot_day(features: FeatureConfig, config: TrainConfig, rate: float) -> float:
    """Sales capacity scaled to the share of open leads that appear as snapshots on a day."""
    return config.capacity_per_day * rate / features.snapshot_every_days


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
    features: FeatureConfig,
    config: TrainConfig,
    oracle: np.ndarray | None,
) -> ConversionFigures:
    """Pooled and per-fold metrics of the model and its baseline (names without prefix)."""
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
    capacity = capacity_per_snapshot_day(features, config, ts.sample_rate)
    boot = LeadBootstrap(y, leads, seed=config.seed)
    m = {f"backtest_{k}": v for k, v in conversion_metrics(y, p, day, capacity).items()}
    m["backtest_log_loss_uncalibrated"] = float(
        log_loss(y, np.clip(raw, EPS, 1 - EPS), labels=[0, 1])
    )
    auc = boot.auc(p)
    m |= {"backtest_roc_auc_low": auc.low, "backtest_roc_auc_high": auc.high}
    baseline = conversion_metrics(y, base, day, capacity)
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
            conversion_metrics(y[part], fold.p, day[part], capacity)["ece"],
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
