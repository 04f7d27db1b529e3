"""The pyfunc wrappers MLflow itself loads: `predict(frame)` on the frame `leadscore features`
writes.

MLflow's own LightGBM flavour would return class labels and refuse category columns; these
wrappers read the model directory (training/models.py) and encode the frame with the model's
own feature spec, so `models:/lead-conversion@champion` returns calibrated probabilities.
MLflow imports this module by name to unpickle a logged model, so it stays here and keeps its
import of mlflow; everything else reaches MLflow through training/registry.py.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from features.spec import FeatureSpec
from training.models import ConversionModel, VelocityModel

MODEL_ARTIFACT = "model_dir"


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
        answer = self.model.answer(frame_to_matrix(self.model.spec, model_input))
        out = {"expected_days_to_contract": answer.expected_days_to_contract}
        out |= {f"p_contract_{d}d": p for d, p in answer.p_contract.items()}
        return pd.DataFrame(out)
