"""`leadscore simulate`: a simulated funnel with a known truth, into a data folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from features.errors import LeadscoreError
from leadscore.settings import default_config, load_config
from leadscore.simulator.config import DRIFTS

NAME = "simulate"
HELP = "write a simulated funnel (leads, events, stages, truth) to a data folder"
DESCRIPTION = (
    "Simulate the sales funnel the product comes from: ~10,000 leads a month, "
    "behaviour driven by a latent readiness to buy, MQL→SQL→WON/LOST stages, a large "
    "nurture pool, and a `truth` table with each lead's true conversion probability."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="data folder to write (created if missing)")
    parser.add_argument("--months", type=int, default=24, help="months of leads (default 24)")
    parser.add_argument(
        "--leads-per-month", type=int, default=10_000, help="new leads a month (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--config", default=default_config("simulate"), help="funnel calibration")
    parser.add_argument(
        "--drift",
        choices=DRIFTS,
        help="change the world from a month on, as the config's drift.NAME says (default: none)",
    )
    parser.add_argument(
        "--drift-from",
        type=int,
        metavar="N",
        help="months after the start when the drift begins (default: its from_month)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        metavar="N",
        help="write N hash partitions of the leads (DIR/part-NNNNN/, each a data folder, as "
        "`--engine dask` reads them), drawn in blocks of `block_leads` leads so that memory "
        "holds one block, not the run; DIR becomes a link to the finished output "
        "(default: one data folder, drawn at once)",
    )


def run(args: argparse.Namespace) -> int:
    from leadscore.simulator.blocks import PartitionedRun, simulate_partitioned
    from leadscore.simulator.config import SimulationConfig
    from leadscore.simulator.simulate import DriftChoice, run_simulation

    if args.drift is None and args.drift_from is not None:
        raise LeadscoreError("--drift-from needs --drift")
    config = load_config(args.config, SimulationConfig)
    drift = DriftChoice(args.drift, args.drift_from) if args.drift else None
    if args.partitions is None:
        run_simulation(config, Path(args.out), args.months, args.leads_per_month, args.seed, drift)
    else:
        run = PartitionedRun(args.months, args.leads_per_month, args.seed, args.partitions)
        simulate_partitioned(config, Path(args.out), run, drift)
    return 0
