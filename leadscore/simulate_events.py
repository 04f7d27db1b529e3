"""What happens to simulated leads over time: SQLs drawn from their hazard, stages, behaviour.

Times are float days since the simulation start; `inf` means "never". Every function draws
for all leads at once (numpy, `np.repeat` over per-lead counts); the only loop is over deal
rounds, which ends when no lead is left at risk before the end of the data.

Behaviour never depends on a future SQL: high-intent events follow the lead's hazard itself,
so they rise where SQLs are likely (inside the ready window) without telling when the SQL
comes. That keeps the truth-table oracle the best possible forecast; a model on behaviour can
approach it but not beat it. Events that do follow an SQL (the trigger at the SQL instant,
sales calls during the deal) only ever lie at or after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, field_validator

from features import contract as c
from features.config import FrozenConfig

STAGE_CODES = {stage: code for code, stage in enumerate(c.STAGE_VALUES)}
EVENT_CODES = {event: code for code, event in enumerate(c.KNOWN_EVENT_TYPES)}
_Span = tuple[float, float]
Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # lead rows, times, event type codes


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _known_events(rates: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(rates) - set(EVENT_CODES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_CODES)}")
    return rates


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


class FunnelConfig(FrozenConfig):
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


@dataclass(frozen=True)
class Hazard:
    """Each lead's daily SQL hazard: `base`, `ready` on [ready_at, ready_until), 0 from `ends`.

    `cumulative` is Λ(t) = ∫ h from creation to t; `time_at` inverts it, which turns an
    Exp(1) draw into an exact sample of the next SQL (inverse-transform per constant piece).
    """

    created: np.ndarray
    base: np.ndarray
    ready_at: np.ndarray  # inf: no buying need within the data
    ready_until: np.ndarray
    ready: np.ndarray  # 0 where there is no ready window
    ends: np.ndarray  # inf: never unsubscribes within the data
    p_need: np.ndarray  # chance the lead ever has a buying need
    need_ready: np.ndarray  # hazard a need would bring, whether or not one arises
    window: np.ndarray  # days a need lasts

    def _knots(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """Breakpoints p1 <= p2 <= ends and Λ at each, for the leads `idx`."""
        ends = self.ends[idx]
        p1 = np.minimum(self.ready_at[idx], ends)
        p2 = np.minimum(self.ready_until[idx], ends)
        base, ready = self.base[idx], self.ready[idx]
        with np.errstate(invalid="ignore"):  # inf - inf where a piece never starts
            l1 = base * (p1 - self.created[idx])
            l2 = l1 + ready * np.where(p2 > p1, p2 - p1, 0.0)
            l3 = l2 + base * np.where(ends > p2, ends - p2, 0.0)
        return p1, p2, ends, l1, l2, l3

    def cumulative(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Λ(t) for leads `idx` at finite times t >= their creation."""
        p1, p2, ends, l1, l2, l3 = self._knots(idx)
        base, ready = self.base[idx], self.ready[idx]
        with np.errstate(invalid="ignore"):
            pieces = [base * (t - self.created[idx]), l1 + ready * (t - p1), l2 + base * (t - p2)]
            return np.select([t < p1, t < p2, t < ends], pieces, l3)

    def time_at(self, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The time t where Λ(t) = y; inf where the hazard ends before reaching y."""
        p1, p2, ends, l1, l2, l3 = self._knots(idx)
        base, ready = self.base[idx], self.ready[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            pieces = [self.created[idx] + y / base, p1 + (y - l1) / ready, p2 + (y - l2) / base]
            return np.select([y < l1, y < l2, y < l3], pieces, np.inf)


def draw_hazard(
    rng: np.random.Generator, r: ReadinessConfig, created: np.ndarray, fit: np.ndarray, end: float
) -> Hazard:
    """Base hazard from fit; a ready window for leads whose need arises in time; unsubscribes."""
    n = created.size
    p_need = sigmoid(r.need_logit + r.need_fit_slope * fit)
    need = rng.random(n) < p_need
    delay = np.where(rng.random(n) < r.need_now_share, r.need_now_days, r.need_later_days)
    ready_at = created + rng.exponential(delay)
    ready_at = np.where(need & (ready_at < end), ready_at, np.inf)
    window = rng.lognormal(np.log(r.ready_days_median), r.ready_days_sigma, n)
    ready = r.hazard_ready * np.exp(r.hazard_ready_fit_slope * fit)
    quits = created + rng.exponential(365.0 / r.unsubscribe_per_year, n) * np.exp(
        -r.unsubscribe_fit_slope * fit
    )
    return Hazard(
        created=created,
        base=r.hazard_base * np.exp(fit),
        ready_at=ready_at,
        ready_until=ready_at + window,
        ready=np.where(np.isfinite(ready_at), ready, 0.0),
        ends=np.where(quits < end, quits, np.inf),
        p_need=p_need,
        need_ready=ready,
        window=window,
    )


@dataclass(frozen=True)
class Deals:
    """Per-lead deal terms: chance to win a deal, median deal length, mean MRR."""

    win_rate: np.ndarray
    cycle_days: np.ndarray
    mrr: np.ndarray


@dataclass(frozen=True)
class Funnel:
    """Stage rows sorted by (lead, time, stage), every deal, and each lead's signing time."""

    lead: np.ndarray
    ts: np.ndarray
    stage: np.ndarray  # codes into contract.STAGE_VALUES
    mrr: np.ndarray  # NaN except on WON rows
    deal_lead: np.ndarray
    deal_start: np.ndarray  # the SQL
    deal_stop: np.ndarray  # WON/LOST, or the end of the data for open deals
    won_at: np.ndarray  # inf: not signed within the data


def _next_sql(
    rng: np.random.Generator, hazard: Hazard, idx: np.ndarray, since: np.ndarray
) -> np.ndarray:
    """The first SQL after `since`: the hazard's own clock moved on by an Exp(1) draw."""
    return hazard.time_at(idx, hazard.cumulative(idx, since) + rng.exponential(size=idx.size))


def draw_funnel(
    rng: np.random.Generator, hazard: Hazard, deals: Deals, end: float, config: FunnelConfig
) -> Funnel:
    """MQL at creation, NURTURE when idle, then deal rounds until nobody is at risk."""
    n = hazard.created.size
    rows: list[tuple[np.ndarray, np.ndarray, int, np.ndarray | None]] = []
    deal_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    won_at = np.full(n, np.inf)
    idx, since = np.arange(n), hazard.created
    sql = _next_sql(rng, hazard, idx, since)
    parked = since + rng.uniform(*config.nurture_after_days, size=n)
    idle = parked < np.minimum(sql, end)
    rows.append((idx, since, STAGE_CODES[c.MQL], None))
    rows.append((idx[idle], parked[idle], STAGE_CODES[c.NURTURE], None))
    while idx.size:
        keep = sql < end
        idx, sql = idx[keep], sql[keep]
        close = sql + deals.cycle_days[idx] * rng.lognormal(0.0, config.cycle_sigma, idx.size)
        won = (close < end) & (rng.random(idx.size) < deals.win_rate[idx])
        lost = (close < end) & ~won
        sigma = config.mrr_sigma
        mrr = np.round(deals.mrr[idx[won]] * rng.lognormal(-sigma * sigma / 2, sigma, won.sum()))
        rows.append((idx, sql, STAGE_CODES[c.SQL], None))
        rows.append((idx[won], close[won], STAGE_CODES[c.WON], mrr))
        rows.append((idx[lost], close[lost], STAGE_CODES[c.LOST], None))
        deal_rows.append((idx, sql, np.minimum(close, end)))
        won_at[idx[won]] = close[won]
        since = close[lost] + rng.uniform(*config.recycle_days, size=lost.sum())
        back = since < end
        idx, since = idx[lost][back], since[back]
        rows.append((idx, since, STAGE_CODES[c.NURTURE], None))
        sql = _next_sql(rng, hazard, idx, since)
    lead = np.concatenate([r[0] for r in rows])
    ts = np.concatenate([r[1] for r in rows])
    stage = np.concatenate([np.full(r[0].size, r[2], np.int8) for r in rows])
    mrr = np.concatenate([np.full(r[0].size, np.nan) if r[3] is None else r[3] for r in rows])
    order = np.lexsort((stage, ts, lead))
    deal_lead, deal_start, deal_stop = (np.concatenate(d) for d in zip(*deal_rows, strict=True))
    return Funnel(
        lead[order], ts[order], stage[order], mrr[order], deal_lead, deal_start, deal_stop, won_at
    )


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


def summarise(hazard: Hazard, funnel: Funnel, events: Events, seconds: float) -> dict[str, float]:
    """Funnel figures from the drawn arrays (every lead has an MQL row, so a latest stage)."""
    n = hazard.created.size
    latest = funnel.stage[np.r_[np.flatnonzero(np.diff(funnel.lead)), funnel.lead.size - 1]]
    attended = np.zeros(n, bool)
    attended[events.lead[events.kind == EVENT_CODES["webinar_attended"]]] = True
    won = np.isfinite(funnel.won_at)
    mrr = funnel.mrr[funnel.stage == STAGE_CODES[c.WON]]
    days = funnel.won_at[won] - hazard.created[won]
    return {
        "leads": n,
        "mql": int((funnel.stage == STAGE_CODES[c.MQL]).sum()),
        "webinar_attended_share": float(attended.mean()),
        "sql_share": np.unique(funnel.deal_lead).size / n,
        "won_share": float(won.mean()),
        "attended_won_share": float((attended & won).sum() / max(attended.sum(), 1)),
        "mean_mrr": float(mrr.mean()) if mrr.size else float("nan"),
        "median_days_to_contract": float(np.median(days)) if days.size else float("nan"),
        "nurture_pool": int((latest == STAGE_CODES[c.NURTURE]).sum()),
        "open_deals": int((latest == STAGE_CODES[c.SQL]).sum()),
        "events": events.lead.size,
        "seconds": seconds,
    }
