"""`features` and `rescore` on Dask: the one-process code, run per hash partition.

Each task opens one partition (a data folder) and runs exactly what the local engine runs on
the whole (every feature and pool rule looks only before as_of, so a partition needs no cut);
the models are sent to every worker once. What needs every lead at once — the daily
capacity of active sales, the summary — runs here on the gathered per-lead scores, which are
small (a row per lead); reasons are then computed in the partitions that hold the leads sent
to sales, from those leads' rows only.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.spec import FeatureSpec
from features.tables import load_data
from features.vectors import block_frame, open_leads, table_features, to_ms
from serving.publish import clear
from serving.rescore import (
    Pool,
    PoolScores,
    Rescored,
    empty_pool,
    explanations,
    peak_rss_mib,
    pool_inputs,
    route_pool,
    score_pool,
    with_run,
)
from training.pair import ModelPair
from training.policy import Policy

if TYPE_CHECKING:
    from distributed import Client


def rescore_on_dask(
    client: Client, folders: list[str], pair: ModelPair, pool: Pool, policy: Policy
) -> Rescored:
    """`serving.rescore.rescore` over the partitions: the same rows, scores and routes."""
    began = time.perf_counter()
    shared = client.scatter(pair, broadcast=True)
    task_pool = replace(pool, previous=None)  # yesterday's scores stay here
    scored = client.gather(
        client.map(_score_part, folders, pair=shared, pool=task_pool, policy=policy, pure=False)
    )
    kept = [(folder, part) for folder, part in zip(folders, scored, strict=True) if part]
    if not kept:
        raise empty_pool(pool)
    ids = [[lead for chunk in part.parts for lead in chunk.lead_ids] for _, part in kept]

    def explain(active: np.ndarray) -> list[str | None]:
        out: list[str | None] = [None] * len(active)
        start, waiting = 0, []
        for (folder, _), part_ids in zip(kept, ids, strict=True):
            rows = np.flatnonzero(active[start : start + len(part_ids)])
            if rows.size:
                wanted = [part_ids[i] for i in rows]
                task = client.submit(_explain_part, folder, shared, wanted, pool.as_of, pure=False)
                waiting.append((start + rows, task))
            start += len(part_ids)
        for rows, task in waiting:
            for i, reason in zip(rows, task.result(), strict=True):
                out[i] = reason
        return out

    together = PoolScores(
        [chunk for _, part in kept for chunk in part.parts],
        pl.concat([part.origin for _, part in kept]),
    )
    scoring = time.perf_counter()
    result = route_pool(together, explain, pair, pool, policy)
    seconds = {"score": scoring - began, "route_and_reasons": time.perf_counter() - scoring}
    figures = {
        "engine": "dask",
        "partitions": len(folders),
        "workers": len(client.scheduler_info()["workers"]),
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_mib_per_worker": client.run(peak_rss_mib),
    }
    return with_run(result, figures)


def data_end(client: Client, folders: list[str]) -> datetime:
    """The last moment the partitioned data knows about (every --as-of's default)."""
    return max(client.gather(client.map(_end, folders, pure=False)))


def _end(folder: str) -> datetime:
    return load_data(folder).end


def _score_part(folder: str, pair: ModelPair, pool: Pool, policy: Policy) -> PoolScores | None:
    scored = score_pool(load_data(folder), pair, pool, policy)
    return None if scored is None else scored[0]


def _explain_part(folder: str, pair: ModelPair, ids: list[str], as_of: datetime) -> list:
    inputs = pool_inputs(load_data(folder, ids), pair, ids, as_of)  # only these leads' rows
    return explanations(pair, inputs, np.ones(len(ids), dtype=bool))


def leads_of(client: Client, folders: list[str]) -> pl.DataFrame:
    """Every partition's leads table, together (a row per lead: small)."""
    return pl.concat(client.gather(client.map(_leads, folders, pure=False)), how="vertical")


def _leads(folder: str) -> pl.DataFrame:
    return load_data(folder).leads


def features_on_dask(
    client: Client, folders: list[str], spec: FeatureSpec, as_of: datetime, out: Path
) -> int:
    """`leadscore features` per partition, each written as `out/part-NNNNN.parquet`; the
    number of leads written."""
    clear(out)  # a killed run's parts, maybe more than these
    written = client.gather(
        client.map(
            _features_part,
            folders,
            range(len(folders)),
            spec=spec,
            as_of=as_of,
            out=str(out),
            pure=False,
        )
    )
    return int(sum(written))


def _features_part(folder: str, k: int, spec: FeatureSpec, as_of: datetime, out: str) -> int:
    data = load_data(folder)
    ids = open_leads(data, as_of)
    block = table_features(data, spec, ids, np.full(len(ids), to_ms(as_of)))
    block_frame(spec, block).write_parquet(Path(out) / f"part-{k:05d}.parquet")
    return len(ids)
