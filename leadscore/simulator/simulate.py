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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from features import contract as c
from features.errors import LeadscoreError
from leadscore.simulator.behaviour import draw_events
from leadscore.simulator.config import (
    DRIFTS,
    Drift,
    DriftConfig,
    EventTypeDrift,
    NewSourceDrift,
    SimulationConfig,
    SourceConversionDrift,
)
from leadscore.simulator.drift import recorded, sales_hazard
from leadscore.simulator.hazard import draw_hazard
from leadscore.simulator.population import Block, calendar, draw_deals, draw_leads
from leadscore.simulator.stages import draw_funnel
from leadscore.simulator.summary import Counts, count, figures, print_summary
from leadscore.simulator.tables import Draws, build_tables, write_tables

MAX_LEADS = 9_999_999  # lead ids are L + 7 digits
PROGRESS = (TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn())


@dataclass(frozen=True)
class DriftChoice:
    """`--drift NAME` and `--drift-from N`: a scenario of config.drift, from `from_month`
    months after the start (None: the scenario's own from_month)."""

    name: str
    from_month: int | None = None


@dataclass(frozen=True)
class World:
    """What every draw of a run shares: the calibration, the data's end (days since the
    start), the drift scenario and the day it begins (inf: none)."""

    config: SimulationConfig
    end: float
    scenario: Drift | None
    at: float

    @staticmethod
    def of(config: SimulationConfig, months: int, scenario: Drift | None) -> World:
        """The world of a run of `months` under `scenario`, both checked before."""
        bounds = calendar(config.start, months)
        at = bounds[scenario.from_month] if scenario else np.inf
        return World(config, bounds[-1], scenario, at)

    def caption(self, drift: DriftChoice | None) -> str | None:
        """The summary's caption: which drift, from which date."""
        if drift is None:
            return None
        return f"drift: {drift.name} from {self.config.start + timedelta(days=int(self.at))}"


@dataclass(frozen=True)
class Drawn:
    """One draw's tables (in writing order) and its counts for the summary."""

    tables: dict[str, pl.DataFrame]
    counts: Counts


def draw(
    rng: np.random.Generator,
    world: World,
    bounds: np.ndarray,
    per_month: int,
    block: Block | None = None,
    step: Callable[[str], None] = lambda _: None,
) -> Drawn:
    """`per_month` leads created within each span of `bounds`, all they do until the end,
    and their tables; `step` hears when each stage of the draw begins."""
    config, end, scenario, at = world.config, world.end, world.scenario, world.at
    newcomer = scenario if isinstance(scenario, NewSourceDrift) else None
    people = draw_leads(rng, config.leads, bounds, per_month, newcomer, block)
    hazard = draw_hazard(rng, config.readiness, people.created, people.fit, end)
    deals = draw_deals(rng, config, people, block.shared if block else None)
    step("drawing SQLs and stages")
    sales = hazard
    if isinstance(scenario, SourceConversionDrift):
        sales = sales_hazard(rng, hazard, people.leads[c.SOURCE].to_numpy(), scenario, at)
    funnel = draw_funnel(rng, sales, deals, end, config.funnel)
    step("drawing behaviour")
    events = draw_events(rng, hazard, funnel, people.fit, end, config.behaviour)
    if isinstance(scenario, EventTypeDrift):
        events = recorded(events, scenario, at)
    step("building tables")
    tables = build_tables(people, Draws(sales, deals, funnel, events), end, config)
    return Drawn(tables, count(hazard, funnel, events))


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
    scenario = chosen_drift(config.drift, drift, months) if drift else None
    check_sizes(months, leads_per_month, seed)
    _make_folder(out_dir)
    world = World.of(config, months, scenario)
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    bounds = calendar(config.start, months)
    with Progress(*PROGRESS, console=Console(stderr=True)) as progress:
        task = progress.add_task("drawing leads", total=5)

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        drawn = draw(rng, world, bounds, leads_per_month, step=step)
        step("writing Parquet")
        write_tables(out_dir, drawn.tables)
        step("done")
    summary = figures(drawn.counts, time.perf_counter() - began)
    print_summary(summary, config.targets, world.caption(drift))
    return summary


def chosen_drift(config: DriftConfig, drift: DriftChoice, months: int) -> Drift:
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


def check_sizes(months: int, leads_per_month: int, seed: int) -> None:
    """The run's size and seed, checked before anything is drawn."""
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


def _make_folder(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise LeadscoreError(f"--out {out_dir} exists and is not a folder")
    try:  # now, not after a minute of simulating
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = f"cannot create the folder ({exc.strerror})"
        raise LeadscoreError(f"--out {out_dir}: {problem}") from None
