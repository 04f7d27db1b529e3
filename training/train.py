"""`leadscore train`: data → snapshots → backtests → models refit on everything → one run.

The backtests (training/folds.py) judge the procedure on periods it has not seen and choose
the round counts and the calibration; the registered models are then refit on every labelled
snapshot up to the data's end, so the newest leads and campaigns are in the deployed model.
The run is recorded through the registry gateway the caller passes in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from matplotlib.figure import Figure

from features import contract as c
from features.spec import FeatureSpec
from features.tables import LeadData
from features.vectors import block_frame
from training import plots
from training.backtest import (
    ConversionBacktest,
    check_sufficiency,
    cross_fit,
    fit_conversion,
    fit_fold,
    prepare_fold,
)
from training.config import Procedure
from training.dataset import TrainingSet, build_training_set, fingerprint
from training.evaluation import ConversionFigures, FoldLine, conversion_figures, velocity_figures
from training.folds import Fold, backtest_folds
from training.models import ConversionModel, VelocityModel
from training.pair import CONVERSION, VELOCITY
from training.policy import Policy
from training.reference import REFERENCE, Reference, build_reference
from training.registry import PREDICTIONS, Registered, Registry, RunLog
from training.report import figure_png, render
from training.velocity import VelocityBacktest, cross_fit_velocity, fit_velocity, fit_velocity_fold

Step = Callable[[str], None]
# P(SQL within the horizon) of snapshot rows (lead_id, created_at, as_of), from knowledge no
# model has: the simulator's truth (leadscore/simulator/oracle.py). None on real data.
Oracle = Callable[[pl.DataFrame], np.ndarray]
THIN_INTERVAL = 0.1  # a pooled AUC interval wider than this is worth a note


@dataclass
class TrainResult:
    run_id: str
    conversion: Registered
    velocity: Registered | None
    metrics: dict[str, float]
    table: list[FoldLine]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Backtests:
    conversion: ConversionBacktest
    velocity: VelocityBacktest | None


def run_backtests(
    ts: TrainingSet, folds: list[Fold], procedure: Procedure, step: Step, with_velocity: bool
) -> Backtests:
    """Every fold's models, then the cross-fitted choices for the deployed pair."""
    config = procedure.train
    conversion, velocity = [], []
    for fold in folds:
        step(f"backtest {fold.number} of {len(folds)}")
        data = prepare_fold(ts, fold, config)
        conversion.append(fit_fold(data, procedure.params, config))
        if with_velocity:
            train, test = (data.X, ts.rows[fold.train]), (data.X_test, ts.rows[fold.test])
            velocity.append(fit_velocity_fold(fold, data.spec, train, test, config, ts.facts.end))
    return Backtests(
        cross_fit(conversion, config), cross_fit_velocity(velocity, config) if velocity else None
    )


@dataclass(frozen=True)
class _Trained:
    """What a training run records: the procedure, its figures, the deployed models."""

    ts: TrainingSet
    procedure: Procedure
    figures: ConversionFigures
    models: tuple[ConversionModel, VelocityModel | None]
    metrics: dict[str, float]
    images: dict[str, Figure]
    reference: Reference


def train(
    data: LeadData,
    procedure: Procedure,
    policy: Policy,
    registry: Registry,
    oracle: Oracle | None = None,
    step: Step = lambda _: None,
) -> TrainResult:
    """Backtest, refit on everything, record one run, register both models. Recall is
    judged at the policy's sales capacity; `oracle` adds the best possible AUC beside it."""
    step("snapshots and features")
    ts = build_training_set(data, procedure.features, procedure.train.seed)
    return train_on(ts, procedure, policy, registry, oracle, step)


def train_on(
    ts: TrainingSet,
    procedure: Procedure,
    policy: Policy,
    registry: Registry,
    oracle: Oracle | None = None,
    step: Step = lambda _: None,
) -> TrainResult:
    """`train` from snapshots and features already built (on Dask: leadscore/engine)."""
    features, config = procedure.features, procedure.train
    folds = backtest_folds(ts.rows, config.backtest, features.horizon_days)
    check_sufficiency(ts, folds, config)
    notes: list[str] = []
    contracts = ts.rows.filter(pl.col("event_observed"))[c.LEAD_ID].n_unique()
    with_velocity = contracts >= config.sufficiency.min_contracts
    if not with_velocity:
        notes.append(
            f"deal-velocity not trained: {contracts} leads with a signed contract, "
            f"need {config.sufficiency.min_contracts} (does the data have WON?)"
        )
    bt = run_backtests(ts, folds, procedure, step, with_velocity)
    best = oracle(ts.rows[bt.conversion.pooled("positions")]) if oracle is not None else None
    figures = conversion_figures(ts, bt.conversion, config, policy.capacity_per_day, best)
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
    conversion = fit_conversion(spec, (X, ts.converted), bt.conversion, procedure.params, config)
    velocity = None
    if bt.velocity is not None:
        velocity = fit_velocity(spec, X, ts.rows, bt.velocity, config, ts.facts.end)
        metrics |= {
            f"velocity_{k}": v
            for k, v in velocity_figures(bt.velocity, config.velocity.horizon_days).items()
        }
        metrics["velocity_rounds"] = float(bt.velocity.rounds)
        metrics["velocity_calibration_slope"] = bt.velocity.calibration.slope
    step("report and registry")
    images = _figures(figures, conversion, X, bt, best)
    reference = build_reference(
        ts, X, conversion, config.reference_days, metrics["backtest_roc_auc"]
    )
    models = (conversion, velocity)
    trained = _Trained(ts, procedure, figures, models, metrics, images, reference)
    with registry.run("train") as run:
        conv_reg, vel_reg = _record(run, trained)
    return TrainResult(run.id, conv_reg, vel_reg, metrics, figures.table, notes)


def _record(run: RunLog, trained: _Trained) -> tuple[Registered, Registered | None]:
    """The run: configs, data fingerprint, metrics, plots, report, predictions, models."""
    procedure, figures, (conversion, velocity) = trained.procedure, trained.figures, trained.models
    features, config, booster = procedure.features, procedure.train, procedure.params
    facts = fingerprint(trained.ts)
    run.params({f"conversion.{k}": v for k, v in booster.model_dump().items()})
    run.params(
        {
            "params_from": procedure.params_from,
            "seed": config.seed,
            "calibration": config.calibration,
            "linear_base": config.linear_base,
            "backtest.mode": config.backtest.mode,
            "backtest.folds": config.backtest.folds,
            "spec_hash": conversion.spec.hash,
            "horizon_days": features.horizon_days,
        }
    )
    run.params({f"data.{k}": v for k, v in facts.items()})
    run.json(facts, "data_fingerprint.json")
    run.json(conversion.spec.to_dict(), "feature_spec.json")
    run.json(config.model_dump(mode="json"), "train_config.json")
    run.json(features.model_dump(mode="json"), "features_config.json")
    run.json(booster.model_dump(mode="json"), "booster_params.json")
    run.json(trained.reference.to_dict(), REFERENCE)
    run.metrics({k: v for k, v in trained.metrics.items() if np.isfinite(v)})
    pngs = {name: figure_png(fig) for name, fig in trained.images.items()}
    with tempfile.TemporaryDirectory() as tmp:
        pictures, tables = Path(tmp) / "plots", Path(tmp) / "tables"
        pictures.mkdir()
        tables.mkdir()
        for name, png in pngs.items():
            (pictures / f"{name}.png").write_bytes(png)
        run.files(pictures, "plots")
        predictions = (
            trained.ts.rows[figures.positions]
            .select(c.LEAD_ID, "as_of", "converted", "event_observed")
            .with_columns(p=pl.Series(figures.p), baseline=pl.Series(figures.baseline))
        )
        predictions.write_parquet(tables / PREDICTIONS)
        run.files(tables)
    sections = {
        "backtests (out of fold)": {
            f"fold {line.fold} from {line.test_from}": _line(line) for line in figures.table
        },
        "metrics": trained.metrics,
        "data": facts,
        "parameters": booster.model_dump(),
    }
    run.text(render(f"leadscore model report — run {run.id}", sections, pngs), "model_report.html")
    example = _example(trained.ts, conversion.spec)
    conv_reg = run.register(CONVERSION, conversion, example)
    vel_reg = run.register(VELOCITY, velocity, example) if velocity else None
    return conv_reg, vel_reg


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
