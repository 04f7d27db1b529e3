"""A simulated sales funnel with a known truth, calibrated to the figures of configs/simulate.yaml.

Each lead gets static attributes that move a latent `fit`, and from it a piecewise-constant daily
SQL hazard h(s). SQL times are drawn from exactly that hazard, so the benchmarks can compare any
model with the best possible forecast. `run_simulation` writes four Parquet tables: leads,
events and stages (the data contract) and `truth`, which training never reads.

truth.parquet, one row per lead (times UTC, rounded down to the µs; days are 86,400 s):

- `lead_id`
- `hazard_base`  per-day SQL hazard outside the ready window
- `ready_at`     when a buying need arises; null: none within the data
- `ready_until`  end of the ready window (null with ready_at; may lie after the data's end)
- `hazard_ready` per-day hazard on [ready_at, ready_until) (what a need brings, had or not)
- `ready_days`   how long the lead's need lasts once it arises, drawn log-normal with
                 `ready_days_median` and `ready_days_sigma`
- `p_need`       the chance that a need arises at all; its onset after creation is exponential
                 with mean `need_now_days` (share `need_now_share`) or `need_later_days`.
                 These let an oracle integrate over a need that has not shown yet
                 (training/oracle.py) instead of knowing the future.
- `ends_at`      when the lead unsubscribes; hazard 0 from then on; null: not within the data
  (a lead that signed first writes no unsubscribe event: customers leave marketing lists)
- `p_sql`        1 - exp(-Λ(end)), end = start + months: the chance of an SQL within the data
- `win_rate`     the chance that a deal of this lead ends WON rather than LOST
- `p_won`        p_sql * win_rate: the chance that the first SQL within the data is won

With e = ends_at (null: +inf) and, where ready_at is null, the second term left out,
  Λ(u) = hazard_base * (min(u, e) - created_at) + (hazard_ready - hazard_base)
         * max(0, min(u, e, ready_until) - ready_at)           for u >= created_at, in days.
For a lead open at t (latest stage MQL or NURTURE; a LOST lead is open again once recycled),
the exact chance of reaching SQL within (t, t + H] is
  oracle(t, H) = 1 - exp(-(Λ(t + H) - Λ(t))).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import Field, field_validator
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features import contract as c
from features.config import FrozenConfig
from features.errors import LeadscoreError
from leadscore.simulate_events import (
    BehaviourConfig,
    Deals,
    Events,
    Funnel,
    FunnelConfig,
    Hazard,
    ReadinessConfig,
    draw_events,
    draw_funnel,
    draw_hazard,
    sigmoid,
    summarise,
)

PARTNER_SOURCE = "partner"
DAY_US = 86_400_000_000
MAX_LEADS = 9_999_999  # lead ids are L + 7 digits


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


class SimulationConfig(FrozenConfig):
    """configs/simulate.yaml: calibration targets and every generative parameter."""

    start: date
    targets: Targets
    leads: LeadsConfig
    readiness: ReadinessConfig
    deals: DealsConfig
    funnel: FunnelConfig
    behaviour: BehaviourConfig

    @field_validator("start")
    @classmethod
    def _first_of_month(cls, start: date) -> date:
        if start.day != 1:
            raise ValueError("must be the first day of a month")
        return start


@dataclass(frozen=True)
class Population:
    """The leads table and the latent values behind it, one array entry per lead."""

    leads: pl.DataFrame  # without created_at, which stays in days until the tables are built
    created: np.ndarray  # days since the start
    fit: np.ndarray  # log of the base hazard relative to hazard_base
    log_size: np.ndarray  # log(company_size / median)
    industry: np.ndarray  # codes into LeadsConfig.industries
    owner: np.ndarray  # codes of sales reps


def _calendar(start: date, months: int) -> np.ndarray:
    """Days from `start` to the first of each of the next `months` months and the end."""
    bounds = (np.datetime64(start, "M") + np.arange(months + 1)).astype("datetime64[D]")
    return (bounds - np.datetime64(start, "D")).astype(float)


def _draw_leads(
    rng: np.random.Generator, config: LeadsConfig, bounds: np.ndarray, per_month: int
) -> Population:
    """Leads created uniformly within each month; attributes, partner, owner and their fit."""
    month = np.repeat(np.arange(bounds.size - 1), per_month)
    created = np.sort(bounds[month] + rng.random(month.size) * np.diff(bounds)[month])
    n = created.size
    fit = rng.normal(0.0, config.fit_noise_sd, n)
    codes: dict[str, np.ndarray] = {}
    columns: dict[str, pl.Series] = {}
    categorical = {
        c.SOURCE: config.sources,
        "country": config.countries,
        "industry": config.industries,
        "business_model": config.business_models,
        "job_role": config.job_roles,
    }
    for name, levels in categorical.items():
        shares = np.array([level.share for level in levels.values()])
        codes[name] = rng.choice(len(levels), size=n, p=shares / shares.sum())
        fit += np.array([level.effect for level in levels.values()])[codes[name]]
        columns[name] = pl.Series(name, list(levels)).gather(codes[name])
    volume = np.arange(1, config.partners + 1) ** -config.partner_skew
    partner = rng.choice(config.partners, size=n, p=volume / volume.sum())
    is_partner = columns[c.SOURCE].to_numpy() == PARTNER_SOURCE
    fit += is_partner * rng.normal(0.0, config.partner_quality_sd, config.partners)[partner]
    size = rng.lognormal(np.log(config.company_size_median), config.company_size_sigma, n)
    size = np.maximum(1.0, np.round(size))
    log_size = np.log(size / config.company_size_median)
    fit += config.company_size_effect * log_size
    owner = rng.integers(config.owners, size=n)
    leads = pl.DataFrame(
        [
            _labels(c.LEAD_ID, "L", np.arange(1, n + 1), 7),
            columns.pop(c.SOURCE),
            _labels(c.PARTNER_ID, "P", partner + 1, 4).set(pl.Series(~is_partner), None),
            _labels(c.OWNER_ID, "rep_", owner + 1, 3),
            *columns.values(),
            pl.Series("company_size", size),
        ]
    )
    return Population(leads, created, fit, log_size, codes["industry"], owner)


def _labels(name: str, prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Ids such as L0000042 or rep_007: a prefix and a zero-padded number."""
    return (prefix + pl.Series(numbers).cast(pl.String).str.zfill(width)).alias(name)


def _draw_deals(rng: np.random.Generator, config: SimulationConfig, people: Population) -> Deals:
    """Win rate from fit and the rep's skill; cycle and MRR grow with company size."""
    dc, lc = config.deals, config.leads
    skill = rng.normal(0.0, dc.rep_skill_sd, lc.owners)
    stretch = np.array([level.cycle for level in lc.industries.values()])[people.industry]
    # E[exp(k * log_size)] = exp((k * sigma)^2 / 2): divide it out to keep mrr_mean the mean.
    spread = (dc.mrr_size_slope * lc.company_size_sigma) ** 2 / 2
    return Deals(
        win_rate=sigmoid(dc.win_logit + dc.win_fit_slope * people.fit + skill[people.owner]),
        cycle_days=dc.cycle_days_median * np.exp(dc.cycle_size_slope * people.log_size) * stretch,
        mrr=dc.mrr_mean * np.exp(dc.mrr_size_slope * people.log_size - spread),
    )


def run_simulation(
    config: SimulationConfig, out_dir: Path, months: int, leads_per_month: int, seed: int
) -> dict[str, float]:
    """Simulate `months` of leads into `out_dir`, print the funnel, return its figures."""
    _check_args(out_dir, months, leads_per_month, seed)
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    bounds = _calendar(config.start, months)
    end = bounds[-1]
    columns = (TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("drawing leads", total=5)
        people = _draw_leads(rng, config.leads, bounds, leads_per_month)
        hazard = draw_hazard(rng, config.readiness, people.created, people.fit, end)
        deals = _draw_deals(rng, config, people)
        progress.update(task, advance=1, description="drawing SQLs and stages")
        funnel = draw_funnel(rng, hazard, deals, end, config.funnel)
        progress.update(task, advance=1, description="drawing behaviour")
        events = draw_events(rng, hazard, funnel, people.fit, end, config.behaviour)
        progress.update(task, advance=1, description="building tables")
        tables = _tables(people, hazard, deals, funnel, events, end, config)
        progress.update(task, advance=1, description="writing Parquet")
        _write(out_dir, tables)
        progress.update(task, advance=1, description="done")
    summary = summarise(hazard, funnel, events, time.perf_counter() - began)
    _print_summary(summary, config.targets)
    return summary


def _check_args(out_dir: Path, months: int, leads_per_month: int, seed: int) -> None:
    for option, value, least in (
        ("--months", months, 1),
        ("--leads-per-month", leads_per_month, 10),
        ("--seed", seed, 0),
    ):
        if value < least:
            raise LeadscoreError(f"{option} must be at least {least}, got {value}")
    if months * leads_per_month > MAX_LEADS:
        raise LeadscoreError(
            f"--months × --leads-per-month makes {months * leads_per_month:,} leads; "
            f"at most {MAX_LEADS:,}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise LeadscoreError(f"--out {out_dir} exists and is not a folder")
    try:  # now, not after a minute of simulating
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = f"cannot create the folder ({exc.strerror})"
        raise LeadscoreError(f"--out {out_dir}: {problem}") from None


def _stamps(name: str, days: np.ndarray, start: date) -> pl.Series:
    """Float days since start to UTC microsecond timestamps (rounded down); inf becomes null."""
    origin = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * 1_000_000
    finite = np.isfinite(days)
    us = origin + np.floor(np.where(finite, days, 0.0) * DAY_US).astype(np.int64)
    stamps = pl.Series(name, us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return stamps if finite.all() else stamps.set(pl.Series(~finite), None)


def _tables(
    people: Population,
    hazard: Hazard,
    deals: Deals,
    funnel: Funnel,
    events: Events,
    end: float,
    config: SimulationConfig,
) -> dict[str, pl.DataFrame]:
    """The four tables in writing order (leads last), rows sorted so that reruns match bytes."""
    ids = people.leads[c.LEAD_ID]
    start, readiness = config.start, config.readiness
    p_sql = 1.0 - np.exp(-hazard.cumulative(np.arange(ids.len()), np.full(ids.len(), end)))
    truth = pl.DataFrame(
        [
            ids,
            pl.Series("hazard_base", hazard.base),
            _stamps("ready_at", hazard.ready_at, start),
            _stamps("ready_until", hazard.ready_until, start),
            pl.Series("hazard_ready", hazard.need_ready),
            pl.Series("ready_days", hazard.window),
            pl.Series("p_need", hazard.p_need),
            pl.Series("need_now_share", np.full(ids.len(), readiness.need_now_share)),
            pl.Series("need_now_days", np.full(ids.len(), readiness.need_now_days)),
            pl.Series("need_later_days", np.full(ids.len(), readiness.need_later_days)),
            pl.Series("ready_days_median", np.full(ids.len(), readiness.ready_days_median)),
            pl.Series("ready_days_sigma", np.full(ids.len(), readiness.ready_days_sigma)),
            _stamps("ends_at", hazard.ends, start),
            pl.Series("p_sql", p_sql),
            pl.Series("win_rate", deals.win_rate),
            pl.Series("p_won", p_sql * deals.win_rate),
        ]
    )
    event_table = (
        pl.DataFrame(
            [
                pl.Series("lead", events.lead.astype(np.int32)),
                _stamps(c.TS, events.ts, start),
                pl.Series("kind", events.kind),
                pl.Series(c.VALUE, events.value, nan_to_null=True),
            ]
        )
        .sort("lead", c.TS, "kind")
        .select(
            pl.lit(ids).gather("lead").alias(c.LEAD_ID),
            c.TS,
            pl.lit(pl.Series(c.KNOWN_EVENT_TYPES)).gather("kind").alias(c.EVENT_TYPE),
            c.VALUE,
        )
    )
    stages = pl.DataFrame(
        [
            ids.gather(funnel.lead),
            _stamps(c.TS, funnel.ts, start),
            pl.Series(c.STAGE, c.STAGE_VALUES).gather(funnel.stage),
            pl.Series(c.MRR, funnel.mrr, nan_to_null=True),
        ]
    )
    leads = people.leads.insert_column(1, _stamps(c.CREATED_AT, people.created, start))
    return {c.TRUTH: truth, c.EVENTS: event_table, c.STAGES: stages, c.LEADS: leads}


def _write(out_dir: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Write each table under a temporary name, then rename them all, leads.parquet last.

    The old leads.parquet goes first: until the new one lands, the folder fails check_folder
    instead of mixing the tables of two runs.
    """
    try:
        (out_dir / f"{c.LEADS}.parquet").unlink(missing_ok=True)
        partial = {name: out_dir / f".{name}.parquet.partial" for name in tables}
        for name, frame in tables.items():
            frame.write_parquet(partial[name])
        for name, path in partial.items():
            os.replace(path, out_dir / f"{name}.parquet")
    except OSError as exc:
        raise LeadscoreError(f"--out {out_dir}: cannot write ({exc.strerror})") from None


def _print_summary(s: dict[str, float], t: Targets) -> None:
    scale, pct = s["leads"] / t.leads, "{:.1%}".format
    rows = [
        ("leads", f"{s['leads']:,}", ""),
        ("MQL", f"{s['mql']:,}", ""),
        ("webinar attended", pct(s["webinar_attended_share"]), pct(t.webinar_attended_share)),
        ("SQL", pct(s["sql_share"]), ""),
        ("WON", pct(s["won_share"]), ""),
        ("attended → WON", pct(s["attended_won_share"]), pct(t.attended_won_share)),
        ("mean MRR (PLN)", f"{s['mean_mrr']:,.0f}", f"{t.mean_mrr:,.0f}"),
        ("median days to contract", f"{s['median_days_to_contract']:.0f}", ""),
        ("nurture pool", f"{s['nurture_pool']:,}", f"{t.nurture_pool * scale:,.0f}"),
        ("open deals", f"{s['open_deals']:,}", ""),
        ("events", f"{s['events']:,}", f"{t.events * scale:,.0f}"),
        ("elapsed (s)", f"{s['seconds']:.1f}", ""),
    ]
    table = Table(title="Simulated funnel")
    for name in ("", "simulated", "calibrated to"):
        table.add_column(name, justify="right" if name else "left")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
