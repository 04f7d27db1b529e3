"""Drift for `leadscore simulate --drift NAME`: the simulated world changes at a known moment,
so that monitoring can be tested on a known truth.

- source_conversion_halves: from the moment on, sales stops following up each lead of the
  source (created before or after it) with chance 1 − `factor`, so the source's leads reach
  SQL `factor` times as often over any horizon. Only the outcome changes: the funnel draws its
  SQLs from the changed hazard, while behaviour follows the unchanged one (the leads want to
  buy as much as before; the channel's sales process got worse). The truth table is that of
  the changed hazard: a dropped lead's `ends_at` is when it was dropped, so p_sql, p_won, Λ
  and the oracle all include the change.
- new_source: the newcomer joins among the leads created from the moment on
  (population.draw_leads, the one place a source is drawn).
- event_type_stops: events of the type at or after the moment are not recorded; readiness,
  stages and every other event are exactly those of the run without drift.

Each scenario draws nothing unless chosen, so a run without drift writes what it always did;
and a chosen one draws from a side stream of the run's generator, so everything before the
drift is exactly the undrifted run's: a model trained on that history meets the same world.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from leadscore.simulator.behaviour import EVENT_CODES, Events
from leadscore.simulator.config import EventTypeDrift, SourceConversionDrift
from leadscore.simulator.hazard import Hazard


def side_stream(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own, spawned from `rng` without advancing `rng`'s stream."""
    return rng.spawn(1)[0]


def sales_hazard(
    rng: np.random.Generator,
    hazard: Hazard,
    sources: np.ndarray,
    drift: SourceConversionDrift,
    at: float,
) -> Hazard:
    """The hazard the funnel draws SQLs from: from day `at` on (or its creation, if later), a
    lead of the drift's source is dropped by sales with chance 1 − factor, its hazard 0 from
    then on, as after an unsubscribe (`ends`). Scaling the hazard instead would not halve
    conversion: a lead inside its ready window reaches SQL almost surely at half the hazard too.
    """
    dropped = (sources == drift.source) & (side_stream(rng).random(sources.size) >= drift.factor)
    drop_at = np.where(dropped, np.maximum(at, hazard.created), np.inf)
    return replace(hazard, ends=np.minimum(hazard.ends, drop_at))


def recorded(events: Events, drift: EventTypeDrift, at: float) -> Events:
    """The events that reach the events table: none of the drift's type from day `at` on."""
    keep = (events.kind != EVENT_CODES[drift.event_type]) | (events.ts < at)
    return Events(events.lead[keep], events.ts[keep], events.kind[keep], events.value[keep])
