"""Gated promotion: champion and challenger judged by the same backtests on the same data.

Every deployed model is refit on all the data it saw, so no period is left that a fresh
challenger has not trained on. What can be compared honestly is each model's training
procedure — the configs and booster parameters its run recorded — backtested on the same
folds of the same data, row for row. The challenger, trained on the newest data, wins ties: it
is refused when it loses to its own logistic-regression baseline beyond the noise (the interval
its run logged), when its procedure's AUC trails the champion's by more than the tolerance, or
when its calibration is worse beyond the tolerance.

The velocity model of the same training run moves with the conversion model, so a served pair
always comes from one run. The old champion keeps the alias `previous-champion`, which
`rollback` returns to.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
import polars as pl

from features import contract as c
from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.tables import LeadData
from training import registry
from training.backtest import backtest_procedure
from training.config import BoosterParams, TrainConfig
from training.intervals import LeadBootstrap
from training.metrics import conversion_metrics

COMPARED = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "base_rate", "mean_prediction")


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: int
    challenger: int
    table: dict[str, dict[str, float]]
    run_id: str | None  # the MLflow run recording the decision; None when nothing was compared


def recorded_procedure(version: int) -> tuple[FeatureConfig, TrainConfig, BoosterParams]:
    """The configs and booster parameters the version's training run recorded."""
    run_id = registry.run_of(registry.CONVERSION, version)
    parts = [
        registry.run_dict(run_id, name)
        for name in ("features_config.json", "train_config.json", "booster_params.json")
    ]
    if any(part is None for part in parts):
        raise LeadscoreError(
            f"{registry.CONVERSION} v{version} (run {run_id}) recorded no training procedure "
            "(trained before backtests existed): compare by hand, then promote --force"
        )
    features, config, params = parts
    return (
        FeatureConfig.model_validate(features),
        TrainConfig.model_validate(config),
        BoosterParams.model_validate(params),
    )


def _baseline_verdict(version: int) -> str | None:
    """Why the version's own run says it loses to its logistic baseline, or None."""
    metrics = mlflow.get_run(registry.run_of(registry.CONVERSION, version)).data.metrics
    gain, low, high = (
        metrics.get(f"model_minus_baseline_auc{end}") for end in ("", "_low", "_high")
    )
    if high is not None and high < 0:
        return (
            f"v{version} loses to its own logistic regression in its backtests: AUC "
            f"{gain:+.4f} [{low:+.4f}, {high:+.4f}]; its trees fit noise on this data"
        )
    return None


def _paired(data: LeadData, champion: int, challenger: int) -> pl.DataFrame:
    """Both procedures' out-of-fold predictions on the rows they share."""
    frames = []
    for who, version in (("champion", champion), ("challenger", challenger)):
        predictions = backtest_procedure(data, *recorded_procedure(version))
        frames.append(predictions.rename({"p": who}))
    first, second = frames
    return first.join(second.drop("converted"), on=[c.LEAD_ID, "as_of"], how="inner")


def promote(data: LeadData, config: TrainConfig, force: bool = False) -> Decision:
    """Backtest champion and challenger procedures on `data`; move `champion` if the
    challenger holds up (or `force`)."""
    registry.configure()
    champion = registry.version_of(registry.CONVERSION, registry.CHAMPION)
    challenger = registry.version_of(registry.CONVERSION, registry.CHALLENGER)
    if challenger == champion:
        return Decision(
            False,
            f"v{champion} is both champion and challenger: nothing to compare",
            champion,
            challenger,
            {},
            None,
        )
    rows = _paired(data, champion, challenger)
    y = rows["converted"].to_numpy().astype(np.float64)
    if rows.height == 0 or y.sum() == 0:
        raise LeadscoreError("the backtests of this data share no rows with a conversion")
    day = rows["as_of"].dt.date().to_physical().to_numpy()
    p = {who: rows[who].to_numpy() for who in ("champion", "challenger")}
    table = {
        f"{who} v{version}": {
            k: v for k, v in conversion_metrics(y, p[who], day, 1.0).items() if k in COMPARED
        }
        for who, version in (("champion", champion), ("challenger", challenger))
    }
    gain = LeadBootstrap(y, rows[c.LEAD_ID].to_numpy(), seed=config.seed).auc_difference(
        p["challenger"], p["champion"]
    )
    old, new = table.values()
    ece_loss = new["ece"] - old["ece"]
    promoted, reason = _verdict(challenger, gain.estimate, ece_loss, config)
    reason += (
        f" (AUC {gain.estimate:+.4f} [{gain.low:+.4f}, {gain.high:+.4f}] on {rows.height:,} rows)"
    )
    if force:
        promoted, reason = True, f"forced; {reason}"
    with mlflow.start_run(run_name="promote") as run:
        mlflow.log_params(
            {
                "champion_version": champion,
                "challenger_version": challenger,
                "promoted": promoted,
                "reason": reason[:500],
                "backtest_rows": rows.height,
            }
        )
        for who, metrics in zip(("champion", "challenger"), table.values(), strict=True):
            mlflow.log_metrics({f"{who}_{k}": v for k, v in metrics.items()})
        mlflow.log_metrics(
            {"auc_gain": gain.estimate, "auc_gain_low": gain.low, "auc_gain_high": gain.high}
        )
    if promoted:
        _move_pair(challenger, champion)
    return Decision(promoted, reason, champion, challenger, table, run.info.run_id)


def _verdict(
    challenger: int, gain: float, ece_loss: float, config: TrainConfig
) -> tuple[bool, str]:
    against_baseline = _baseline_verdict(challenger)
    if against_baseline is not None:
        return False, against_baseline
    if gain < -config.promotion_auc_tolerance:
        return False, (
            f"the challenger's AUC trails the champion's by more than the tolerance "
            f"{config.promotion_auc_tolerance}"
        )
    if ece_loss > config.promotion_ece_tolerance:
        return False, (
            f"calibration worse: ECE {ece_loss:+.4f} over the tolerance "
            f"{config.promotion_ece_tolerance}"
        )
    return True, f"challenger holds up: ECE {ece_loss:+.4f}"


def _move_pair(new: int, old: int) -> None:
    """Point champion at `new` (and its run's velocity model); remember the old pair."""
    new_velocity = registry.version_of_run(
        registry.VELOCITY, registry.run_of(registry.CONVERSION, new)
    )
    old_velocity = registry.version_of_run(
        registry.VELOCITY, registry.run_of(registry.CONVERSION, old)
    )
    registry.set_alias(registry.CONVERSION, registry.PREVIOUS_CHAMPION, old)
    registry.set_alias(registry.CONVERSION, registry.CHAMPION, new)
    if new_velocity is not None:
        if old_velocity is not None:
            registry.set_alias(registry.VELOCITY, registry.PREVIOUS_CHAMPION, old_velocity)
        registry.set_alias(registry.VELOCITY, registry.CHAMPION, new_velocity)


def rollback() -> tuple[int, int]:
    """Champion back to the previous champion (both models); returns (from, to) versions."""
    registry.configure()
    current = registry.version_of(registry.CONVERSION, registry.CHAMPION)
    try:
        previous = registry.version_of(registry.CONVERSION, registry.PREVIOUS_CHAMPION)
    except LeadscoreError:
        raise LeadscoreError(
            f"nothing to roll back to: {registry.CONVERSION} has had no other champion"
        ) from None
    if previous == current:
        raise LeadscoreError(f"{registry.CONVERSION}@champion is already v{current}")
    _move_pair(previous, current)
    with mlflow.start_run(run_name="rollback"):
        mlflow.log_params({"from_version": current, "to_version": previous})
    return current, previous
