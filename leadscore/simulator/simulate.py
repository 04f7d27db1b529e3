"""A simulated sales funnel with a known truth, calibrated to the figures of configs/simulate.yaml.

Each lead gets static attributes that move a latent `fit`, and from it a piecewise-constant daily
SQL hazard h(s). SQL times are drawn from exactly that hazard, so the benchmarks can compare any
model with the best possible forecast. `run_simulation` writes four Parquet tables: leads,
events and stages (the data contract) and `truth` (leadscore/simulator/tables.py), which only
the oracle (leadscore/simulator/oracle.py) reads.

Behaviour never depends on a future SQL: high-intent events follow the lead's hazard itself,
so they rise where SQLs are likely (inside the ready window) without telling when the SQL
comes. That keeps the truth-table oracle the best possible forecast; a model on behaviour can
approach it but not beat it. Events that do follow an SQL (the trigger at the SQL instant,
sales calls during the deal) only ever lie at or after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features import contract as c
from features.errors import LeadscoreError
from leadscore.simulator.behaviour import EVENT_CODES, Events, draw_events
from leadscore.simulator.config import (
    DRIFTS,
    Drift,
    DriftConfig,
    EventTypeDrift,
    NewSourceDrift,
    SimulationConfig,
    SourceConversionDrift,
    Targets,
)
from leadscore.simulator.drift import recorded, sales_hazard
from leadscore.simulator.hazard import Hazard, draw_hazard
from leadscore.simulator.population import calendar, draw_deals, draw_leads
from leadscore.simulator.stages import STAGE_CODES, Funnel, draw_funnel
from leadscore.simulator.tables import Draws, build_tables, write_tables

MAX_LEADS = 9_999_999  # lead ids are L + 7 digits


@dataclass(frozen=True)
class DriftChoice:
    """`--drift NAME` and `--drift-from N`: a scenario of config.drift, from `from_month`
    months after the start (None: the scenario's own from_month)."""

    name: str
    from_month: int | None = None


def run_simulation(
    config: SimulationConfig,
    out_dir: Path,
    months: int,
    leads_per_month: int,
    seed: int,
    drift: DriftChoice | None = None,
) -> dict[str, float]:
    """Simulate `months` of leads into `out_dir`, print the funnel, return its figures;
    `drift` changes the world from a month on (leadscore/simulator/drift.py)."""
    scenario = _scenario(config.drift, drift, months) if drift else None
    _check_args(out_dir, months, leads_per_month, seed)
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    bounds = calendar(config.start, months)
    end = bounds[-1]
    at = bounds[scenario.from_month] if scenario else np.inf
    newcomer = scenario if isinstance(scenario, NewSourceDrift) else None
    columns = (TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("drawing leads", total=5)
        people = draw_leads(rng, config.leads, bounds, leads_per_month, newcomer)
        hazard = draw_hazard(rng, config.readiness, people.created, people.fit, end)
        deals = draw_deals(rng, config, people)
        progress.update(task, advance=1, description="drawing SQLs and stages")
        sales = hazard
        if isinstance(scenario, SourceConversionDrift):
            sales = sales_hazard(rng, hazard, people.leads[c.SOURCE].to_numpy(), scenario, at)
        funnel = draw_funnel(rng, sales, deals, end, config.funnel)
        progress.update(task, advance=1, description="drawing behaviour")
        events = draw_events(rng, hazard, funnel, people.fit, end, config.behaviour)
        if isinstance(scenario, EventTypeDrift):
            events = recorded(events, scenario, at)
        progress.update(task, advance=1, description="building tables")
        tables = build_tables(people, Draws(sales, deals, funnel, events), end, config)
        progress.update(task, advance=1, description="writing Parquet")
        write_tables(out_dir, tables)
        progress.update(task, advance=1, description="done")
    summary = summarise(hazard, funnel, events, time.perf_counter() - began)
    since = config.start + timedelta(days=int(at)) if scenario else None
    _print_summary(summary, config.targets, f"drift: {drift.name} from {since}" if drift else None)
    return summary


def _scenario(config: DriftConfig, drift: DriftChoice, months: int) -> Drift:
    """The chosen scenario with its start; checked before anything is drawn or created."""
    if drift.name not in DRIFTS:
        raise LeadscoreError(f"--drift {drift.name} is none of {', '.join(DRIFTS)}")
    scenario: Drift = getattr(config, drift.name)
    month = scenario.from_month if drift.from_month is None else drift.from_month
    origin = f" (drift.{drift.name}.from_month of the config)" if drift.from_month is None else ""
    if month < 1:
        raise LeadscoreError(f"--drift-from must be at least 1, got {month}")
    if month >= months:
        raise LeadscoreError(f"--drift-from {month}{origin} must be below --months {months}")
    return scenario.model_copy(update={"from_month": month})


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


def _print_summary(s: dict[str, float], t: Targets, caption: str | None) -> None:
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
    table = Table(title="Simulated funnel", caption=caption)
    for name in ("", "simulated", "calibrated to"):
        table.add_column(name, justify="right" if name else "left")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
