"""`leadscore tune`: Optuna over the conversion booster; the next `train` uses the best."""

from __future__ import annotations

import argparse

from leadscore.commands import options

NAME = "tune"
HELP = "Optuna search over the conversion booster's parameters"
DESCRIPTION = (
    "TPE with median pruning, judged on the backtests' pooled log loss; the "
    "study is kept beside the tuned parameters (resumable), each trial is a nested MLflow "
    "run, and the best parameters go to the train config's tuned_params file for the next "
    "`train`."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    options.training_options(parser)
    parser.add_argument("--trials", type=int, default=20, help="trials to run (default 20)")


def run(args: argparse.Namespace) -> int:
    from features.tables import load_data
    from leadscore.settings import write_config
    from training.tune import tune

    features, config = options.training_configs(args)
    registry = options.registry()
    result = tune(load_data(args.data), features, config, args.trials, registry)
    write_config(result.destination, result.best)
    print(
        f"tuned: {result.trials} trials in the study, best backtest log loss "
        f"{result.best_log_loss:.5f} — {registry.where(result.run_id)}"
    )
    print(f"  best parameters written to {result.destination} (the next `train` uses them):")
    for name, value in result.best.model_dump().items():
        print(f"    {name}: {value}")
    return 0
