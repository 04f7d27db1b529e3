"""`leadscore rescore`: the nightly batch — score a pool, route the warm leads to sales."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.commands import options

if TYPE_CHECKING:
    from features.tables import LeadData
    from serving.rescore import Rescored
    from training.pair import ModelPair

NAME = "rescore"
HELP = "rescore a pool of leads with the champion models; route the warm ones to sales"
DESCRIPTION = (
    "Features, both champion models and the routing policy for every lead of "
    "the pool at --as-of (default: the data's end); reasons for the leads sent to active "
    "sales. Publishes DIR/scores.parquet and DIR/summary.json together (a run killed at "
    "any moment leaves the previous pair); with --previous, marks the leads that moved "
    "from nurturing to active sales (recycled)."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (a link)")
    options.as_of_option(parser, default="the data's end")
    parser.add_argument(
        "--pool",
        choices=("nurture", "open", "all"),
        default="nurture",
        help="which leads: latest stage NURTURE (default), open, or all",
    )
    parser.add_argument(
        "--previous", default=None, help="an earlier output folder (or scores file) to compare"
    )
    options.policy_options(parser)
    options.engine_options(parser)


def run(args: argparse.Namespace) -> int:
    from features.tables import is_store_url

    engine = options.engine(args)
    loaded = _loading(args.data) if engine.engine != "dask" else None  # Dask reads in workers
    from leadscore.progress import bar
    from serving.rescore import Pool, decisions_kept, read_previous, rescore, run_rescore

    policy = options.policy(args)
    previous = read_previous(args.previous) if args.previous else None
    registry = options.registry()
    store = is_store_url(args.data)
    keep = decisions_kept(args.data, policy) if store else None
    if loaded is None:
        from leadscore.engine.cluster import dask_client
        from leadscore.engine.jobs import data_end, rescore_on_dask
        from leadscore.engine.parts import partitions

        with partitions(args.data, engine) as folders, dask_client(engine) as client:
            pool = Pool(args.pool, args.as_of or data_end(client, folders), previous)
            done = run_rescore(
                lambda pair: rescore_on_dask(client, folders, pair, pool, policy),
                registry,
                Path(args.out),
                keep,
            )
    else:
        wait = loaded
        with bar(f"rescoring the {args.pool} pool") as update:

            def local(pair: ModelPair) -> Rescored:
                """The data waited for once the models are loaded (their load overlaps a
                store's read)."""
                data, as_of = wait().as_of(args.as_of)
                return rescore(data, pair, Pool(args.pool, as_of, previous), policy, update)

            done = run_rescore(
                local,
                registry,
                Path(args.out),
                keep,
            )
    summary = done.summary
    if store:
        print(f"  {summary.leads:,} decisions recorded in the store")
    print(f"{done.folder}/: {summary.leads:,} leads of the {args.pool} pool as of {summary.as_of}")
    print(
        f"  to active sales: {summary.to_active_sales:,} (tier rule wanted "
        f"{summary.tier_rule_to_active_sales:,}; capacity {summary.capacity_per_day} a "
        f"day, {summary.held_back_by_capacity:,} held back)"
    )
    if summary.recycled is not None:
        print(
            f"  recycled nurturing → active sales: {summary.recycled:,}, expected value "
            f"{summary.expected_value_moved_pln:,.0f} PLN"
        )
    print(f"  tiers: {summary.tiers}")
    print(f"  by source: {summary.moved_by_source}")
    print(f"  scores and summary in {done.folder}/; {registry.where(done.run_id)}")
    return 0


def _loading(source: str) -> Callable[[], LeadData]:
    """The data, its read begun now, on a thread, before this command imports its modules
    and loads the models: those are Python that holds the GIL on one core, while polars
    reads and checks a folder, and a PostgreSQL store sends its tables, mostly without it
    (LeadStore.loading)."""
    from features.tables import is_store_url, load_data
    from features.threads import behind

    if not is_store_url(source):
        return behind(lambda: load_data(source))
    from features.store.lead_store import LeadStore  # SQLAlchemy only when a store is used

    return LeadStore(source).loading()
