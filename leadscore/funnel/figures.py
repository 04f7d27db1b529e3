"""Funnel economics — "sales is simple math" — computed from a data folder as of a moment.

The sales organisation steers by a handful of figures: stage-to-stage conversion, deal
velocity, MRR, customer lifetime value and what a customer may cost to win. Managers quote
them from memory; `funnel_figures` recomputes them from their own data so the two can be set
side by side, with Wilson intervals wherever a figure rests on few leads (a partner with 3
leads and 1 deal is not the best partner). Pure: LeadData in, frozen results out. What is
counted is defined once in `leadscore/funnel/facts.py`; velocity and the nurture pool are in
`leadscore/funnel/velocity.py`, the model-routing comparison in `leadscore/funnel/routing.py`,
printing, files and MLflow in `leadscore/funnel/report.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator

from features import contract as c
from features.config import FrozenConfig
from features.errors import LeadscoreError
from features.tables import LeadData
from leadscore.funnel.facts import COUNTS, NAN, Rate, lead_facts, wilson
from leadscore.funnel.velocity import Nurture, Velocity, nurture, velocity
from training.policy import EconomicsConfig

Row = dict[str, Any]


class RoutingRule(FrozenConfig):
    """A one-line routing rule: rank leads by one point-in-time feature of the champion's spec.

    With `min_value` the rule is a yes/no flag (feature ≥ min_value first, ties in random
    order); with `min_value: null`, leads are ranked by the feature's value.
    """

    name: str = Field(min_length=1)
    feature: str = Field(min_length=1, description="a feature name, e.g. pricing_view_count_7d")
    min_value: float | None = 1.0


class FunnelConfig(FrozenConfig):
    """configs/funnel.yaml: how partners are ranked, the rules to beat."""

    ci_level: float = Field(0.95, gt=0, lt=1, description="Wilson interval confidence level")
    min_partner_leads: int = Field(20, ge=1, description="partners with fewer are not ranked")
    partner_rank: Literal["lower_bound", "rate"] = "lower_bound"
    partners_shown: int = Field(10, ge=1, description="top and bottom partners listed")
    nurture_age_days: tuple[int, ...] = Field((30, 90, 180, 365), min_length=1)
    cost_per_lead_pln: dict[str, float] = Field(
        default_factory=dict, description="what a lead of each source costs, where known"
    )
    rules: tuple[RoutingRule, ...] = Field((), description="simple routing rules to beat")
    capacity_multiples: tuple[float, ...] = Field(
        (0.25, 0.5, 1.0, 2.0, 4.0), min_length=1, description="capture-vs-capacity curve"
    )

    @field_validator("nurture_age_days")
    @classmethod
    def _increasing(cls, edges: tuple[int, ...]) -> tuple[int, ...]:
        if edges[0] <= 0 or any(a >= b for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError("must be positive and strictly increasing, e.g. [30, 90, 180, 365]")
        return edges

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[RoutingRule, ...]) -> tuple[RoutingRule, ...]:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique, got {names}")
        return rules

    @field_validator("capacity_multiples")
    @classmethod
    def _positive(cls, multiples: tuple[float, ...]) -> tuple[float, ...]:
        if any(m <= 0 for m in multiples):
            raise ValueError("every multiple of the sales capacity must be positive")
        return tuple(sorted(set(multiples)))


@dataclass(frozen=True)
class Step:
    name: str
    rate: Rate


@dataclass(frozen=True)
class Group:
    """Conversion of one group of leads (a source, a partner, a monthly cohort)."""

    key: str
    leads: int
    mql: Rate
    sql: Rate
    contract: Rate
    attended: Rate


@dataclass(frozen=True)
class SourceEconomics:
    """One row of "which sources pay for themselves": conversion next to value per lead."""

    group: Group
    mrr_mean_pln: float
    clv_pln: float
    value_per_lead_pln: float
    allowable_cost_per_lead_pln: float
    cost_per_lead_pln: float | None
    pays_for_itself: bool | None


@dataclass(frozen=True)
class Partners:
    partners: int
    ranked: int
    min_leads: int
    rank_by: str
    top: tuple[Group, ...]
    bottom: tuple[Group, ...]


@dataclass(frozen=True)
class Economics:
    """MRR, CLV = MRR × lifetime, and what winning a customer may cost at the margin target."""

    contracts: int
    mrr_mean_pln: float
    mrr_config_pln: float
    mrr_from: str
    lifetime_months: float
    lifetime_from: str
    clv_pln: float
    margin: float
    allowable_acquisition_cost_pln: float
    value_per_lead_pln: float
    allowable_cost_per_lead_pln: float


@dataclass(frozen=True)
class FunnelFigures:
    as_of: datetime
    leads: int
    steps: tuple[Step, ...]
    webinar: tuple[Step, ...]
    sources: tuple[SourceEconomics, ...]
    partners: Partners | None
    cohorts: tuple[Group, ...]
    velocity: Velocity
    economics: Economics
    nurture: Nurture


# (name, hits, out of), columns of COUNTS: "X → Y" is the share of those reaching X that reach Y.
STEPS = (
    ("lead → MQL", "mql", "leads"),
    ("MQL → SQL", "sql", "mql"),
    ("SQL → contract", "won", "sql"),
    ("lead → contract", "won", "leads"),
)
WEBINAR_STEPS = (
    ("lead → webinar registered", "registered", "leads"),
    ("registered → attended", "reg_att", "registered"),
    ("lead → webinar attended", "attended", "leads"),
    ("attended → contract", "att_won", "attended"),
)


def funnel_figures(
    data: LeadData, as_of: datetime | None, config: FunnelConfig, economics: EconomicsConfig
) -> FunnelFigures:
    """Every figure of the report but the model's, from what was known before `as_of`
    (default: everything, as of the data's end)."""
    data, moment = data.as_of(as_of)
    if data.leads.height == 0:
        raise LeadscoreError(f"no lead was created before --as-of {moment.isoformat()}")
    facts = lead_facts(data)
    level = config.ci_level
    totals = facts.select(**COUNTS).row(0, named=True)
    has_webinars = totals["registered"] + totals["attended"] > 0
    money = _economics(data, totals, economics)
    return FunnelFigures(
        as_of=moment,
        leads=facts.height,
        steps=_steps(STEPS, totals, level),
        webinar=_steps(WEBINAR_STEPS, totals, level) if has_webinars else (),
        sources=tuple(
            _source_row(group, row, money, config) for group, row in _groups(facts, c.SOURCE, level)
        ),
        partners=_partners(facts, config),
        cohorts=tuple(group for group, _ in _groups(facts, "cohort", level)),
        velocity=velocity(facts, moment),
        economics=money,
        nurture=nurture(facts, moment, config.nurture_age_days, level),
    )


def _steps(steps: tuple[tuple[str, str, str], ...], totals: Row, level: float) -> tuple[Step, ...]:
    return tuple(Step(name, wilson(totals[k], totals[n], level)) for name, k, n in steps)


def _groups(facts: pl.DataFrame, by: str, level: float) -> list[tuple[Group, Row]]:
    """Conversion per value of `by` (nulls left out), with the raw counts for economics."""
    counts = facts.filter(pl.col(by).is_not_null()).group_by(by).agg(**COUNTS).sort(by)
    return [
        (
            Group(
                str(row[by]),
                row["leads"],
                *(wilson(row[k], row["leads"], level) for k in ("mql", "sql", "won", "attended")),
            ),
            row,
        )
        for row in counts.iter_rows(named=True)
    ]


def _economics(data: LeadData, totals: Row, economics: EconomicsConfig) -> Economics:
    """MRR from the data's WON rows; lifetime from configs/economics.yaml, because the data
    contract records no churn. CLV × (1 − margin) is what winning and serving may cost."""
    won = data.stages.filter(pl.col(c.STAGE) == c.WON)
    from_data = won.height > 0
    mrr = float(won[c.MRR].mean()) if from_data else economics.mrr_pln
    clv = mrr * economics.lifetime_months
    value_per_lead = totals["mrr"] / totals["leads"] * economics.lifetime_months
    return Economics(
        contracts=won.height,
        mrr_mean_pln=mrr,
        mrr_config_pln=economics.mrr_pln,
        mrr_from="data" if from_data else "config (no WON rows)",
        lifetime_months=economics.lifetime_months,
        lifetime_from="config (the data has no churn)",
        clv_pln=clv,
        margin=economics.margin,
        allowable_acquisition_cost_pln=clv * (1 - economics.margin),
        value_per_lead_pln=value_per_lead,
        allowable_cost_per_lead_pln=value_per_lead * (1 - economics.margin),
    )


def _source_row(group: Group, row: Row, money: Economics, config: FunnelConfig) -> SourceEconomics:
    """A source's customers are worth their own MRR × lifetime; a lead of it, the MRR its
    leads signed divided by its leads, × lifetime (= conversion × MRR × lifetime)."""
    mrr = row["mrr"] / row["won"] if row["won"] else NAN
    value = row["mrr"] / row["leads"] * money.lifetime_months
    allowable = value * (1 - money.margin)
    cost = config.cost_per_lead_pln.get(group.key)
    return SourceEconomics(
        group=group,
        mrr_mean_pln=mrr,
        clv_pln=mrr * money.lifetime_months,
        value_per_lead_pln=value,
        allowable_cost_per_lead_pln=allowable,
        cost_per_lead_pln=cost,
        pays_for_itself=None if cost is None else allowable >= cost,
    )


def _partners(facts: pl.DataFrame, config: FunnelConfig) -> Partners | None:
    """Top and bottom partners by lead → contract; partners with few leads are not ranked.

    `lower_bound` ranks the top by the Wilson lower bound and the bottom by the upper bound,
    so a partner needs evidence, not luck, to lead either list; `rate` ranks by the rate.
    The bottom list leaves out partners already in the top one.
    """
    groups = [group for group, _ in _groups(facts, "pid", config.ci_level)]
    if not groups:
        return None
    ranked = [g for g in groups if g.leads >= config.min_partner_leads]
    by_bound = config.partner_rank == "lower_bound"
    top = sorted(
        ranked, key=lambda g: (-(g.contract.low if by_bound else g.contract.rate), -g.leads)
    )[: config.partners_shown]
    shown = {g.key for g in top}
    bottom = sorted(
        (g for g in ranked if g.key not in shown),
        key=lambda g: (g.contract.high if by_bound else g.contract.rate, -g.leads),
    )
    return Partners(
        partners=len(groups),
        ranked=len(ranked),
        min_leads=config.min_partner_leads,
        rank_by=config.partner_rank,
        top=tuple(top),
        bottom=tuple(bottom[: config.partners_shown]),
    )
