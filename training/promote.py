"""Gated promotion: champion and challenger scored on the same newest test period.

The conversion model decides (AUC margin without worse calibration); the velocity model of
the same training run moves with it, so a served pair always comes from one run. The old
champion keeps the alias `previous-champion`, which `rollback` returns to.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import polars as pl

from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.tables import LeadData
from training import registry
from training.config import TrainConfig
from training.dataset import featurize, split_rows
from training.metrics import conversion_metrics
from training.train import capacity_per_snapshot_day


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: int
    challenger: int
    table: dict[str, dict[str, float]]
    run_id: str | None  # the MLflow run recording the decision; None when nothing was compared


def _velocity_version_of_run(run_id: str) -> int | None:
    """The deal-velocity version logged by the same training run, if any."""
    versions = mlflow.MlflowClient().search_model_versions(
        f"name = '{registry.VELOCITY}' and run_id = '{run_id}'"
    )
    return int(versions[0].version) if versions else None


def _score(
    data: LeadData,
    version: int,
    rows: pl.DataFrame,
    features: FeatureConfig,
    config: TrainConfig,
    tmp: Path,
) -> dict[str, float]:
    model = registry.load_conversion(version, tmp / f"v{version}")
    split = featurize(data, model.spec, rows)
    p = model.predict(split.X)
    day = rows["as_of"].dt.date().to_physical().to_numpy()
    return conversion_metrics(split.converted, p, day, capacity_per_snapshot_day(features, config))


def promote(
    data: LeadData, features: FeatureConfig, config: TrainConfig, force: bool = False
) -> Decision:
    """Compare champion and challenger on the test cohort; move `champion` if it wins."""
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
    rows, _ = split_rows(data, features, config)
    test = rows.filter(pl.col("split") == "test").sort("lead_id", "as_of")
    if test.height == 0 or test["converted"].sum() == 0:
        raise LeadscoreError("the test period of this data has no conversions to compare on")
    with tempfile.TemporaryDirectory() as tmp:
        table = {
            f"champion v{champion}": _score(data, champion, test, features, config, Path(tmp)),
            f"challenger v{challenger}": _score(
                data, challenger, test, features, config, Path(tmp)
            ),
        }
    old, new = table.values()
    auc_gain = new["roc_auc"] - old["roc_auc"]
    ece_loss = new["ece"] - old["ece"]
    if force:
        promoted, reason = True, "forced"
    elif auc_gain < config.promotion_auc_margin:
        promoted, reason = (
            False,
            (f"AUC gain {auc_gain:+.4f} is below the margin {config.promotion_auc_margin}"),
        )
    elif ece_loss > config.promotion_ece_tolerance:
        promoted, reason = (
            False,
            (
                f"calibration worse: ECE {ece_loss:+.4f} over the tolerance "
                f"{config.promotion_ece_tolerance}"
            ),
        )
    else:
        promoted, reason = True, f"AUC {auc_gain:+.4f}, ECE {ece_loss:+.4f}"
    with mlflow.start_run(run_name="promote") as run:
        mlflow.log_params(
            {
                "champion_version": champion,
                "challenger_version": challenger,
                "promoted": promoted,
                "reason": reason,
                "test_rows": test.height,
            }
        )
        for who, metrics in zip(("champion", "challenger"), table.values(), strict=True):
            mlflow.log_metrics({f"{who}_{k}": v for k, v in metrics.items()})
    if promoted:
        _move_pair(challenger, champion)
    return Decision(promoted, reason, champion, challenger, table, run.info.run_id)


def _move_pair(new: int, old: int) -> None:
    """Point champion at `new` (and its run's velocity model); remember the old pair."""
    new_velocity = _velocity_version_of_run(registry.run_of(registry.CONVERSION, new))
    old_velocity = _velocity_version_of_run(registry.run_of(registry.CONVERSION, old))
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
