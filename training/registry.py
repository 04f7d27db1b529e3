"""MLflow: where runs go, how models are logged and registered, how aliases move.

The embedded default is `sqlite:///mlruns/mlflow.db` with artifacts under `mlruns/artifacts`;
`MLFLOW_TRACKING_URI` overrides it. Every other module talks to MLflow through here.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from features.errors import LeadscoreError
from training.models import ConversionModel, VelocityModel
from training.pyfunc import (
    MODEL_ARTIFACT,
    VELOCITY_DAYS,
    ConversionPyfunc,
    VelocityPyfunc,
    signature,
)

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
EXPERIMENT = "leadscore"
CONVERSION = "lead-conversion"
VELOCITY = "deal-velocity"
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
PREDICTIONS = "backtest_predictions.parquet"  # a training run's out-of-fold predictions
# What a logged model needs to be loaded elsewhere; naming it skips MLflow's slow inference.
_REQUIREMENTS = ["lightgbm", "mlflow", "numpy", "pandas", "polars", "pydantic", "scikit-learn"]


def configure() -> str:
    """Point MLflow at the configured store and return its URI.

    A SQLite store keeps its artifacts in `artifacts/` beside the database file (for the
    default, mlruns/artifacts), wherever the command runs; other stores use their own default.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    # Downloads of model files are small and quick; their progress bars only clutter output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    database = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = (database.parent / "artifacts").resolve().as_uri() if database else None
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return uri


def run_url(run_id: str) -> str:
    """How to find a run: its id and where it lives."""
    return f"run {run_id} ({mlflow.get_tracking_uri()}, experiment {EXPERIMENT})"


@dataclass(frozen=True)
class Registered:
    name: str
    version: int
    aliases: tuple[str, ...]


def log_model(
    name: str, model: ConversionModel | VelocityModel, example: pd.DataFrame
) -> Registered:
    """Log `model` in the active run as a pyfunc, register it, alias it challenger.

    The first version of a model also becomes champion, so a fresh store serves at once.
    """
    if isinstance(model, ConversionModel):
        python_model, outputs = (
            ConversionPyfunc(),
            Schema([TensorSpec(np.dtype(np.float64), (-1,))]),
        )
    else:
        python_model = VelocityPyfunc()
        outputs = Schema(
            [ColSpec("double", "expected_days_to_contract")]
            + [ColSpec("double", f"p_contract_{d}d") for d in VELOCITY_DAYS]
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = model.save(Path(tmp) / MODEL_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=python_model,
            artifacts={MODEL_ARTIFACT: str(folder)},
            signature=signature(model.spec, outputs),
            input_example=example,
            pip_requirements=_REQUIREMENTS,
            registered_model_name=name,
        )
    client = MlflowClient()
    version = int(info.registered_model_version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    aliases = [CHALLENGER]
    if not _has_alias(client, name, CHAMPION):
        client.set_registered_model_alias(name, CHAMPION, str(version))
        aliases.append(CHAMPION)
    return Registered(name, version, tuple(aliases))


def _has_alias(client: MlflowClient, name: str, alias: str) -> bool:
    try:
        client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return False
    return True


def version_of(name: str, alias: str) -> int:
    """The version an alias points at now; a clear error when there is none."""
    try:
        return int(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        raise LeadscoreError(
            f"no {name}@{alias} in {mlflow.get_tracking_uri()}: run `leadscore train` first"
        ) from None


def run_of(name: str, version: int) -> str:
    return MlflowClient().get_model_version(name, str(version)).run_id


def version_of_run(name: str, run_id: str) -> int | None:
    """The version of `name` a training run registered, if it registered one."""
    versions = MlflowClient().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return int(versions[0].version) if versions else None


def model_dir(name: str, version: int, dest: Path) -> Path:
    """Download a registered version's model directory (booster, spec, calibration)."""
    uri = f"models:/{name}/{version}"
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest))
    return Path(local) / "artifacts" / MODEL_ARTIFACT


def load_conversion(version: int, dest: Path) -> ConversionModel:
    return ConversionModel.load(model_dir(CONVERSION, version, dest))


def load_velocity(version: int, dest: Path) -> VelocityModel:
    return VelocityModel.load(model_dir(VELOCITY, version, dest))


def run_dict(run_id: str, name: str) -> dict | None:
    """A JSON artifact of a run, or None when the run did not record it."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{name}")
    except (MlflowException, OSError):
        return None


def run_table(run_id: str, name: str, dest: Path) -> pl.DataFrame:
    """A Parquet artifact of a run (e.g. its backtest predictions)."""
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, dst_path=str(dest)
    )
    return pl.read_parquet(path)


def set_alias(name: str, alias: str, version: int) -> None:
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def record_run(
    run_name: str, params: dict[str, object], metrics: dict[str, float], files: dict[str, object]
) -> str:
    """One MLflow run for an operation (rescore, funnel): params, metrics, JSON artifacts."""
    configure()
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for name, content in files.items():
            mlflow.log_dict(content, name)
    return run.info.run_id
