"""MLflow pyfunc wrappers: `predict(frame)` on the frame `leadscore features` writes.

MLflow's own LightGBM flavour would return class labels and refuse category columns; these
wrappers read the model directory (training/models.py) and encode the frame with the model's
own feature spec, so `models:/lead-conversion@champion` returns calibrated probabilities.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from features.spec import FeatureSpec
from training.models import ConversionModel, VelocityModel

MODEL_ARTIFACT = "model_dir"
VELOCITY_DAYS = (30, 60, 90)


def frame_to_matrix(spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Model input from a feature frame: behaviour floats, static values encoded by the spec."""
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns: {', '.join(missing[:5])}")
    behaviour = frame[spec.behaviour_names].to_numpy(dtype=np.float64, na_value=np.nan)
    static = {
        name: [None if pd.isna(v) else v for v in frame[name].tolist()]
        for name in spec.static_names
    }
    return np.hstack([behaviour, spec.encode_static(static, len(frame))])


def signature(spec: FeatureSpec, outputs: Schema) -> ModelSignature:
    """Doubles for behaviour and numeric attributes, strings for categories (never codes)."""
    cols = [ColSpec("double", name, required=False) for name in spec.behaviour_names]
    cols += [ColSpec("string", name, required=False) for name in spec.categories]
    cols += [ColSpec("double", name, required=False) for name in spec.numeric]
    return ModelSignature(inputs=Schema(cols), outputs=outputs)


class ConversionPyfunc(mlflow.pyfunc.PythonModel):
    """Calibrated P(SQL within the horizon) for each row."""

    def load_context(self, context) -> None:
        self.model = ConversionModel.load(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return self.model.predict(frame_to_matrix(self.model.spec, model_input))


class VelocityPyfunc(mlflow.pyfunc.PythonModel):
    """Days to contract if the lead signs, and P(contract within 30/60/90 days)."""

    def load_context(self, context) -> None:
        self.model = VelocityModel.load(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        X = frame_to_matrix(self.model.spec, model_input)
        forecast = self.model.forecast(X)
        age = model_input["lead_age_days"].to_numpy(dtype=np.float64)
        out = {"expected_days_to_contract": age + forecast.expected_remaining_days}
        out |= {f"p_contract_{d}d": forecast.within(d) for d in VELOCITY_DAYS}
        return pd.DataFrame(out)
