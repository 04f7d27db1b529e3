"""`leadscore simulate --partitions N`: a run too large for memory, drawn in blocks of leads and
written as N hash partitions of the leads (features/partition.py) while it is drawn.

Each month's leads are cut into equal blocks of at most `block_leads` (configs/simulate.yaml),
each created within its equal slice of the month, so lead numbers still follow creation time.
A block draws its leads and everything they do until the data's end, exactly as a run in one
piece draws all of them (simulate.draw), from a random stream of its own,
SeedSequence(seed, spawn_key=(1, month, block)); the partner qualities and rep skills that
every block shares come once from spawn_key (0,). Its rows are appended to the partitions'
files (leadscore/simulator/part_files.py) and dropped, so memory holds one block.

What is drawn depends on the seed, the sizes and `block_leads`, never on N: any partition count
holds the same leads and rows. It is the same simulation as a run in one piece, not the same
sample at the same seed (that run is one stream); each block also scales its leads' activity by
the block's mean where the one-piece run uses the run's, a difference of sampling noise only.

The partitions are written into a private folder and published in one rename
(serving/publish.py, as `features --engine dask` publishes its partitions): `--out` becomes a
link to the new version only when every file is complete, so a killed run leaves no
complete-looking folder, and an earlier partitioned output stays whole until it is replaced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from operator import add
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from features.errors import LeadscoreError
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.part_files import PartFiles, check_partitions
from leadscore.simulator.population import Block, calendar, draw_shared
from leadscore.simulator.simulate import (
    PROGRESS,
    DriftChoice,
    World,
    check_sizes,
    chosen_drift,
    draw,
)
from leadscore.simulator.summary import Counts, figures, print_summary
from serving.publish import clear, publish

SHARED_STREAM, BLOCK_STREAM = 0, 1


@dataclass(frozen=True)
class PartitionedRun:
    """The sizes and seed of a run, and how many hash partitions it is written in."""

    months: int
    leads_per_month: int
    seed: int
    partitions: int


@dataclass(frozen=True)
class Span:
    """One block of a month: its slice of the month (days), its leads and the first one's number."""

    month: int
    index: int
    bounds: np.ndarray
    size: int
    first: int


def spans(bounds: np.ndarray, per_month: int, block_leads: int) -> Iterator[Span]:
    """Each month's leads in equal blocks of at most `block_leads`, in creation order."""
    pieces = -(-per_month // block_leads)
    small, larger = divmod(per_month, pieces)
    sizes = [small + 1] * larger + [small] * (pieces - larger)
    starts = np.cumsum([0, *sizes])
    for month in range(bounds.size - 1):
        edges = np.linspace(bounds[month], bounds[month + 1], pieces + 1)
        for index, size in enumerate(sizes):
            first = 1 + month * per_month + int(starts[index])
            yield Span(month, index, edges[index : index + 2], size, first)


def stream(seed: int, *key: int) -> np.random.Generator:
    """The random stream of one part of a run: independent of every other key's."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def simulate_partitioned(
    config: SimulationConfig, out_dir: Path, run: PartitionedRun, drift: DriftChoice | None = None
) -> dict[str, float]:
    """Simulate `run` into `out_dir` as hash partitions, print the funnel, return its figures;
    `drift` as for a run in one piece. Everything is checked before the first block."""
    scenario = chosen_drift(config.drift, drift, run.months) if drift else None
    check_sizes(run.months, run.leads_per_month, run.seed)
    check_partitions(run.partitions)
    if out_dir.exists() and not out_dir.is_symlink():
        raise LeadscoreError(
            f"--out {out_dir} exists and is not the output of `simulate --partitions` (a link "
            "to its latest version): choose a new path"
        )
    world = World.of(config, run.months, scenario)
    began = time.perf_counter()
    totals: list[Counts] = []
    publish(out_dir, lambda folder: totals.append(_write_blocks(world, run, folder)))
    summary = figures(totals[0], time.perf_counter() - began)
    print_summary(summary, config.targets, world.caption(drift))
    return summary


def _write_blocks(world: World, run: PartitionedRun, folder: Path) -> Counts:
    """Draw every block and append its rows to the partitions under `folder`; their counts."""
    clear(folder)  # a killed run's partitions must not be published with these
    config = world.config
    blocks = list(
        spans(calendar(config.start, run.months), run.leads_per_month, config.block_leads)
    )
    shared = draw_shared(stream(run.seed, SHARED_STREAM), config)
    counts = []
    with (
        Progress(*PROGRESS, console=Console(stderr=True)) as progress,
        PartFiles(folder, run.partitions) as files,
    ):
        task = progress.add_task(f"{len(blocks)} blocks", total=len(blocks))
        for span in blocks:
            rng = stream(run.seed, BLOCK_STREAM, span.month, span.index)
            block = Block(span.first, world.at, shared)
            drawn = draw(rng, world, span.bounds, span.size, block)
            files.append(drawn.tables)
            counts.append(drawn.counts)
            progress.advance(task)
    return reduce(add, counts)
