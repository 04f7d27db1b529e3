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

import numpy as np
import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from features.tables import LeadData
from training.backtest import backtest_procedure
from training.config import Procedure, TrainConfig
from training.evaluation import evaluate
from training.intervals import LeadBootstrap
from training.pair import CONVERSION, VELOCITY
from training.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Registry

COMPARED = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "base_rate", "mean_prediction")
RECORDED = ("features_config.json", "train_config.json", "booster_params.json")
# Keys a run recorded in its train config that later code moved elsewhere (issue 15 moved
# the sales capacity to configs/routing.yaml); they do not change how the model trains.
RETIRED = ("capacity_per_day",)


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: int
    challenger: int
    table: dict[str, dict[str, float]]
    run_id: str | None  # the MLflow run recording the decision; None when nothing was compared


def recorded_procedure(registry: Registry, version: int) -> Procedure:
    """The configs and booster parameters the version's training run recorded."""
    run_id = registry.run_of(CONVERSION, version)
    parts = [registry.run_dict(run_id, name) for name in RECORDED]
    if any(part is None for part in parts):
        raise LeadscoreError(
            f"{CONVERSION} v{version} (run {run_id}) recorded no training procedure "
            "(trained before backtests existed): compare by hand, then promote --force"
        )
    features, config, params = parts
    train = {k: v for k, v in config.items() if k not in RETIRED}
    return Procedure.model_validate({"features": features, "train": train, "params": params})


def _baseline_verdict(registry: Registry, version: int) -> str | None:
    """Why the version's own run says it loses to its logistic baseline, or None."""
    metrics = registry.run_metrics(registry.run_of(CONVERSION, version))
    gain, low, high = (
        metrics.get(f"model_minus_baseline_auc{end}") for end in ("", "_low", "_high")
    )
    if high is not None and high < 0:
        return (
            f"v{version} loses to its own logistic regression in its backtests: AUC "
            f"{gain:+.4f} [{low:+.4f}, {high:+.4f}]; its trees fit noise on this data"
        )
    return None


def _paired(data: LeadData, registry: Registry, champion: int, challenger: int) -> pl.DataFrame:
    """Both procedures' out-of-fold predictions on the rows they share."""
    frames = []
    for who, version in (("champion", champion), ("challenger", challenger)):
        predictions = backtest_procedure(data, recorded_procedure(registry, version))
        frames.append(predictions.rename({"p": who}))
    first, second = frames
    return first.join(second.drop("converted"), on=[c.LEAD_ID, "as_of"], how="inner")


def promote(
    data: LeadData, config: TrainConfig, registry: Registry, force: bool = False
) -> Decision:
    """Backtest champion and challenger procedures on `data`; move `champion` if the
    challenger holds up (or `force`)."""
    champion = registry.version_of(CONVERSION, CHAMPION)
    challenger = registry.version_of(CONVERSION, CHALLENGER)
    if challenger == champion:
        return Decision(
            False,
            f"v{champion} is both champion and challenger: nothing to compare",
            champion,
            challenger,
            {},
            None,
        )
    rows = _paired(data, registry, champion, challenger)
    y = rows["converted"].to_numpy().astype(np.float64)
    if rows.height == 0 or y.sum() == 0:
        raise LeadscoreError("the backtests of this data share no rows with a conversion")
    day = rows["as_of"].dt.date().to_physical().to_numpy()
    p = {who: rows[who].to_numpy() for who in ("champion", "challenger")}
    table = {
        f"{who} v{version}": {
            k: v for k, v in evaluate(y, p[who], day, None).items() if k in COMPARED
        }
        for who, version in (("champion", champion), ("challenger", challenger))
    }
    gain = LeadBootstrap(y, rows[c.LEAD_ID].to_numpy(), seed=config.seed).auc_difference(
        p["challenger"], p["champion"]
    )
    old, new = table.values()
    ece_loss = new["ece"] - old["ece"]
    against_baseline = _baseline_verdict(registry, challenger)
    promoted, reason = _verdict(against_baseline, gain.estimate, ece_loss, config)
    reason += (
        f" (AUC {gain.estimate:+.4f} [{gain.low:+.4f}, {gain.high:+.4f}] on {rows.height:,} rows)"
    )
    if force:
        promoted, reason = True, f"forced; {reason}"
    with registry.run("promote") as run:
        run.params(
            {
                "champion_version": champion,
                "challenger_version": challenger,
                "promoted": promoted,
                "reason": reason[:500],
                "backtest_rows": rows.height,
            }
        )
        for who, metrics in zip(("champion", "challenger"), table.values(), strict=True):
            run.metrics({f"{who}_{k}": v for k, v in metrics.items()})
        run.metrics(
            {"auc_gain": gain.estimate, "auc_gain_low": gain.low, "auc_gain_high": gain.high}
        )
    if promoted:
        _move_pair(registry, challenger, champion)
    return Decision(promoted, reason, champion, challenger, table, run.id)


def _verdict(
    against_baseline: str | None, gain: float, ece_loss: float, config: TrainConfig
) -> tuple[bool, str]:
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


def _move_pair(registry: Registry, new: int, old: int) -> None:
    """Point champion at `new` (and its run's velocity model); remember the old pair."""
    new_velocity = registry.version_of_run(VELOCITY, registry.run_of(CONVERSION, new))
    old_velocity = registry.version_of_run(VELOCITY, registry.run_of(CONVERSION, old))
    registry.set_alias(CONVERSION, PREVIOUS_CHAMPION, old)
    registry.set_alias(CONVERSION, CHAMPION, new)
    if new_velocity is not None:
        if old_velocity is not None:
            registry.set_alias(VELOCITY, PREVIOUS_CHAMPION, old_velocity)
        registry.set_alias(VELOCITY, CHAMPION, new_velocity)


def rollback(registry: Registry) -> tuple[int, int]:
    """Champion back to the previous champion (both models); returns (from, to) versions."""
    current = registry.version_of(CONVERSION, CHAMPION)
    try:
        previous = registry.version_of(CONVERSION, PREVIOUS_CHAMPION)
    except LeadscoreError:
        raise LeadscoreError(
            f"nothing to roll back to: {CONVERSION} has had no other champion"
        ) from None
    if previous == current:
        raise LeadscoreError(f"{CONVERSION}@champion is already v{current}")
    _move_pair(registry, previous, current)
    with registry.run("rollback") as run:
        run.params({"from_version": current, "to_version": previous})
    return current, previous
