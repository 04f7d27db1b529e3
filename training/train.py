"""`leadscore train`: data → snapshots → backtests → models refit on everything → MLflow.

The backtests (training/folds.py) judge the procedure on periods it has not seen and choose
the round counts and the calibration; the registered models are then refit on every labelled
snapshot up to the data's end, so the newest leads and campaigns are in the deployed model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import yaml
from matplotlib.figure import Figure

from features import contract as c
from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.tables import LeadData
from features.vectors import block_frame
from training import plots, registry
from training.backtest import (
    ConversionBacktest,
    check_sufficiency,
    cross_fit,
    fit_conversion,
    fit_fold,
    prepare_fold,
)
from training.config import BoosterParams, TrainConfig
from training.dataset import TrainingSet, build_training_set, fingerprint
from training.evaluation import ConversionFigures, FoldLine, conversion_figures, velocity_figures
from training.folds import Fold, backtest_folds
from training.models import ConversionModel, VelocityModel
from training.oracle import oracle_probability, truth_table
from training.report import figure_png, render
from training.velocity import VelocityBacktest, cross_fit_velocity, fit_velocity, fit_velocity_fold

Step = Callable[[str], None]
THIN_INTERVAL = 0.1  # a pooled AUC interval wider than this is worth a note


@dataclass
class TrainResult:
    run_id: str
    conversion: registry.Registered
    velocity: registry.Registered | None
    metrics: dict[str, float]
    table: list[FoldLine]
    notes: list[str] = field(default_factory=list)


def booster_params(config: TrainConfig) -> tuple[BoosterParams, str]:
    """Tuned parameters when `leadscore tune` wrote them, else the config's own."""
    if config.tuned_params and Path(config.tuned_params).exists():
        raw = yaml.safe_load(Path(config.tuned_params).read_text())
        return BoosterParams.model_validate(raw), config.tuned_params
    return config.conversion, "configs"


@dataclass(frozen=True)
class Backtests:
    conversion: ConversionBacktest
    velocity: VelocityBacktest | None


def run_backtests(
    ts: TrainingSet,
    folds: list[Fold],
    params: BoosterParams,
    config: TrainConfig,
    step: Step,
    with_velocity: bool,
) -> Backtests:
    """Every fold's models, then the cross-fitted choices for the deployed pair."""
    conversion, velocity = [], []
    for fold in folds:
        step(f"backtest {fold.number} of {len(folds)}")
        data = prepare_fold(ts, fold, config)
        conversion.append(fit_fold(data, params, config))
        if with_velocity:
            train, test = (data.X, ts.rows[fold.train]), (data.X_test, ts.rows[fold.test])
            velocity.append(fit_velocity_fold(fold, data.spec, train, test, config, ts.data.end))
    return Backtests(
        cross_fit(conversion, config), cross_fit_velocity(velocity, config) if velocity else None
    )


def train(
    data: LeadData,
    folder: Path,
    features: FeatureConfig,
    config: TrainConfig,
    step: Step = lambda _: None,
) -> TrainResult:
    """Backtest, refit on everything, log to one MLflow run, register both models."""
    step("snapshots and features")
    ts = build_training_set(data, features, config.seed)
    folds = backtest_folds(ts.rows, config.backtest, features.horizon_days)
    check_sufficiency(ts, folds, config)
    params, params_from = booster_params(config)
    notes: list[str] = []
    contracts = ts.rows.filter(pl.col("event_observed"))[c.LEAD_ID].n_unique()
    with_velocity = contracts >= config.sufficiency.min_contracts
    if not with_velocity:
        notes.append(
            f"deal-velocity not trained: {contracts} leads with a signed contract, "
            f"need {config.sufficiency.min_contracts} (does the data have WON?)"
        )
    bt = run_backtests(ts, folds, params, config, step, with_velocity)
    truth = truth_table(folder)
    oracle = (
        oracle_probability(truth, ts.rows[bt.conversion.pooled("positions")], features.horizon_days)
        if truth is not None
        else None
    )
    figures = conversion_figures(ts, bt.conversion, features, config, oracle)
    metrics = dict(figures.metrics)
    pooled = figures.table[-1]
    if pooled.auc.width > THIN_INTERVAL:
        notes.append(
            f"thin backtests: {pooled.converted_leads} converted leads tested, so the pooled "
            f"AUC's 95% interval is {pooled.auc.width:.2f} wide; read every figure with it"
        )
    step("models on every snapshot")
    everything = np.arange(ts.rows.height)
    spec = ts.spec_for(everything)
    X = ts.matrix(spec, everything)
    conversion = fit_conversion(spec, (X, ts.converted), bt.conversion, params, config)
    velocity = None
    if bt.velocity is not None:
        velocity = fit_velocity(
            spec, X, ts.rows, bt.velocity.rounds, bt.velocity.calibration, config, data.end
        )
        metrics |= {
            f"velocity_{k}": v
            for k, v in velocity_figures(bt.velocity, config.velocity.horizon_days).items()
        }
        metrics["velocity_rounds"] = float(bt.velocity.rounds)
        metrics["velocity_calibration_slope"] = bt.velocity.calibration.slope
    step("report and registry")
    images = _figures(figures, conversion, X, bt, oracle)
    return _log(
        ts,
        features,
        config,
        (params, params_from),
        (conversion, velocity),
        metrics,
        figures,
        images,
        notes,
    )


def _log(
    ts: TrainingSet,
    features: FeatureConfig,
    config: TrainConfig,
    params: tuple[BoosterParams, str],
    models: tuple[ConversionModel, VelocityModel | None],
    metrics: dict[str, float],
    figures: ConversionFigures,
    images: dict[str, Figure],
    notes: list[str],
) -> TrainResult:
    """One MLflow run: configs, data fingerprint, metrics, plots, report, predictions, models."""
    (booster, params_from), (conversion, velocity) = params, models
    registry.configure()
    facts = fingerprint(ts)
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params({f"conversion.{k}": v for k, v in booster.model_dump().items()})
        mlflow.log_params(
            {
                "params_from": params_from,
                "seed": config.seed,
                "calibration": config.calibration,
                "linear_base": config.linear_base,
                "backtest.mode": config.backtest.mode,
                "backtest.folds": config.backtest.folds,
                "spec_hash": conversion.spec.hash,
                "horizon_days": features.horizon_days,
            }
        )
        mlflow.log_params({f"data.{k}": v for k, v in facts.items()})
        mlflow.log_dict(facts, "data_fingerprint.json")
        mlflow.log_dict(conversion.spec.to_dict(), "feature_spec.json")
        mlflow.log_dict(config.model_dump(mode="json"), "train_config.json")
        mlflow.log_dict(features.model_dump(mode="json"), "features_config.json")
        mlflow.log_dict(booster.model_dump(mode="json"), "booster_params.json")
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        pngs = {name: figure_png(fig) for name, fig in images.items()}
        with tempfile.TemporaryDirectory() as tmp:
            for name, png in pngs.items():
                (Path(tmp) / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(tmp, "plots")
            predictions = (
                ts.rows[figures.positions]
                .select(c.LEAD_ID, "as_of", "converted", "event_observed")
                .with_columns(p=pl.Series(figures.p), baseline=pl.Series(figures.baseline))
            )
            predictions.write_parquet(Path(tmp) / registry.PREDICTIONS)
            mlflow.log_artifact(str(Path(tmp) / registry.PREDICTIONS))
        sections = {
            "backtests (out of fold)": {
                f"fold {line.fold} from {line.test_from}": _line(line) for line in figures.table
            },
            "metrics": metrics,
            "data": facts,
            "parameters": booster.model_dump(),
        }
        mlflow.log_text(
            render(f"leadscore model report — run {run.info.run_id}", sections, pngs),
            "model_report.html",
        )
        example = _example(ts, conversion.spec)
        conv_reg = registry.log_model(registry.CONVERSION, conversion, example)
        vel_reg = registry.log_model(registry.VELOCITY, velocity, example) if velocity else None
    return TrainResult(run.info.run_id, conv_reg, vel_reg, metrics, figures.table, notes)


def _line(line: FoldLine) -> str:
    return (
        f"{line.rows:,} rows, {line.converted_leads:,} converted leads, rate {line.base_rate:.4f}; "
        f"AUC {line.auc.estimate:.4f} [{line.auc.low:.4f}, {line.auc.high:.4f}], "
        f"baseline {line.baseline_auc:.4f}; ECE {line.ece:.4f}"
    )


def _example(ts: TrainingSet, spec: FeatureSpec) -> pd.DataFrame:
    """A few rows as the frame `leadscore features` writes (the input example)."""
    return (
        block_frame(spec, ts.block.take(np.arange(min(3, ts.rows.height))))
        .drop("lead_id", "as_of")
        .to_pandas()
    )


def _figures(
    figures: ConversionFigures,
    model: ConversionModel,
    X: np.ndarray,
    bt: Backtests,
    oracle: np.ndarray | None,
) -> dict[str, Figure]:
    """The report's figures: out-of-fold curves, and the deployed model's importances."""
    y, p = figures.y, figures.p
    curves = {"model": p, "logistic regression": figures.baseline}
    if oracle is not None:
        curves["oracle (simulator truth)"] = oracle
    sample = np.random.default_rng(0).choice(len(X), size=min(len(X), 5000), replace=False)
    names = model.spec.feature_names
    out = {
        "roc": plots.roc(y, curves),
        "precision_recall": plots.precision_recall(y, p),
        "calibration": plots.calibration(y, p, figures.raw),
        "cumulative_gains": plots.gains(y, p),
        "feature_importance": plots.importance(
            names, model.booster.feature_importance(importance_type="gain")
        ),
        "shap_summary": plots.shap_summary(names, model.contributions(X[sample])),
    }
    if bt.velocity is not None:
        out["velocity_vs_kaplan_meier"] = plots.velocity_vs_km(
            bt.velocity.surv.remaining,
            bt.velocity.surv.observed,
            bt.velocity.forecast.cumulative,
            bt.velocity.forecast.period_days,
        )
    return out
