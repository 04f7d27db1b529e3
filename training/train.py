"""`leadscore train`: data → snapshots → both models → test metrics → MLflow run + registry."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.spec import FeatureSpec
from features.tables import LeadData
from features.vectors import block_frame, table_features
from training import plots, registry
from training.config import BoosterParams, TrainConfig
from training.dataset import Split, TrainingSet, build_training_set
from training.fit import fit_conversion, fit_velocity, survival_of
from training.metrics import conversion_metrics, velocity_metrics
from training.models import ConversionModel, VelocityModel
from training.oracle import oracle_probability, truth_table
from training.report import figure_png, render

Step = Callable[[str], None]


@dataclass
class TrainResult:
    run_id: str
    conversion: registry.Registered
    velocity: registry.Registered | None
    metrics: dict[str, float]
    notes: list[str] = field(default_factory=list)


def check_sufficiency(ts: TrainingSet, config: TrainConfig) -> None:
    """Refuse data with too few conversions to learn or to judge a model."""
    need = config.sufficiency
    counts = {name: int(split.converted.sum()) for name, split in ts.splits.items()}
    short = []
    if counts["train"] < need.min_train_conversions:
        short.append(f"train has {counts['train']} (need {need.min_train_conversions})")
    for name in ("validation", "test"):
        if counts[name] < need.min_eval_conversions:
            short.append(f"{name} has {counts[name]} (need {need.min_eval_conversions})")
    if short:
        raise LeadscoreError(
            "too few conversions (snapshots followed by an SQL) for a stable model: "
            + "; ".join(short)
            + ". Bring more history or leads, or lower configs/train.yaml sufficiency."
        )


def booster_params(config: TrainConfig) -> tuple[BoosterParams, str]:
    """Tuned parameters when `leadscore tune` wrote them, else the config's own."""
    if config.tuned_params and Path(config.tuned_params).exists():
        raw = yaml.safe_load(Path(config.tuned_params).read_text())
        return BoosterParams.model_validate(raw), config.tuned_params
    return config.conversion, "configs"


def capacity_per_snapshot_day(features: FeatureConfig, config: TrainConfig) -> float:
    """Sales capacity scaled to the share of open leads that appear as snapshots on a day."""
    return config.capacity_per_day * features.snapshot_sample_rate / features.snapshot_every_days


def evaluate_conversion(
    model: ConversionModel, test: Split, features: FeatureConfig, config: TrainConfig
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    raw = model.raw(test.X)
    p = model.calibrator.apply(raw)
    day = test.rows["as_of"].dt.date().to_physical().to_numpy()
    capacity = capacity_per_snapshot_day(features, config)
    metrics = conversion_metrics(test.converted, p, day, capacity)
    metrics["log_loss_uncalibrated"] = conversion_metrics(test.converted, raw, day, capacity)[
        "log_loss"
    ]
    return metrics, p, raw


def train(
    data: LeadData,
    folder: Path,
    features: FeatureConfig,
    config: TrainConfig,
    step: Step = lambda _: None,
) -> TrainResult:
    """Train, evaluate on the newest cohort, log everything to one MLflow run, register."""
    step("snapshots and features")
    ts = build_training_set(data, features, config)
    check_sufficiency(ts, config)
    params, params_from = booster_params(config)
    registry.configure()
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params({f"conversion.{k}": v for k, v in params.model_dump().items()})
        mlflow.log_params(
            {
                "params_from": params_from,
                "seed": config.seed,
                "calibration": config.calibration,
                "spec_hash": ts.spec.hash,
                "horizon_days": features.horizon_days,
            }
        )
        mlflow.log_params({f"data.{k}": v for k, v in ts.fingerprint.items()})
        mlflow.log_dict(ts.fingerprint, "data_fingerprint.json")
        mlflow.log_dict(ts.spec.to_dict(), "feature_spec.json")
        step("conversion model")
        conversion, booster = fit_conversion(
            ts.spec, ts.splits["train"], ts.splits["validation"], params, config
        )
        test = ts.splits["test"]
        metrics, p, raw = evaluate_conversion(conversion, test, features, config)
        metrics["best_iteration"] = float(booster.best_iteration)
        figures, oracle_metrics = _conversion_figures(
            conversion, test, p, raw, metrics, folder, features
        )
        metrics |= oracle_metrics
        notes: list[str] = []
        velocity_model, velocity_metrics_ = None, {}
        contracts = int(
            test.rows["event_observed"].sum() + ts.splits["train"].rows["event_observed"].sum()
        )
        if contracts < config.sufficiency.min_contracts:
            notes.append(
                f"deal-velocity not trained: {contracts} snapshots of signed deals, "
                f"need {config.sufficiency.min_contracts} (does the data have WON?)"
            )
        else:
            step("velocity model")
            velocity_model = fit_velocity(
                ts.spec, ts.splits["train"], ts.splits["validation"], config, ts.cutoffs
            )
            velocity_metrics_, fig = _evaluate_velocity(velocity_model, test)
            figures["velocity_vs_kaplan_meier"] = fig
        all_metrics = {f"test_{k}": v for k, v in metrics.items()}
        all_metrics |= {f"test_velocity_{k}": v for k, v in velocity_metrics_.items()}
        mlflow.log_metrics({k: v for k, v in all_metrics.items() if np.isfinite(v)})
        step("report and registry")
        pngs = {name: figure_png(fig) for name, fig in figures.items()}
        with tempfile.TemporaryDirectory() as tmp:
            for name, png in pngs.items():
                (Path(tmp) / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(tmp, "plots")
        sections = {
            "test metrics: conversion": metrics,
            "test metrics: velocity": velocity_metrics_,
            "data": ts.fingerprint,
            "parameters": params.model_dump(),
        }
        mlflow.log_text(
            render(f"leadscore model report — run {run.info.run_id}", sections, pngs),
            "model_report.html",
        )
        example = _example(data, ts.spec, test)
        conv_reg = registry.log_model(registry.CONVERSION, conversion, example)
        vel_reg = (
            registry.log_model(registry.VELOCITY, velocity_model, example)
            if velocity_model
            else None
        )
        return TrainResult(run.info.run_id, conv_reg, vel_reg, all_metrics, notes)


def _example(data: LeadData, spec: FeatureSpec, test: Split) -> pd.DataFrame:
    """A few test rows as the frame `leadscore features` writes (the input example)."""
    head = test.rows.head(3)
    block = table_features(
        data, spec, head["lead_id"].to_list(), head["as_of"].dt.epoch("ms").to_numpy()
    )
    return block_frame(spec, block).drop("lead_id", "as_of").to_pandas()


def _conversion_figures(
    model: ConversionModel,
    test: Split,
    p: np.ndarray,
    raw: np.ndarray,
    metrics: dict[str, float],
    folder: Path,
    features: FeatureConfig,
) -> tuple[dict[str, Figure], dict[str, float]]:
    """The conversion figures, and the oracle comparison where the simulator's truth exists."""
    y = test.converted
    truth = truth_table(folder)
    oracle, extra = None, {}
    if truth is not None:
        oracle = oracle_probability(truth, test.rows, features.horizon_days)
        extra["oracle_roc_auc"] = float(roc_auc_score(y, oracle))
        extra["model_to_oracle_auc"] = metrics["roc_auc"] / extra["oracle_roc_auc"]
    sample = np.random.default_rng(0).choice(len(y), size=min(len(y), 5000), replace=False)
    gain = model.booster.feature_importance(importance_type="gain")
    names = model.spec.feature_names
    return {
        "roc": plots.roc(y, p, metrics["roc_auc"], oracle),
        "precision_recall": plots.precision_recall(y, p),
        "calibration": plots.calibration(y, p, raw),
        "cumulative_gains": plots.gains(y, p),
        "feature_importance": plots.importance(names, gain),
        "shap_summary": plots.shap_summary(names, model.contributions(test.X[sample])),
    }, extra


def _evaluate_velocity(model: VelocityModel, test: Split) -> tuple[dict[str, float], Figure]:
    surv = survival_of(test.rows)
    forecast = model.forecast(test.X)
    horizon = model.period_days * len(model.baseline)
    metrics = velocity_metrics(
        surv.remaining,
        surv.observed,
        forecast.cumulative[:, -1],
        forecast.expected_remaining_days,
        forecast.within(30),
        horizon,
    )
    fig = plots.velocity_vs_km(
        surv.remaining, surv.observed, forecast.cumulative, model.period_days
    )
    return metrics, fig
