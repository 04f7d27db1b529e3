"""The funnel report's pictures: each function draws one figure from the computed results."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from leadscore.funnel.figures import FunnelFigures, Group
from leadscore.funnel.routing import RoutingValue
from leadscore.funnel.velocity import Velocity


def funnel(figures: FunnelFigures) -> Figure:
    """Leads reaching each stage (and the webinar path), each bar labelled with its step rate."""
    bars = [("leads", figures.leads, "")]
    bars += [(s.name.split(" → ")[1], s.rate.hits, f"{s.rate.rate:.1%}") for s in figures.steps[:3]]
    labels = ("webinar attended", "attended and signed")
    bars += [
        (label, s.rate.hits, f"{s.rate.rate:.1%}")
        for label, s in zip(labels, figures.webinar[2:], strict=False)
    ]
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(bars) + 1.2))
    names = [name for name, _, _ in bars][::-1]
    counts = np.array([count for _, count, _ in bars][::-1], dtype=float)
    ax.barh(names, counts, color="#4c72b0")
    for y, (count, label) in enumerate(zip(counts, [b[2] for b in bars][::-1], strict=True)):
        ax.text(count, y, f" {count:,.0f} {label}", va="center", fontsize=8)
    ax.set(xlabel="leads", title=f"Funnel as of {figures.as_of:%Y-%m-%d}")
    ax.set_xlim(0, counts.max() * 1.3 if counts.size else 1)
    fig.tight_layout()
    return fig


def _rate_bars(ax, groups: list[Group], title: str) -> None:
    rates = np.array([g.contract.rate for g in groups])
    lows = rates - np.array([g.contract.low for g in groups])
    highs = np.array([g.contract.high for g in groups]) - rates
    ax.barh([g.key for g in groups], rates, xerr=[lows, highs], color="#55a868", capsize=3)
    ax.set(xlabel="lead → contract (Wilson interval)", title=title)


def by_source(figures: FunnelFigures) -> Figure:
    """Conversion per source with its interval, and what a lead of it is worth."""
    rows = sorted(figures.sources, key=lambda s: s.group.contract.rate)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.4 * len(rows) + 1.6), sharey=True)
    _rate_bars(left, [s.group for s in rows], "Conversion by source")
    right.barh(
        [s.group.key for s in rows],
        [s.value_per_lead_pln for s in rows],
        color="#c44e52",
        label="value per lead",
    )
    right.barh(
        [s.group.key for s in rows],
        [s.allowable_cost_per_lead_pln for s in rows],
        color="#8172b2",
        alpha=0.8,
        label=f"may cost (margin {figures.economics.margin:.0%})",
    )
    right.set(xlabel="PLN per lead", title="Value per lead (MRR won / lead × lifetime)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cohorts(figures: FunnelFigures) -> Figure:
    """Rates by creation month: recent cohorts have had less time, so they read lower."""
    keys = [g.key for g in figures.cohorts]
    fig, ax = plt.subplots(figsize=(7, 4))
    for attr, label in (("attended", "webinar attended"), ("sql", "SQL"), ("contract", "contract")):
        ax.plot(keys, [getattr(g, attr).rate for g in figures.cohorts], marker=".", label=label)
    ax.set(ylabel="share of the cohort's leads", title="Monthly cohorts (by creation month)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.legend()
    fig.tight_layout()
    return fig


def velocity(v: Velocity) -> Figure:
    """Share of deals signed by day since lead creation: Kaplan-Meier against signed-only."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.step(v.curve_days, v.km_share_signed, where="post", label="Kaplan-Meier (open censored)")
    ax.step(v.curve_days, v.signed_only_share, where="post", ls="--", label="signed deals only")
    ax.axhline(0.5, ls=":", color="grey")
    ax.set(
        xlabel="days from lead to contract",
        ylabel="share of deals signed",
        title=f"Deal velocity: median {v.km_median_days:.0f} d (signed only {v.median_days:.0f} d)",
    )
    ax.legend()
    return fig


def nurture_ages(figures: FunnelFigures) -> Figure:
    """How long the not-ready pool has been around."""
    labels, counts = zip(*figures.nurture.age_buckets, strict=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(labels, counts, color="#937860")
    ax.set(ylabel="leads", title=f"Nurture pool by age ({figures.nurture.pool:,} leads)")
    fig.tight_layout()
    return fig


def capture_curve(routing: RoutingValue) -> Figure:
    """Share of the test period's SQLs caught at each sales capacity: model, rule, random."""
    x = [p.capacity_per_day for p in routing.curve]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(x, [p.model for p in routing.curve], marker="o", label=routing.model.strategy)
    if routing.best_rule:
        ax.plot(x, [p.best_rule for p in routing.curve], marker="s", label=routing.best_rule)
    ax.plot(x, [p.random for p in routing.curve], marker=".", ls=":", label="random order")
    ax.axvline(routing.capacity_per_day, ls=":", color="grey")
    ax.set(
        xscale="log",
        xlabel="sales capacity (new leads a day)",
        ylabel=f"share of SQLs within {routing.horizon_days} d caught",
        title="Capture vs capacity, test period",
    )
    ax.legend(fontsize=8)
    return fig
