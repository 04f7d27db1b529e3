"""configs/simulate.yaml as typed models: the calibration targets and every generative
parameter of the simulated funnel. A misspelt key is an error."""

from __future__ import annotations

from datetime import date

from pydantic import Field, ValidationInfo, field_validator

from features import contract as c
from features.config import FrozenConfig

PARTNER_SOURCE = "partner"
_Span = tuple[float, float]


def _known_events(rates: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(rates) - set(c.KNOWN_EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {', '.join(c.KNOWN_EVENT_TYPES)}")
    return rates


class Level(FrozenConfig):
    """One value of a categorical attribute: its relative share and its effect on fit."""

    share: float = Field(gt=0)
    effect: float = 0.0
    cycle: float = Field(default=1.0, gt=0)  # industries only: stretches the sales cycle


class LeadsConfig(FrozenConfig):
    """Who the leads are; `effect`s add up to the log of the SQL hazard (the lead's fit)."""

    sources: dict[str, Level]
    countries: dict[str, Level]
    industries: dict[str, Level]
    business_models: dict[str, Level]
    job_roles: dict[str, Level]
    partners: int = Field(ge=1, le=9999)
    partner_skew: float = Field(ge=0)  # Zipf exponent of partner volume
    partner_quality_sd: float = Field(ge=0)
    owners: int = Field(ge=1, le=999)
    company_size_median: float = Field(gt=0)
    company_size_sigma: float = Field(ge=0)
    company_size_effect: float  # fit per unit of log(size / median)
    fit_noise_sd: float = Field(ge=0)

    @field_validator("sources")
    @classmethod
    def _has_partner(cls, sources: dict[str, Level]) -> dict[str, Level]:
        if PARTNER_SOURCE not in sources:
            raise ValueError(f"needs a '{PARTNER_SOURCE}' source for partner leads")
        return sources


class DealsConfig(FrozenConfig):
    """Per-lead deal terms: who wins, how long deals take, what they are worth."""

    win_logit: float
    win_fit_slope: float
    rep_skill_sd: float = Field(ge=0)  # log-odds spread between sales reps
    cycle_days_median: float = Field(gt=0)
    cycle_size_slope: float
    mrr_mean: float = Field(gt=0)  # PLN, over all leads
    mrr_size_slope: float


class Targets(FrozenConfig):
    """Figures the defaults reproduce; counts are at `leads` leads and scale with the lead count."""

    leads: int = Field(gt=0)
    webinar_attended_share: float = Field(gt=0, lt=1)
    attended_won_share: float = Field(gt=0, lt=1)
    mean_mrr: float = Field(gt=0)
    nurture_pool: int = Field(gt=0)
    events: int = Field(gt=0)


class ReadinessConfig(FrozenConfig):
    """The SQL hazard: low at base, high while a buying need lasts, 0 after unsubscribing."""

    hazard_base: float = Field(gt=0)  # per day at fit 0
    need_logit: float  # log-odds of a buying need at fit 0
    need_fit_slope: float
    need_now_share: float = Field(ge=0, le=1)  # needs that bring the lead in
    need_now_days: float = Field(gt=0)  # mean delay to those
    need_later_days: float = Field(gt=0)  # mean delay to the others
    ready_days_median: float = Field(gt=0)
    ready_days_sigma: float = Field(ge=0)
    hazard_ready: float = Field(gt=0)  # per day at fit 0
    hazard_ready_fit_slope: float
    unsubscribe_per_year: float = Field(gt=0)  # at fit 0
    unsubscribe_fit_slope: float


class StageTimingConfig(FrozenConfig):
    """Stage timing: when an idle MQL is parked, how a deal's length and value vary."""

    nurture_after_days: _Span  # MQL -> NURTURE when no SQL came within this many days
    cycle_sigma: float = Field(ge=0)  # log-sd of one deal's length around the lead's median
    mrr_sigma: float = Field(ge=0)  # log-sd of one deal's MRR around the lead's mean
    recycle_days: _Span  # LOST -> NURTURE after this many days


class BehaviourConfig(FrozenConfig):
    """Event rates: background activity, intent that follows the hazard, deal activity."""

    burst_days: float = Field(gt=0)  # background activity at creation decays with this scale
    burst_per_day: dict[str, float]  # background events a day at creation
    floor_per_day: dict[str, float]  # background events a day at any age (newsletters)
    activity_sigma: float = Field(ge=0)  # log-sd of a lead's overall activity
    activity_fit_slope: float  # how much activity follows the lead's fit
    intent_per_hazard: dict[str, float]  # events per unit of cumulative SQL hazard
    intent_sigma: float = Field(ge=0)  # log-sd of how loudly a lead shows its intent
    sql_trigger: dict[str, float]  # shares of the event recorded at the SQL instant
    sales_calls_per_week: float = Field(ge=0)
    registered_before_days: _Span  # webinar registration precedes attendance by
    page_seconds_median: float = Field(gt=0)
    page_seconds_sigma: float = Field(ge=0)

    _check = field_validator("burst_per_day", "floor_per_day", "intent_per_hazard", "sql_trigger")(
        _known_events
    )


class SourceConversionDrift(FrozenConfig):
    """The sales process of one source gets worse: its leads reach SQL `factor` times as often."""

    source: str
    factor: float = Field(gt=0, le=1)  # the share of its leads that sales still follows up
    from_month: int = Field(ge=1)  # months after `start`


class NewSourceDrift(FrozenConfig):
    """A new channel brings `share` of the leads created from `from_month` on."""

    source: str
    share: float = Field(gt=0, lt=1)
    effect: float  # on fit, as a source Level's
    from_month: int = Field(ge=1)


class EventTypeDrift(FrozenConfig):
    """Tracking of one event type breaks: it is no longer recorded from `from_month` on."""

    event_type: str
    from_month: int = Field(ge=1)

    @field_validator("event_type")
    @classmethod
    def _known(cls, event_type: str) -> str:
        _known_events({event_type: 0.0})
        return event_type


Drift = SourceConversionDrift | NewSourceDrift | EventTypeDrift


class DriftConfig(FrozenConfig):
    """The scenarios of `leadscore simulate --drift NAME`, one entry each, keyed by NAME."""

    source_conversion_halves: SourceConversionDrift
    new_source: NewSourceDrift
    event_type_stops: EventTypeDrift


DRIFTS = tuple(DriftConfig.model_fields)


class SimulationConfig(FrozenConfig):
    """configs/simulate.yaml: calibration targets and every generative parameter."""

    start: date
    targets: Targets
    leads: LeadsConfig
    readiness: ReadinessConfig
    deals: DealsConfig
    funnel: StageTimingConfig
    behaviour: BehaviourConfig
    drift: DriftConfig
    block_leads: int = Field(ge=10)  # leads a block of a partitioned run draws at once

    @field_validator("drift")
    @classmethod
    def _sources_fit_leads(cls, drift: DriftConfig, info: ValidationInfo) -> DriftConfig:
        leads: LeadsConfig | None = info.data.get("leads")
        if leads is None:  # leads failed on their own; that error says enough
            return drift
        halved, new = drift.source_conversion_halves.source, drift.new_source.source
        if halved not in leads.sources:
            known = ", ".join(leads.sources)
            raise ValueError(f"source_conversion_halves.source '{halved}' is none of {known}")
        if new in leads.sources:
            raise ValueError(f"new_source.source '{new}' is already in leads.sources")
        return drift

    @field_validator("start")
    @classmethod
    def _first_of_month(cls, start: date) -> date:
        if start.day != 1:
            raise ValueError("must be the first day of a month")
        return start
