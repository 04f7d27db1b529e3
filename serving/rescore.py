"""Nightly rescoring of a pool of leads: who warmed up and goes back to sales, and why.

Same features (features/), same models and the same scorer as POST /score, so a lead gets the
same numbers in the batch as from the endpoint for the same as_of. The batch differs only in
what it skips: TreeSHAP reasons are computed only for leads routed to active sales, the rows a
rep will read. Features are built in one vectorised pass; scoring runs in chunks.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from features.tables import LeadData
from features.vectors import leads_at, open_leads, table_features, to_matrix, to_ms
from serving.decisions import rescore_decisions
from serving.publish import publish
from serving.rescore_summary import Summary, summarise
from serving.routing import BatchPlaces, CapacityLedger, apply_capacity, claim_order
from serving.scorer import Inputs, Scores, explain_rows, score_block
from training.pair import ModelPair
from training.policy import ACTIVE_SALES, NURTURING, Policy
from training.registry import Registry

POOLS = ("nurture", "open", "all")
SCORES, SUMMARY = "scores.parquet", "summary.json"  # the files of an output folder
CHUNK = 50_000
THREADS = 2  # the batch owns the machine; a request scores on one thread
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Pool:
    """Which leads a run rescores: `nurture` (latest stage NURTURE), `open` or `all`, as of
    a moment; with `previous` (an earlier output), the ones that moved to sales are marked."""

    name: str
    as_of: datetime
    previous: pl.DataFrame | None = None

    def lead_ids(self, data: LeadData) -> list[str]:
        if self.name == "open":
            return open_leads(data, self.as_of)
        if self.name not in POOLS:
            raise LeadscoreError(f"--pool must be one of {', '.join(POOLS)}, got {self.name!r}")
        leads = leads_at(data, self.as_of)
        if self.name == "nurture":
            leads = leads.filter(pl.col(c.STAGE) == c.NURTURE)
        return leads[c.LEAD_ID].to_list()


@dataclass(frozen=True)
class Rescored:
    frame: pl.DataFrame
    summary: Summary


@dataclass(frozen=True)
class PoolScores:
    """A pool's scores before the capacity rule (in chunks), and where its leads came from."""

    parts: list[Scores]
    origin: pl.DataFrame  # lead_id, source, partner_id


# Top reasons (JSON) of the rows a mask marks, None elsewhere: from features at hand (one
# process), or rebuilt in the partitions that hold the rows (leadscore/engine).
Explain = Callable[[np.ndarray], list[str | None]]
# Something else to do with the scores while the run publishes them: it ends with the block.
Keep = Callable[[pl.DataFrame], AbstractContextManager[None]]


def score_pool(
    data: LeadData,
    pair: ModelPair,
    pool: Pool,
    policy: Policy,
    progress: Progress = lambda done, total: None,
) -> tuple[PoolScores, Inputs] | None:
    """Features and scores of every lead of the pool at as_of (None: the pool is empty)."""
    ids = pool.lead_ids(data)
    if not ids:
        return None
    inputs = pool_inputs(data, pair, ids, pool.as_of)
    parts: list[Scores] = []
    for start in range(0, len(ids), CHUNK):
        rows = slice(start, min(start + CHUNK, len(ids)))
        parts.append(score_block(pair, inputs.take(rows), policy, explain=False, threads=THREADS))
        progress(rows.stop, len(ids))
    return PoolScores(parts, _origin(data)), inputs


def pool_inputs(data: LeadData, pair: ModelPair, ids: list[str], as_of: datetime) -> Inputs:
    """Both models' inputs for these leads at as_of."""
    as_of_ms = np.full(len(ids), to_ms(as_of))
    spec = pair.conversion.spec
    block = table_features(data, spec, ids, as_of_ms)
    X = to_matrix(spec, block)
    velocity_X = (
        X
        if pair.same_features
        else to_matrix(pair.velocity.spec, table_features(data, pair.velocity.spec, ids, as_of_ms))
    )
    return Inputs(block, X, velocity_X)


def rescore(
    data: LeadData,
    pair: ModelPair,
    pool: Pool,
    policy: Policy,
    progress: Progress = lambda done, total: None,
) -> Rescored:
    """Score every lead of the pool at as_of, route it, explain the ones sent to sales."""
    began = time.perf_counter()
    scored = score_pool(data, pair, pool, policy, progress)
    if scored is None:
        raise empty_pool(pool)
    pool_scores, inputs = scored
    scoring = time.perf_counter()
    result = route_pool(
        pool_scores, lambda active: explanations(pair, inputs, active), pair, pool, policy
    )
    seconds = {"score": scoring - began, "route_and_reasons": time.perf_counter() - scoring}
    return with_run(result, {"engine": "local", "seconds": seconds, "peak_rss_mib": peak_rss_mib()})


def with_run(result: Rescored, figures: dict[str, Any]) -> Rescored:
    """The result with how the run went in its summary."""
    return replace(result, summary=replace(result.summary, run=figures))


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB: VmHWM of /proc/self/status, which
    starts afresh in a new program (ru_maxrss carries over from the process that spawned it,
    as a Dask worker is spawned by the job's process); ru_maxrss where /proc is missing."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


def empty_pool(pool: Pool) -> LeadscoreError:
    return LeadscoreError(f"no leads in the {pool.name} pool before {pool.as_of.isoformat()}")


def route_pool(
    scored: PoolScores, explain: Explain, pair: ModelPair, pool: Pool, policy: Policy
) -> Rescored:
    """The capacity rule over the whole pool, reasons for the leads sent to sales, the scores
    frame (against a previous run's, if given) and its summary."""
    parts = scored.parts
    ids = [lead for part in parts for lead in part.lead_ids]
    routes = [r for part in parts for r in part.route]
    reasons = [r for part in parts for r in part.route_reason]
    wanted = routes.count(ACTIVE_SALES)
    probability = np.concatenate([part.probability for part in parts])
    capacity = policy.capacity_per_day
    if capacity is not None:
        ledger = CapacityLedger(BatchPlaces(), capacity, 0)
        day = pool.as_of.date()  # the batch's own day is its "today"
        held = np.concatenate([part.holdout for part in parts])
        order = claim_order(ids, probability, held, policy.routing.holdout)
        routes, reasons = apply_capacity(
            [(lead, day) for lead in ids], order, routes, reasons, ledger, day
        )
    active = np.array([route == ACTIVE_SALES for route in routes])
    frame = _frame(parts, (routes, reasons, explain(active)), scored.origin, pair)
    if pool.previous is not None:
        frame = _against_previous(frame, pool.previous)
    return Rescored(frame, summarise(frame, pool.as_of, pool.name, capacity, wanted))


def read_previous(path: str) -> pl.DataFrame:
    """An earlier rescore output (its folder) or a scores file (Parquet or CSV), refused with
    one clear line if unreadable."""
    source = Path(path) / SCORES if Path(path).is_dir() else Path(path)
    try:
        return pl.read_csv(source) if source.suffix == ".csv" else pl.read_parquet(source)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise LeadscoreError(f"--previous {path}: cannot read ({exc})") from None


@dataclass(frozen=True)
class Written:
    folder: Path
    run_id: str
    summary: Summary


def run_rescore(
    rescorer: Callable[[ModelPair], Rescored],
    registry: Registry,
    out: Path,
    keep: Keep | None = None,
) -> Written:
    """The nightly job: champions from the registry, rescore with them (`rescore` in this
    process, or leadscore/engine on Dask), publish the scores and the summary together as the
    folder `out` (serving/publish.py), record the run; `keep` (a store's decisions) runs
    meanwhile and must end well too. The rescorer is called once the models are loaded: it
    may wait for its data there (a store's read, begun before).
    """
    pair = registry.load_pair(*registry.champion_versions())
    result = rescorer(pair)
    summary = asdict(result.summary)

    def write(folder: Path) -> None:
        result.frame.write_parquet(folder / SCORES)
        (folder / SUMMARY).write_text(json.dumps(summary, indent=1))

    with keep(result.frame) if keep else nullcontext():
        publish(out, write)
        run_id = _record_run(registry, out, pair, summary)
    return Written(out, run_id, result.summary)


def _record_run(registry: Registry, out: Path, pair: ModelPair, summary: dict[str, Any]) -> str:
    """The run in the registry: its parameters, figures and summary; returns its id."""
    numbers = {
        k: float(v)
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    numbers |= {f"{stage}_seconds": v for stage, v in summary["run"].get("seconds", {}).items()}
    params = {"as_of": summary["as_of"], "pool": summary["pool"], "out": str(out)}
    params |= {
        "conversion_version": pair.conversion_version,
        "velocity_version": pair.velocity_version,
    }
    with registry.run("rescore") as run:
        run.params(params)
        run.metrics(numbers)
        run.json(summary, "rescore_summary.json")
    return run.id


def decisions_kept(store_url: str, policy: Policy) -> Keep:
    """A rescore's decisions kept in the store it read, in one transaction that commits
    only once the scores are published and the run recorded (`run_rescore`)."""
    from features.store.lead_store import LeadStore  # SQLAlchemy only when a store is used

    store = LeadStore(store_url)
    return lambda frame: store.recording_decisions(
        rescore_decisions(frame, policy.routing.holdout, datetime.now(UTC))
    )


def explanations(pair: ModelPair, inputs: Inputs, active: np.ndarray) -> list[str | None]:
    """Top reasons (JSON) for the rows routed to active sales; None elsewhere."""
    out: list[str | None] = [None] * len(active)
    rows = np.flatnonzero(active)
    if len(rows):
        _, _, reasons = explain_rows(pair, inputs.take(rows), THREADS)
        for i, reason in zip(rows, reasons, strict=True):
            out[i] = json.dumps(reason)
    return out


def _frame(
    parts: list[Scores],
    routed: tuple[list[str], list[str], list[str | None]],
    origin: pl.DataFrame,
    pair: ModelPair,
) -> pl.DataFrame:
    """The scores file: a row per lead with its route (after capacity), reason and reasons."""
    routes, reasons, explained = routed

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    ids = [lead for part in parts for lead in part.lead_ids]
    model = pair.describe()
    frame = pl.DataFrame(
        {
            c.LEAD_ID: pl.Series(ids, dtype=pl.String),
            "as_of": pl.Series(cat("as_of_ms"), dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
            "probability": cat("probability"),
            "score": cat("score"),
            "tier": [t for part in parts for t in part.tier],
            "route": routes,
            "route_reason": reasons,
            "holdout": cat("holdout"),
            "expected_days_to_contract": cat("expected_days_to_contract"),
            "p_contract_30d": cat("p_contract_30d"),
            "expected_value_pln": cat("expected_value_pln"),
            "reasons": pl.Series(explained, dtype=pl.String),
            "conversion_version": model["conversion"]["version"],
            "velocity_version": model["velocity"]["version"],
            "feature_spec": model["feature_spec"],
            "input_digest": [digest for part in parts for digest in part.input_digest],
        }
    )
    return frame.join(origin, on=c.LEAD_ID, how="left", maintain_order="left")


def _origin(data: LeadData) -> pl.DataFrame:
    """Who brought each lead: its source and partner."""
    return data.leads.select(
        c.LEAD_ID,
        c.SOURCE,
        pl.col(c.PARTNER_ID)
        if c.PARTNER_ID in data.leads.columns
        else pl.lit(None, pl.String).alias(c.PARTNER_ID),
    )


def _against_previous(frame: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Previous score and route per lead; `recycled` = moved from nurturing to active sales."""
    missing = [col for col in (c.LEAD_ID, "score", "route") if col not in previous.columns]
    if missing:
        raise LeadscoreError(
            f"--previous: missing column {', '.join(missing)} "
            "(expected a file written by `leadscore rescore`)"
        )
    before = previous.select(
        c.LEAD_ID,
        pl.col("score").alias("previous_score"),
        pl.col("route").alias("previous_route"),
    ).unique(c.LEAD_ID, keep="last")
    joined = frame.join(before, on=c.LEAD_ID, how="left", maintain_order="left")
    recycled = (pl.col("previous_route") == NURTURING) & (pl.col("route") == ACTIVE_SALES)
    return joined.with_columns(recycled=recycled.fill_null(False))
