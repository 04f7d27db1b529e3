"""configs/monitor.yaml as typed models: how far back to look and when a figure is a breach."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from features.config import FrozenConfig


class DriftConfig(FrozenConfig):
    max_feature_psi: float = Field(gt=0)
    max_score_psi: float = Field(gt=0)
    min_rows: int = Field(ge=1)


class CalibrationConfig(FrozenConfig):
    level: float = Field(gt=0, lt=1)
    max_ratio: float = Field(gt=1)
    min_labelled: int = Field(ge=1)
    max_auc_drop: float = Field(gt=0, lt=1)


class ModelVsRuleConfig(FrozenConfig):
    min_routed: int = Field(ge=1)


class DataHealthConfig(FrozenConfig):
    min_new_leads: int = Field(ge=1)
    max_unseen_share: float = Field(gt=0, le=1)
    max_unknown_event_share: float = Field(gt=0, le=1)
    min_event_share: float = Field(gt=0, le=1)
    max_missing_increase: float = Field(gt=0, le=1)
    max_source_psi: float = Field(gt=0)


class MonitorConfig(FrozenConfig):
    period: Literal["week", "month"]
    lookback_periods: int = Field(ge=1, le=520)
    max_rows_per_period: int = Field(ge=100)
    drift: DriftConfig
    calibration: CalibrationConfig
    model_vs_rule: ModelVsRuleConfig
    data_health: DataHealthConfig
