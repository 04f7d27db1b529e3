"""`leadscore promote`: champion and challenger backtested alike; promote if it holds up."""

from __future__ import annotations

import argparse

from leadscore.commands import options
from leadscore.settings import default_config, load_config

NAME = "promote"
HELP = "backtest champion and challenger on the same data; promote if it holds up"
DESCRIPTION = (
    "Re-runs the backtests of both models' recorded training procedures on "
    "the same folds of --data and moves champion to the challenger unless it loses to its "
    "own logistic baseline beyond the noise, trails the champion's AUC by more than the "
    "tolerance, or calibrates worse (ECE); the newer model wins ties. --force skips the "
    "gate. The decision and both sets of metrics are recorded in MLflow."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser, help="data folder to backtest on")
    parser.add_argument(
        "--config", default=default_config("train"), help="training config (the tolerances)"
    )
    parser.add_argument("--force", action="store_true", help="promote whatever the metrics say")


def run(args: argparse.Namespace) -> int:
    from features.tables import load_data
    from training.config import TrainConfig
    from training.promote import promote

    config = load_config(args.config, TrainConfig)
    registry = options.registry()
    decision = promote(load_data(args.data), config, registry, force=args.force)
    if decision.run_id is None:
        print(f"kept champion: {decision.reason}")
        return 0
    names = list(decision.table)
    print(f"{'metric':<20}" + "".join(f"{n:>18}" for n in names))
    for metric in next(iter(decision.table.values())):
        print(f"{metric:<20}" + "".join(f"{decision.table[n][metric]:>18.4f}" for n in names))
    verdict = "promoted" if decision.promoted else "kept champion"
    print(f"{verdict}: {decision.reason} — recorded in {registry.where(decision.run_id)}")
    return 0
