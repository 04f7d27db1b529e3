"""What a monitor run finds: figures by period, by source, against the rule, of data health,
and the breaches among them — the shapes every output (terminal, JSON, HTML, MLflow) reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadscore.funnel.facts import Rate
from leadscore.monitor.population import Window


@dataclass(frozen=True)
class Breach:
    check: str  # drift, calibration, model_vs_rule, data_health
    subject: str  # the feature, source, event type or figure concerned
    period: str
    message: str

    def line(self) -> str:
        return f"{self.check}: {self.subject} ({self.period}): {self.message}"


@dataclass(frozen=True)
class Calibration:
    """Matured rows of a group: mean prediction against the observed rate."""

    group: str
    labelled: int
    predicted: float
    observed: Rate
    ratio: float  # observed / predicted


@dataclass(frozen=True)
class PeriodFigures:
    start: datetime
    rows: int
    score_psi: float
    max_feature_psi: float
    top_features: dict[str, float]  # the five largest PSIs
    labelled: int
    matured: bool  # every row's label known
    calibration: Calibration | None
    ece: float
    auc: float
    velocity_predicted: float
    velocity_kaplan_meier: float
    velocity_matured: bool
    new_leads: int


@dataclass(frozen=True)
class RuleComparison:
    routed: int  # matured rows the tiers sent to active sales
    model: Rate
    best_rule: str | None
    rule_sql_rate: float


@dataclass(frozen=True)
class Health:
    period: datetime
    new_leads: int
    source_psi: float
    sources: dict[str, float]
    unseen: dict[str, dict[str, float]]  # attribute → share of new leads by unseen value
    missing: dict[str, float]
    events: int
    unknown_event_share: float
    stopped_event_types: list[str]


@dataclass(frozen=True)
class Findings:
    as_of: datetime
    window: Window
    periods: list[PeriodFigures]
    by_source: list[Calibration]  # in the judged calibration period
    calibration_period: datetime | None
    rule: RuleComparison | None
    health: Health | None
    breaches: list[Breach]
