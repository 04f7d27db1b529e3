"""Who the simulated leads are: created uniformly within each month, with attributes,
partner and owner that add up to their latent fit, and the terms of their deals.

A run in one piece draws each partner's quality and each rep's skill inline, where its stream
always has; a run in blocks (leadscore/simulator/blocks.py) draws them once (`Shared`) and
hands them to every block, so a partner or a rep is the same one in every block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features import contract as c
from leadscore.simulator.config import (
    PARTNER_SOURCE,
    LeadsConfig,
    Level,
    NewSourceDrift,
    SimulationConfig,
)
from leadscore.simulator.drift import side_stream
from leadscore.simulator.hazard import sigmoid
from leadscore.simulator.stages import Deals


@dataclass(frozen=True)
class Population:
    """The leads table and the latent values behind it, one array entry per lead."""

    leads: pl.DataFrame  # without created_at, which stays in days until the tables are built
    created: np.ndarray  # days since the start
    fit: np.ndarray  # log of the base hazard relative to hazard_base
    log_size: np.ndarray  # log(company_size / median)
    industry: np.ndarray  # codes into LeadsConfig.industries
    owner: np.ndarray  # codes of sales reps


@dataclass(frozen=True)
class Shared:
    """What every block of a run in blocks shares: each partner's quality, each rep's skill."""

    partner_quality: np.ndarray
    rep_skill: np.ndarray


@dataclass(frozen=True)
class Block:
    """Where one block's leads sit in a run in blocks: the number of its first lead, the day a
    new source joins (`--drift new_source`; inf: none) and what the blocks share."""

    first: int
    joins_at: float
    shared: Shared


def draw_shared(rng: np.random.Generator, config: SimulationConfig) -> Shared:
    """Partner qualities and rep skills for a run in blocks, from a stream of their own."""
    return Shared(
        partner_quality=rng.normal(0.0, config.leads.partner_quality_sd, config.leads.partners),
        rep_skill=rng.normal(0.0, config.deals.rep_skill_sd, config.leads.owners),
    )


def calendar(start: date, months: int) -> np.ndarray:
    """Days from `start` to the first of each of the next `months` months and the end."""
    bounds = (np.datetime64(start, "M") + np.arange(months + 1)).astype("datetime64[D]")
    return (bounds - np.datetime64(start, "D")).astype(float)


def draw_leads(
    rng: np.random.Generator,
    config: LeadsConfig,
    bounds: np.ndarray,
    per_month: int,
    newcomer: NewSourceDrift | None = None,
    block: Block | None = None,
) -> Population:
    """Leads created uniformly within each month; attributes, partner, owner and their fit.
    A `newcomer` source (`--drift new_source`) takes its share of the leads from its month on.
    With a `block`, the leads are that block's of a run in blocks (numbered from its first)."""
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
        if name == c.SOURCE and newcomer is not None:
            joins_at = block.joins_at if block else bounds[newcomer.from_month]
            since = created >= joins_at
            codes[name], levels = _joined(rng, codes[name], levels, since, newcomer)
        fit += np.array([level.effect for level in levels.values()])[codes[name]]
        columns[name] = pl.Series(name, list(levels)).gather(codes[name])
    volume = np.arange(1, config.partners + 1) ** -config.partner_skew
    partner = rng.choice(config.partners, size=n, p=volume / volume.sum())
    is_partner = columns[c.SOURCE].to_numpy() == PARTNER_SOURCE
    if block is None:
        quality = rng.normal(0.0, config.partner_quality_sd, config.partners)
    else:
        quality = block.shared.partner_quality
    fit += is_partner * quality[partner]
    size = rng.lognormal(np.log(config.company_size_median), config.company_size_sigma, n)
    size = np.maximum(1.0, np.round(size))
    log_size = np.log(size / config.company_size_median)
    fit += config.company_size_effect * log_size
    owner = rng.integers(config.owners, size=n)
    leads = pl.DataFrame(
        [
            _labels(c.LEAD_ID, "L", np.arange(n) + (block.first if block else 1), 7),
            columns.pop(c.SOURCE),
            _labels(c.PARTNER_ID, "P", partner + 1, 4).set(pl.Series(~is_partner), None),
            _labels(c.OWNER_ID, "rep_", owner + 1, 3),
            *columns.values(),
            pl.Series("company_size", size),
        ]
    )
    return Population(leads, created, fit, log_size, codes["industry"], owner)


def _joined(
    rng: np.random.Generator,
    codes: np.ndarray,
    sources: dict[str, Level],
    since: np.ndarray,
    newcomer: NewSourceDrift,
) -> tuple[np.ndarray, dict[str, Level]]:
    """Leads in `since` switch to the newcomer with chance `share`; the rest keep the source they
    drew, so the old sources keep their proportions among them. Drawn from a side stream, so
    every other draw is the undrifted run's."""
    joins = since & (side_stream(rng).random(codes.size) < newcomer.share)
    level = Level(share=newcomer.share, effect=newcomer.effect)
    return np.where(joins, len(sources), codes), {**sources, newcomer.source: level}


def _labels(name: str, prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Ids such as L0000042 or rep_007: a prefix and a zero-padded number."""
    return (prefix + pl.Series(numbers).cast(pl.String).str.zfill(width)).alias(name)


def draw_deals(
    rng: np.random.Generator,
    config: SimulationConfig,
    people: Population,
    shared: Shared | None = None,
) -> Deals:
    """Win rate from fit and the rep's skill; cycle and MRR grow with company size. A run in
    blocks passes the reps' skills it `shared`; one in a piece draws them here."""
    dc, lc = config.deals, config.leads
    skill = rng.normal(0.0, dc.rep_skill_sd, lc.owners) if shared is None else shared.rep_skill
    stretch = np.array([level.cycle for level in lc.industries.values()])[people.industry]
    # E[exp(k * log_size)] = exp((k * sigma)^2 / 2): divide it out to keep mrr_mean the mean.
    spread = (dc.mrr_size_slope * lc.company_size_sigma) ** 2 / 2
    return Deals(
        win_rate=sigmoid(dc.win_logit + dc.win_fit_slope * people.fit + skill[people.owner]),
        cycle_days=dc.cycle_days_median * np.exp(dc.cycle_size_slope * people.log_size) * stretch,
        mrr=dc.mrr_mean * np.exp(dc.mrr_size_slope * people.log_size - spread),
    )
