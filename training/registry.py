"""The one gateway to MLflow: where runs go, how models are registered, found and loaded.

Built once from a typed setting (`RegistryConfig`: the tracking URI, by default the embedded
`sqlite:///mlruns/mlflow.db`, and the artifact location) by the CLI and by the service's
constructor, and passed down; no other module imports mlflow (training/pyfunc.py is the
wrapper MLflow itself loads). Jobs describe what to record through `RunLog` and get models
back as training/models.py objects, so they never see an MLflow type.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from features.errors import LeadscoreError
from features.spec import FeatureSpec
from training.config import RegistryConfig
from training.models import VELOCITY_DAYS, ConversionModel, VelocityModel
from training.pair import CONVERSION, VELOCITY, Champions, ModelPair
from training.pyfunc import MODEL_ARTIFACT, ConversionPyfunc, VelocityPyfunc

EXPERIMENT = "leadscore"
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
PREDICTIONS = "backtest_predictions.parquet"  # a training run's out-of-fold predictions
# What a logged model needs to be loaded elsewhere; naming it skips MLflow's slow inference.
_REQUIREMENTS = ["lightgbm", "mlflow", "numpy", "pandas", "polars", "pydantic", "scikit-learn"]


@dataclass(frozen=True)
class Registered:
    name: str
    version: int
    aliases: tuple[str, ...]


class Registry:
    """One MLflow store: its runs (the `leadscore` experiment) and its registered models."""

    def __init__(self, config: RegistryConfig) -> None:
        self.uri = config.tracking_uri
        # Downloads of model files are small and quick; their progress bars only clutter output.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        database = (
            Path(self.uri.removeprefix("sqlite:///")) if self.uri.startswith("sqlite:///") else None
        )
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        experiment = self._client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            # A SQLite store keeps its artifacts beside the database file, wherever the
            # command runs; other stores use their own default.
            location = config.artifact_location or (
                (database.parent / "artifacts").resolve().as_uri() if database else None
            )
            self._experiment = self._client.create_experiment(EXPERIMENT, location)
        else:
            self._experiment = experiment.experiment_id

    def where(self, run_id: str) -> str:
        """How to find a run: its id and where it lives."""
        return f"run {run_id} ({self.uri}, experiment {EXPERIMENT})"

    def _activate(self) -> None:
        """Point MLflow's process-wide state at this store: runs and model logging go through
        MLflow's fluent API, which reads it (two gateways in one process stay apart)."""
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        mlflow.set_experiment(experiment_id=self._experiment)

    @contextmanager
    def run(self, name: str, nested: bool = False) -> Iterator[RunLog]:
        """One MLflow run named `name` (nested in the active run with `nested`)."""
        self._activate()
        with mlflow.start_run(run_name=name, nested=nested) as run:
            yield RunLog(self, run.info.run_id)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self._client.get_run(run_id).data.metrics)

    def run_dict(self, run_id: str, name: str) -> dict[str, Any] | None:
        """A JSON artifact of a run, or None when the run did not record it."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self._client.download_artifacts(run_id, name, tmp)
            except (MlflowException, OSError):
                return None
            return json.loads(Path(path).read_text())

    def run_table(self, run_id: str, name: str, dest: Path) -> pl.DataFrame:
        """A Parquet artifact of a run (e.g. its backtest predictions)."""
        return pl.read_parquet(self._client.download_artifacts(run_id, name, str(dest)))

    def version_of(self, name: str, alias: str) -> int:
        """The version an alias points at now; a clear error when there is none."""
        try:
            return int(self._client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            raise LeadscoreError(
                f"no {name}@{alias} in {self.uri}: run `leadscore train` first"
            ) from None

    def run_of(self, name: str, version: int) -> str:
        return self._client.get_model_version(name, str(version)).run_id

    def version_of_run(self, name: str, run_id: str) -> int | None:
        """The version of `name` a training run registered, if it registered one."""
        found = self._client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        return int(found[0].version) if found else None

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._client.set_registered_model_alias(name, alias, str(version))

    def champions(self) -> Champions:
        """What the champion aliases point at now (the service checks this every N seconds)."""
        conversion = self._client.get_model_version_by_alias(CONVERSION, CHAMPION)
        velocity = self._client.get_model_version_by_alias(VELOCITY, CHAMPION)
        return Champions(
            int(conversion.version), int(velocity.version), conversion.run_id == velocity.run_id
        )

    def champion_versions(self) -> tuple[int, int]:
        """Versions of both champions; one clear line when either is missing.

        Scoring answers with velocity too, so it needs both: data without contract dates
        trains only the conversion model, and then says so here rather than "run train first".
        """
        conversion = self.version_of(CONVERSION, CHAMPION)
        try:
            velocity = self.version_of(VELOCITY, CHAMPION)
        except LeadscoreError:
            raise LeadscoreError(
                f"{CONVERSION}@champion is v{conversion} but there is no {VELOCITY}@champion: "
                "training could not fit a velocity model on this data (no signed contracts "
                "with dates), and scoring needs both"
            ) from None
        return conversion, velocity

    def _model_dir(self, name: str, version: int, dest: Path) -> Path:
        """Download a registered version's model directory (booster, spec, calibration)."""
        self._activate()
        uri = f"models:/{name}/{version}"
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest))
        return Path(local) / "artifacts" / MODEL_ARTIFACT

    def load_conversion(self, version: int, dest: Path) -> ConversionModel:
        return ConversionModel.load(self._model_dir(CONVERSION, version, dest))

    def load_velocity(self, version: int, dest: Path) -> VelocityModel:
        return VelocityModel.load(self._model_dir(VELOCITY, version, dest))

    def load_pair(self, conversion: int, velocity: int) -> ModelPair:
        """Both versions, read into memory (boosters and all) and checked against this code."""
        with tempfile.TemporaryDirectory(prefix="leadscore-models-") as tmp:
            return ModelPair(
                self.load_conversion(conversion, Path(tmp) / "conversion"),
                self.load_velocity(velocity, Path(tmp) / "velocity"),
                conversion,
                velocity,
            )


def _log_model(name: str, model: ConversionModel | VelocityModel, example: pd.DataFrame) -> int:
    """Log `model` in the active run as a pyfunc and register it; its new version."""
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
            signature=_signature(model.spec, outputs),
            input_example=example,
            pip_requirements=_REQUIREMENTS,
            registered_model_name=name,
        )
    return int(info.registered_model_version)


def _signature(spec: FeatureSpec, outputs: Schema) -> ModelSignature:
    """Doubles for behaviour and numeric attributes, strings for categories (never codes)."""
    cols = [ColSpec("double", name, required=False) for name in spec.behaviour_names]
    cols += [ColSpec("string", name, required=False) for name in spec.categories]
    cols += [ColSpec("double", name, required=False) for name in spec.numeric]
    return ModelSignature(inputs=Schema(cols), outputs=outputs)


class RunLog:
    """What an operation records in its run: parameters, metrics, files, models."""

    def __init__(self, registry: Registry, run_id: str) -> None:
        self._registry = registry
        self.id = run_id

    def params(self, values: Mapping[str, object]) -> None:
        mlflow.log_params(dict(values))

    def metrics(self, values: Mapping[str, float]) -> None:
        mlflow.log_metrics(dict(values))

    def json(self, content: object, name: str) -> None:
        mlflow.log_dict(content, name)

    def text(self, content: str, name: str) -> None:
        mlflow.log_text(content, name)

    def files(self, folder: Path, under: str | None = None) -> None:
        """Every file of `folder`, under `under` (None: at the run's top level)."""
        mlflow.log_artifacts(str(folder), under)

    def register(
        self, name: str, model: ConversionModel | VelocityModel, example: pd.DataFrame
    ) -> Registered:
        """Log `model` in this run as a pyfunc, register it as `name`, alias it challenger.

        The first version of a model also becomes champion, so a fresh store serves at once.
        """
        version = _log_model(name, model, example)
        self._registry.set_alias(name, CHALLENGER, version)
        try:
            self._registry.version_of(name, CHAMPION)
        except LeadscoreError:
            self._registry.set_alias(name, CHAMPION, version)
            return Registered(name, version, (CHALLENGER, CHAMPION))
        return Registered(name, version, (CHALLENGER,))
