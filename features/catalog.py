"""The behaviour feature table: every event-derived feature, declared once.

A declaration names a feature and says what it looks at (event types, a window) and how it
sums that up (an aggregate). features/behaviour.py computes each column from its declaration
alone and features/spec.py takes the names from the same table, so a name and its column
cannot drift apart. Adding a feature is adding its line to `behaviour_table` (README, "Adding
a behaviour feature"); the families repeated per event type and window follow
configs/features.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from features.config import FeatureConfig
from features.contract import OTHER_EVENT

Aggregate = Literal[
    "count", "days_since_last", "days_since_first", "flag", "active_days", "trend", "age"
]
# Aggregates that read no event types or window of their own.
_WHOLE_HISTORY = ("active_days", "age")


@dataclass(frozen=True)
class Behaviour:
    """One behaviour feature: over the events of `events` (None: every event, "other"
    included) strictly before as_of, within the last `window_days` (None: all time):

    - count: how many there are;
    - days_since_last / days_since_first: days from the latest / earliest of them to as_of,
      missing when there is none;
    - flag: 1 when there is one, else 0;
    - trend: the count of the last `window_days` against the rate of the `baseline_days`
      before them, (recent + 1) / (expected + 1);
    - active_days: distinct UTC days with any event (every event, all time);
    - age: days since the lead was created.
    """

    name: str
    aggregate: Aggregate
    events: tuple[str, ...] | None = None
    window_days: int | None = None
    baseline_days: int | None = None

    def __post_init__(self) -> None:
        if any(days is not None and days < 1 for days in (self.window_days, self.baseline_days)):
            raise ValueError(f"{self.name}: windows are whole days, at least 1")
        if (self.aggregate == "trend") != (self.baseline_days is not None):
            raise ValueError(f"{self.name}: a trend needs baseline_days, and only a trend has one")
        if self.aggregate == "trend" and self.window_days is None:
            raise ValueError(f"{self.name}: a trend needs window_days (the recent period)")
        if self.aggregate in _WHOLE_HISTORY and (self.events, self.window_days) != (None, None):
            raise ValueError(f"{self.name}: {self.aggregate} takes no events or window")


def behaviour_table(config: FeatureConfig) -> tuple[Behaviour, ...]:
    """Every behaviour feature of `config`, in the model's column order."""
    windows = config.windows_days
    table: list[Behaviour] = []
    for event in (*config.event_types, OTHER_EVENT):
        one = (event,)
        table += [Behaviour(f"{event}_count_{w}d", "count", one, w) for w in windows]
        table += [
            Behaviour(f"{event}_count_all", "count", one),
            Behaviour(f"{event}_days_since_last", "days_since_last", one),
            Behaviour(f"{event}_days_since_first", "days_since_first", one),
        ]
    table += [Behaviour(f"any_count_{w}d", "count", window_days=w) for w in windows]
    recent, baseline = config.trend_recent_days, config.trend_baseline_days
    table += [
        Behaviour("any_count_all", "count"),
        Behaviour("any_days_since_last", "days_since_last"),
        Behaviour("any_active_days_all", "active_days"),
        Behaviour(f"any_trend_{recent}d_vs_{baseline}d", "trend", None, recent, baseline),
        Behaviour("lead_age_days", "age"),
        Behaviour("webinar_registered_flag_all", "flag", ("webinar_registered",)),
        Behaviour("webinar_attended_flag_all", "flag", ("webinar_attended",)),
        Behaviour("unsubscribe_flag_all", "flag", ("unsubscribe",)),
    ]
    intent = config.intent_event_types
    table += [Behaviour(f"intent_count_{w}d", "count", intent, w) for w in windows]
    onset = config.intent_onset_days
    table += [
        Behaviour("intent_days_since_last", "days_since_last", intent),
        # The age of the current burst: how far into a buying window the lead is.
        Behaviour(f"intent_days_since_first_{onset}d", "days_since_first", intent, onset),
    ]
    return tuple(table)
