"""`leadscore tune`: Optuna TPE over the conversion booster, judged by the backtests.

A trial's score is the backtests' pooled log loss at its best round count — the same folds
and the same choice `train` makes — reported fold by fold so the median pruner can stop a
hopeless trial early. The folds' matrices and baselines are built once for all trials. The
study lives in SQLite beside the tuned parameters' file (`TrainConfig.tuned_params`, which
`leadscore tune` writes and the next `leadscore train` reads), so it can be resumed; every
trial is a nested run of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna

from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.tables import LeadData
from training.backtest import FoldFit, check_sufficiency, cross_fit, fit_fold, prepare_fold
from training.config import BoosterParams, TrainConfig
from training.dataset import build_training_set
from training.fit import pooled_curve
from training.folds import backtest_folds
from training.registry import Registry

STUDY_FILE = "optuna.db"
STUDY_NAME = "lead-conversion"


@dataclass(frozen=True)
class TuneResult:
    run_id: str
    best: BoosterParams
    best_log_loss: float  # pooled over the backtests
    trials: int
    destination: Path  # where the best parameters belong: the train config's tuned_params


def suggest(trial: optuna.Trial | optuna.trial.FixedTrial, fixed: BoosterParams) -> BoosterParams:
    """The search space; rounds and early stopping stay as configured.

    Depth, not leaf count, is searched, and each tree gets all 2^depth leaves: every answer of
    the service carries exact TreeSHAP reasons, tabulated per leaf pair in 2^depth cases
    (training/treeshap.py), so the space stops at depth 5 (configs/train.yaml explains the
    default, 3).
    """
    depth = trial.suggest_int("max_depth", 2, 5)
    return fixed.model_copy(
        update={
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_depth": depth,
            "num_leaves": 2**depth,
            "min_child_samples": trial.suggest_int("min_child_samples", 20, 500, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
    )


def tune(
    data: LeadData, features: FeatureConfig, config: TrainConfig, trials: int, registry: Registry
) -> TuneResult:
    """Run `trials` more trials of the (resumable) study; the best parameters so far."""
    if not config.tuned_params:
        raise LeadscoreError("train config: tuned_params is empty, so tuning has nowhere to write")
    destination = Path(config.tuned_params)
    destination.parent.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{destination.parent / STUDY_FILE}"
    ts = build_training_set(data, features, config.seed)
    folds = backtest_folds(ts.rows, config.backtest, features.horizon_days)
    check_sufficiency(ts, folds, config)
    prepared = [prepare_fold(ts, fold, config) for fold in folds]
    study = optuna.create_study(
        study_name=f"{STUDY_NAME}-{prepared[-1].spec.hash}",
        storage=storage,
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=1),
    )

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, config.conversion)
        with registry.run(f"trial-{trial.number}", nested=True) as run:
            run.params(params.model_dump())
            fits = []
            for step, fold in enumerate(prepared):
                fits.append(fit_fold(fold, params, config))
                loss = _pooled_loss(fits)
                trial.report(loss, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            run.metrics(
                {"backtest_log_loss": loss, "rounds": float(cross_fit(fits, config).rounds)}
            )
        return loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with registry.run("tune") as run:
        run.params({"trials": trials, "study": study.study_name, "storage": storage})
        study.optimize(objective, n_trials=trials, show_progress_bar=True)
        best = suggest(optuna.trial.FixedTrial(study.best_params), config.conversion)
        run.params({f"best.{k}": v for k, v in study.best_params.items()})
        run.metrics({"best_backtest_log_loss": study.best_value})
    return TuneResult(run.id, best, float(study.best_value), len(study.trials), destination)


def _pooled_loss(fits: list[FoldFit]) -> float:
    """The folds' log loss pooled by test rows, at the round count that minimises it."""
    return float(pooled_curve([f.curve for f in fits], [len(f.y) for f in fits]).min())
