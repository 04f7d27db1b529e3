"""`leadscore train`: backtest, refit on everything, record the run, register both models."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.commands import options

if TYPE_CHECKING:
    from training.config import Procedure
    from training.dataset import TrainingSet
    from training.evaluation import FoldLine


NAME = "train"
HELP = "train the conversion and deal-velocity models, log them to MLflow, register"
DESCRIPTION = (
    "Validate the data, build snapshots, split by time, train LightGBM "
    "conversion (calibrated) and velocity (discrete-time hazard) models, evaluate on "
    "the newest cohort (recall at the routing config's sales capacity) and register both "
    "as challenger (champion if first). With --engine dask, snapshots and features are "
    "built in the data's hash partitions and the sample (within the row budget) is "
    "gathered here for LightGBM."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    options.training_options(parser)
    options.policy_options(parser)
    options.engine_options(parser)
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")


def run(args: argparse.Namespace) -> int:
    from leadscore.progress import steps
    from leadscore.simulator.oracle import oracle_for
    from training.train import train_on

    procedure = options.procedure(args, seed=args.seed)
    policy = options.policy(args)
    registry = options.registry()
    with steps("train") as step, _builder(args) as build:
        step("snapshots and features")
        ts = build(procedure)
        oracle = oracle_for(Path(args.data), procedure.features.horizon_days)
        result = train_on(ts, procedure, policy, registry, oracle, step)
    print(f"trained: {registry.where(result.run_id)}")
    for reg in (result.conversion, result.velocity):
        if reg is not None:
            print(f"  registered {reg.name} version {reg.version} as {', '.join(reg.aliases)}")
    for note in result.notes:
        print(f"  note: {note}")
    print_backtests(result.table, result.metrics)
    print_metrics(result.metrics)
    return 0


@contextmanager
def _builder(args: argparse.Namespace) -> Iterator[Callable[[Procedure], TrainingSet]]:
    """How the training set is built: in this process, or in the partitions on Dask (the
    cluster stays up until training ends: the reference reads the partitions' events)."""
    from features.tables import load_data
    from training.dataset import build_training_set

    engine = options.engine(args)
    if engine.engine == "local":
        yield lambda p: build_training_set(load_data(args.data), p.features, p.train.seed)
        return
    from leadscore.engine.cluster import dask_client
    from leadscore.engine.parts import partitions
    from leadscore.engine.train_set import training_set_on_dask

    with partitions(args.data, engine) as folders, dask_client(engine) as client:
        yield lambda p: training_set_on_dask(client, folders, p.features, p.train.seed)


def print_backtests(table: list[FoldLine], metrics: dict[str, float]) -> None:
    """The backtest table: each fold and the pool, the model beside its logistic baseline."""
    print("  backtests, out of fold (AUC with a 95% interval over leads):")
    print(
        f"    {'fold':<7}{'tests from':<12}{'rows':>10}{'SQL leads':>10}{'rate':>8}"
        f"{'AUC':>8}{'95% interval':>18}{'LR AUC':>8}{'ECE':>8}"
    )
    for line in table:
        interval = f"[{line.auc.low:.3f}, {line.auc.high:.3f}]"
        print(
            f"    {line.fold:<7}{line.test_from:<12}{line.rows:>10,}{line.converted_leads:>10,}"
            f"{line.base_rate:>8.4f}{line.auc.estimate:>8.3f}{interval:>18}"
            f"{line.baseline_auc:>8.3f}{line.ece:>8.4f}"
        )
    print(
        f"  model − logistic regression: {metrics['model_minus_baseline_auc']:+.4f} AUC "
        f"[{metrics['model_minus_baseline_auc_low']:+.4f}, "
        f"{metrics['model_minus_baseline_auc_high']:+.4f}]"
    )


def print_metrics(metrics: dict[str, float]) -> None:
    """Metrics as an aligned two-column table."""
    width = max(len(k) for k in metrics)
    for name, value in metrics.items():
        print(f"  {name:<{width}}  {value:.4f}")
