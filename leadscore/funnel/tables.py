"""The funnel report's tables as rows of strings, built once for the terminal and the HTML.

Keeping the layout here (and the rendering in `leadscore/funnel/report.py`) means the rich
tables and the HTML page cannot disagree on a figure or its rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from leadscore.funnel.facts import Rate
from leadscore.funnel.figures import FunnelFigures, Group, Partners
from leadscore.funnel.routing import Capture, RoutingValue

Cells = tuple[str, ...]


@dataclass(frozen=True)
class Table:
    title: str
    headers: Cells
    rows: tuple[Cells, ...]


def pct(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1%}"


def interval(rate: Rate) -> str:
    return "—" if math.isnan(rate.rate) else f"{rate.low:.1%}–{rate.high:.1%}"


def num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "—"
    return "∞" if math.isinf(value) else f"{value:,.{digits}f}"


def _of(rate: Rate) -> str:
    return f"{rate.hits:,} / {rate.total:,} = {pct(rate.rate)}"


def tables(f: FunnelFigures, routing: RoutingValue | None) -> list[Table]:
    """Every table of the report, in reading order."""
    out = [_conversion(f), _money(f), *_sources(f)]
    if f.partners is not None:
        out += _partners(f.partners)
    out += [_cohorts(f), _velocity(f), _nurture(f)]
    if routing is not None:
        out.append(_routing(routing))
    return out


def _conversion(f: FunnelFigures) -> Table:
    rows = tuple(
        (s.name, f"{s.rate.hits:,}", f"{s.rate.total:,}", pct(s.rate.rate), interval(s.rate))
        for s in (*f.steps, *f.webinar)
    )
    return Table(
        f"Conversion as of {f.as_of:%Y-%m-%d %H:%M} UTC ({f.leads:,} leads)",
        ("step", "reached", "out of", "rate", "interval"),
        rows,
    )


def _money(f: FunnelFigures) -> Table:
    m = f.economics
    rows = (
        ("contracts (WON rows)", f"{m.contracts:,}", "data"),
        ("mean MRR, PLN", num(m.mrr_mean_pln), m.mrr_from),
        ("MRR in configs/economics.yaml, PLN", num(m.mrr_config_pln), "config"),
        ("customer lifetime, months", num(m.lifetime_months, 1), m.lifetime_from),
        ("CLV = MRR × lifetime, PLN", num(m.clv_pln), ""),
        (
            f"may cost to win and serve (margin {m.margin:.0%}), PLN",
            num(m.allowable_acquisition_cost_pln),
            "CLV × (1 − margin)",
        ),
        ("value of a lead, PLN", num(m.value_per_lead_pln), "MRR won / leads × lifetime"),
        ("a lead may cost, PLN", num(m.allowable_cost_per_lead_pln), "value × (1 − margin)"),
    )
    return Table("Money: sales is simple math", ("figure", "value", "from"), rows)


def _sources(f: FunnelFigures) -> list[Table]:
    """Two tables, so each fits a terminal: conversion, then what a lead is worth."""
    conversion = tuple(
        (
            s.group.key,
            f"{s.group.leads:,}",
            pct(s.group.attended.rate),
            pct(s.group.sql.rate),
            pct(s.group.contract.rate),
            interval(s.group.contract),
        )
        for s in f.sources
    )
    pays = {None: "—", True: "yes", False: "no"}
    money = tuple(
        (
            s.group.key,
            pct(s.group.contract.rate),
            num(s.mrr_mean_pln),
            num(s.value_per_lead_pln),
            num(s.allowable_cost_per_lead_pln),
            num(s.cost_per_lead_pln),
            pays[s.pays_for_itself],
        )
        for s in f.sources
    )
    margin = f"{f.economics.margin:.0%}"
    return [
        Table(
            "Conversion by source",
            ("source", "leads", "webinar attended", "SQL", "contract", "interval"),
            conversion,
        ),
        Table(
            f"Which sources pay for themselves (PLN; a lead may cost its value × (1 − {margin}))",
            ("source", "contract", "MRR", "value/lead", "may cost", "costs", "pays"),
            money,
        ),
    ]


def _partners(p: Partners) -> list[Table]:
    how = "lower/upper interval bound" if p.rank_by == "lower_bound" else "rate"
    out = []
    for side, groups in (("top", p.top), ("bottom", p.bottom)):
        rows = tuple(
            (
                g.key,
                f"{g.leads:,}",
                f"{g.contract.hits:,}",
                pct(g.contract.rate),
                interval(g.contract),
            )
            for g in groups
        )
        out.append(
            Table(
                f"Partners, {side} {len(groups)} by lead → contract ({how}; {p.ranked} of "
                f"{p.partners} partners have ≥ {p.min_leads} leads)",
                ("partner", "leads", "contracts", "rate", "interval"),
                rows,
            )
        )
    return out


def _cohort_row(g: Group) -> Cells:
    return (
        g.key,
        f"{g.leads:,}",
        pct(g.attended.rate),
        pct(g.sql.rate),
        pct(g.contract.rate),
        interval(g.contract),
    )


def _cohorts(f: FunnelFigures) -> Table:
    return Table(
        "Monthly cohorts (recent ones have had less time to convert)",
        ("cohort", "leads", "webinar attended", "SQL", "contract", "interval"),
        tuple(_cohort_row(g) for g in f.cohorts),
    )


def _velocity(f: FunnelFigures) -> Table:
    v = f.velocity
    naive = (num(v.median_days, 1), num(v.q1_days, 1), num(v.q3_days, 1))
    km = (num(v.km_median_days, 1), num(v.km_q1_days, 1), num(v.km_q3_days, 1))
    return Table(
        "Deal velocity: days from lead to contract",
        ("estimate", "deals", "median", "Q1", "Q3"),
        (
            ("signed deals only", f"{v.signed:,}", *naive),
            (f"Kaplan-Meier, {v.open:,} open deals censored", f"{v.signed + v.open:,}", *km),
        ),
    )


def _nurture(f: FunnelFigures) -> Table:
    n = f.nurture
    age = f"{num(n.age_median_days)} ({num(n.age_q1_days)} – {num(n.age_q3_days)})"
    rows = (
        ("leads whose latest stage is NURTURE", f"{n.pool:,}"),
        ("share of all leads", pct(n.share_of_leads)),
        ("age in days, median (Q1 – Q3)", age),
        *((f"aged {label}", f"{count:,}") for label, count in n.age_buckets),
        ("ever nurtured, then signed", _of(n.nurtured_signed)),
        ("  interval", interval(n.nurtured_signed)),
        ("recycled after SQL/LOST, then signed", _of(n.recycled_signed)),
        ("  interval", interval(n.recycled_signed)),
    )
    return Table("Nurture pool: leads not ready yet", ("figure", "value"), rows)


def _capture_row(c: Capture) -> Cells:
    return (c.strategy, num(c.sql, 1), pct(c.sql_share), num(c.contracts, 1), pct(c.contract_share))


def _routing(r: RoutingValue) -> Table:
    best = f"; best rule: {r.best_rule}" if r.best_rule else ""
    return Table(
        f"Value of model routing: top {r.leads_per_snapshot_day} snapshots a day (sales "
        f"capacity {r.capacity_per_day} leads/day), the champion's backtests (out of fold) "
        f"from {r.period_from:%Y-%m-%d}: "
        f"{r.rows:,} snapshots over {r.days} days, {r.sqls:,} reached SQL within "
        f"{r.horizon_days} d, {r.contracts:,} signed later{best}",
        ("ranking", "SQLs caught", "of all", "contracts caught", "of all"),
        tuple(_capture_row(c) for c in (r.model, *r.rules, r.random)),
    )
