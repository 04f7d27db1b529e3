"""The behaviour of simulated leads: background activity, intent that follows the hazard,
and the activity of a deal.

Times are float days since the simulation start. Every function draws for all leads at once
(numpy, `np.repeat` over per-lead counts).

Behaviour never depends on a future SQL: high-intent events follow the lead's hazard itself,
so they rise where SQLs are likely (inside the ready window) without telling when the SQL
comes. That keeps the truth-table oracle the best possible forecast; a model on behaviour can
approach it but not beat it. Events that do follow an SQL (the trigger at the SQL instant,
sales calls during the deal) only ever lie at or after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import contract as c
from leadscore.simulator.config import BehaviourConfig
from leadscore.simulator.hazard import Hazard
from leadscore.simulator.stages import Funnel

EVENT_CODES = {event: code for code, event in enumerate(c.KNOWN_EVENT_TYPES)}
Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # lead rows, times, event type codes


@dataclass(frozen=True)
class Events:
    """Behaviour events as parallel arrays, unsorted: lead row, time, type code, value."""

    lead: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    value: np.ndarray


def _typed(rng: np.random.Generator, rates: dict[str, float], size: int) -> np.ndarray:
    """Event type codes drawn in proportion to `rates`."""
    codes = np.array([EVENT_CODES[k] for k in rates], np.int8)
    weights = np.array(list(rates.values()))
    return rng.choice(codes, size=size, p=weights / weights.sum())


def _background(
    rng: np.random.Generator,
    hazard: Hazard,
    stop: np.ndarray,
    activity: np.ndarray,
    cfg: BehaviourConfig,
) -> list[Part]:
    """Low-intent activity: a burst after creation decaying with age, plus a steady floor."""
    created, scale = hazard.created, cfg.burst_days
    life = stop - created
    reach = 1.0 - np.exp(-life / scale)
    burst = rng.poisson(activity * sum(cfg.burst_per_day.values()) * scale * reach)
    lead = np.repeat(np.arange(created.size), burst)
    ts = created[lead] - scale * np.log1p(-rng.random(lead.size) * reach[lead])
    parts = [(lead, ts, _typed(rng, cfg.burst_per_day, lead.size))]
    floor = rng.poisson(activity * sum(cfg.floor_per_day.values()) * life)
    lead = np.repeat(np.arange(created.size), floor)
    ts = created[lead] + rng.random(lead.size) * life[lead]
    parts.append((lead, ts, _typed(rng, cfg.floor_per_day, lead.size)))
    return parts


def _intent(
    rng: np.random.Generator,
    hazard: Hazard,
    stop: np.ndarray,
    loudness: np.ndarray,
    cfg: BehaviourConfig,
) -> Part:
    """High-intent events with intensity proportional to the hazard, placed by inverting Λ."""
    everyone = np.arange(stop.size)
    mass = hazard.cumulative(everyone, stop)
    count = rng.poisson(loudness * sum(cfg.intent_per_hazard.values()) * mass)
    lead = np.repeat(everyone, count)
    ts = hazard.time_at(lead, rng.random(lead.size) * mass[lead])
    return lead, ts, _typed(rng, cfg.intent_per_hazard, lead.size)


def _deal_activity(
    rng: np.random.Generator, funnel: Funnel, stop: np.ndarray, cfg: BehaviourConfig
) -> list[Part]:
    """The event that makes an SQL (at its instant), then sales calls until the deal closes."""
    lead, start = funnel.deal_lead, funnel.deal_start
    parts = [(lead, start, _typed(rng, cfg.sql_trigger, lead.size))]
    span = np.maximum(np.minimum(funnel.deal_stop, stop[lead]) - start, 0.0)
    calls = (span > 0) * (1 + rng.poisson(cfg.sales_calls_per_week * span / 7.0))
    call_lead = np.repeat(lead, calls)
    ts = np.repeat(start, calls) + rng.random(call_lead.size) * np.repeat(span, calls)
    parts.append(_fixed(call_lead, ts, "sales_call"))
    return parts


def _fixed(lead: np.ndarray, ts: np.ndarray, event: str) -> Part:
    return lead, ts, np.full(lead.size, EVENT_CODES[event], np.int8)


def draw_events(
    rng: np.random.Generator,
    hazard: Hazard,
    funnel: Funnel,
    fit: np.ndarray,
    end: float,
    config: BehaviourConfig,
) -> Events:
    """Every behaviour event of every lead, up to its unsubscribe, signing or the data's end."""
    n, b = fit.size, config
    stop = np.minimum(np.minimum(hazard.ends, funnel.won_at), end)
    activity = rng.lognormal(0.0, b.activity_sigma, n) * np.exp(b.activity_fit_slope * fit)
    loudness = rng.lognormal(-(b.intent_sigma**2) / 2, b.intent_sigma, n)
    parts = _background(rng, hazard, stop, activity / activity.mean(), config)
    parts.append(_intent(rng, hazard, stop, loudness, config))
    parts.extend(_deal_activity(rng, funnel, stop, config))
    lead, ts, kind = (np.concatenate(column) for column in zip(*parts, strict=True))
    attended = kind == EVENT_CODES["webinar_attended"]
    early = ts[attended] - rng.uniform(*config.registered_before_days, attended.sum())
    registered = np.maximum(early, hazard.created[lead[attended]])
    gone = np.flatnonzero(hazard.ends == stop)
    extra = [
        _fixed(lead[attended], registered, "webinar_registered"),
        _fixed(gone, stop[gone], "unsubscribe"),
    ]
    lead, ts, kind = (
        np.concatenate(column) for column in zip((lead, ts, kind), *extra, strict=True)
    )
    value = np.full(lead.size, np.nan)
    pages = kind == EVENT_CODES["page_view"]
    median, sigma = config.page_seconds_median, config.page_seconds_sigma
    value[pages] = np.round(rng.lognormal(np.log(median), sigma, pages.sum()))
    return Events(lead, ts, kind, value)
