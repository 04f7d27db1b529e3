"""Typed settings of the feature pipeline and of training snapshots (configs/features.yaml),
and the one base every config model of leadscore is built on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.contract import KNOWN_EVENT_TYPES

FLAGGED_EVENTS = ("webinar_registered", "webinar_attended", "unsubscribe")


class FrozenConfig(BaseModel):
    """A config model: a key it does not know is an error, not a silent default, and once
    read it cannot change under the code that holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


INTENT_EVENTS = (
    "pricing_view",
    "demo_request",
    "trial_signup",
    "form_submit",
    "webinar_registered",
    "webinar_attended",
)


class FeatureConfig(FrozenConfig):
    """What the features look at; the fitted FeatureSpec records these with the model."""

    version: int = Field(1, ge=1, description="bump when a feature's definition changes")
    windows_days: tuple[int, ...] = Field((1, 7, 30, 90), min_length=1)
    event_types: tuple[str, ...] = Field(KNOWN_EVENT_TYPES, min_length=1)
    intent_event_types: tuple[str, ...] = Field(
        INTENT_EVENTS, min_length=1, description="event types that signal buying intent"
    )
    intent_onset_days: int = Field(30, ge=1, description="how far back a burst's start is seen")
    trend_recent_days: int = Field(7, ge=1)
    trend_baseline_days: int = Field(30, ge=1)
    categorical_attributes: tuple[str, ...] | None = Field(
        None, description="attributes to treat as categories; None: every text attribute"
    )
    exclude_attributes: tuple[str, ...] = ()
    min_category_count: int = Field(
        20, ge=1, description="rarer categories are encoded as missing, like unseen ones"
    )
    snapshot_every_days: int = Field(7, ge=1)
    snapshot_max_age_days: int = Field(
        365, ge=1, description="no snapshots of leads older than this (they keep being scored)"
    )
    snapshot_row_budget: int = Field(
        500_000,
        ge=1_000,
        description="training keeps every snapshot when there are fewer, else a seeded uniform "
        "sample of this many: all of a small company's history, bounded time on a large one",
    )
    horizon_days: int = Field(30, ge=1, description="converted = reached SQL within this")

    @field_validator("windows_days")
    @classmethod
    def _positive_sorted(cls, windows: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 1 for w in windows):
            raise ValueError("every window must be at least 1 day")
        return tuple(sorted(set(windows)))

    @field_validator("event_types")
    @classmethod
    def _flags_known(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        missing = [t for t in FLAGGED_EVENTS if t not in types]
        if missing:
            raise ValueError(f"must include {', '.join(missing)} (they feed the flag features)")
        return types

    @model_validator(mode="after")
    def _intent_is_known(self) -> FeatureConfig:
        unknown = [t for t in self.intent_event_types if t not in self.event_types]
        if unknown:
            raise ValueError(f"intent_event_types not in event_types: {', '.join(unknown)}")
        return self
