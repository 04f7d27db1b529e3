"""Model health: the champion and the challenger with their backtest figures (the registry),
and the newest `leadscore monitor` result kept in the store.

A training run registers both models and logs the backtests' pooled figures as run metrics
(training/train.py); these are what promotion compared. What the service scores with right
now is the pair it has loaded (/readyz), which can trail an alias by one reload period.
"""

from __future__ import annotations

from typing import Any

from features.errors import LeadscoreError
from training.pair import CONVERSION, VELOCITY
from training.registry import CHALLENGER, CHAMPION, Registry

# (metric, label) of a training run, in the order the page shows them
SHOWN = (
    ("backtest_roc_auc", "AUC"),
    ("backtest_roc_auc_low", "AUC, 95% low"),
    ("backtest_roc_auc_high", "AUC, 95% high"),
    ("baseline_roc_auc", "logistic baseline AUC"),
    ("model_minus_baseline_auc", "model − baseline AUC"),
    ("backtest_pr_auc", "PR AUC"),
    ("backtest_log_loss", "log loss"),
    ("backtest_brier", "Brier"),
    ("backtest_ece", "ECE"),
    ("backtest_lift_top_decile", "top-decile lift"),
    ("backtest_recall_at_capacity", "recall at capacity"),
    ("velocity_c_index", "velocity C-index"),
    ("velocity_mae_days_closed", "velocity MAE, days"),
)
FOLDS = 3


def models(registry: Registry) -> dict[str, Any]:
    """Both aliases: versions, the training run and its backtest figures; None for an alias
    that points nowhere (no model trained yet)."""
    return {
        "labels": dict(SHOWN),
        **{alias: _alias(registry, alias) for alias in (CHAMPION, CHALLENGER)},
    }


def _alias(registry: Registry, alias: str) -> dict[str, Any] | None:
    try:
        conversion = registry.version_of(CONVERSION, alias)
    except LeadscoreError:
        return None
    try:
        velocity: int | None = registry.version_of(VELOCITY, alias)
    except LeadscoreError:
        velocity = None  # data without contract dates trains no velocity model
    run_id = registry.run_of(CONVERSION, conversion)
    metrics = registry.run_metrics(run_id)
    return {
        "conversion_version": conversion,
        "velocity_version": velocity,
        "run_id": run_id,
        "metrics": {name: metrics.get(name) for name, _ in SHOWN},
        "folds": [
            {
                "fold": fold,
                "auc": metrics.get(f"fold{fold}_roc_auc"),
                "low": metrics.get(f"fold{fold}_roc_auc_low"),
                "high": metrics.get(f"fold{fold}_roc_auc_high"),
                "baseline": metrics.get(f"fold{fold}_baseline_roc_auc"),
            }
            for fold in range(1, FOLDS + 1)
        ],
    }
