"""What each `leadscore` subcommand does: load its configs, call the library, print.

Handlers are thin and import lazily, so `leadscore --help` stays fast and a command pays only
for the packages it uses. The parser that maps arguments onto them is leadscore/cli.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.settings import load_config, validated

if TYPE_CHECKING:
    from features.config import FeatureConfig
    from training.config import TrainConfig
    from training.evaluation import FoldLine


def _training_configs(args: argparse.Namespace) -> tuple[FeatureConfig, TrainConfig]:
    """(FeatureConfig, TrainConfig) from --features-config and --config."""
    from features.config import FeatureConfig
    from training.config import TrainConfig

    return load_config(args.features_config, FeatureConfig), load_config(args.config, TrainConfig)


def cmd_validate(args: argparse.Namespace) -> int:
    from features.tables import check_folder

    problems, data = check_folder(args.data)
    if problems:
        print(f"{args.data}: {len(problems)} problems", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    assert data is not None
    print(
        f"{args.data}: OK — {data.leads.height:,} leads, {data.events.height:,} events, "
        f"{data.stages.height:,} stage changes, attributes: {', '.join(data.attribute_columns)}"
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from leadscore.simulate import SimulationConfig, run_simulation

    config = load_config(args.config, SimulationConfig)
    run_simulation(config, Path(args.out), args.months, args.leads_per_month, args.seed)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from leadscore.importers import import_export, mapping_path

    mapping = mapping_path(args.kind, args.mapping)
    report = import_export(mapping, Path(args.src), Path(args.out), args.keep_leaky, args.kind)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in report.lines():
        print(line)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    import numpy as np

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data, parse_moment, write_frame
    from features.vectors import block_frame, open_leads, table_features, to_ms

    config = load_config(args.config, FeatureConfig)
    as_of = parse_moment(args.as_of)
    data = load_data(args.data)
    spec = FeatureSpec.fit(config, data.leads)
    lead_ids = open_leads(data, as_of)
    block = table_features(data, spec, lead_ids, np.full(len(lead_ids), to_ms(as_of)))
    path = write_frame(block_frame(spec, block), args.out)
    print(
        f"{path}: {len(lead_ids):,} open leads × {len(spec.feature_names)} features "
        f"as of {as_of.isoformat()} (spec {spec.hash})"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from features.tables import load_data
    from leadscore.progress import steps
    from training.registry import run_url
    from training.train import train

    features, config = _training_configs(args)
    if args.seed is not None:
        config = config.model_copy(update={"seed": args.seed})
    with steps("train") as step:
        step("validate data")
        data = load_data(args.data)
        result = train(data, Path(args.data), features, config, step)
    print(f"trained: {run_url(result.run_id)}")
    for reg in (result.conversion, result.velocity):
        if reg is not None:
            print(f"  registered {reg.name} version {reg.version} as {', '.join(reg.aliases)}")
    for note in result.notes:
        print(f"  note: {note}")
    print_backtests(result.table, result.metrics)
    print_metrics(result.metrics)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from features.tables import load_data
    from training.registry import run_url
    from training.tune import tune

    features, config = _training_configs(args)
    result = tune(load_data(args.data), features, config, args.trials)
    print(
        f"tuned: {result.trials} trials in the study, best backtest log loss "
        f"{result.best_log_loss:.5f} — {run_url(result.run_id)}"
    )
    print(f"  best parameters written to {result.written_to} (the next `train` uses them):")
    for name, value in result.best.model_dump().items():
        print(f"    {name}: {value}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from features.tables import load_data
    from training.config import TrainConfig
    from training.promote import promote
    from training.registry import run_url

    config = load_config(args.config, TrainConfig)
    decision = promote(load_data(args.data), config, force=args.force)
    if decision.run_id is None:
        print(f"kept champion: {decision.reason}")
        return 0
    names = list(decision.table)
    print(f"{'metric':<20}" + "".join(f"{n:>18}" for n in names))
    for metric in next(iter(decision.table.values())):
        print(f"{metric:<20}" + "".join(f"{decision.table[n][metric]:>18.4f}" for n in names))
    verdict = "promoted" if decision.promoted else "kept champion"
    print(f"{verdict}: {decision.reason} — recorded in {run_url(decision.run_id)}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from training.promote import rollback

    current, previous = rollback()
    print(f"lead-conversion@champion: v{current} → v{previous} (deal-velocity follows its run)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serving.config import EconomicsConfig, RoutingConfig, ServeConfig, ServiceSettings
    from serving.launch import serve

    server = load_config(args.config, ServeConfig)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = ServiceSettings(
        serve=validated(ServeConfig, server.model_dump() | overrides, "--port/--host"),
        routing=load_config(args.routing_config, RoutingConfig),
        economics=load_config(args.economics_config, EconomicsConfig),
    )
    serve(settings)
    return 0


def cmd_funnel(args: argparse.Namespace) -> int:
    from features.tables import load_data, parse_moment
    from leadscore.funnel.figures import FunnelConfig
    from leadscore.funnel.report import run_funnel
    from serving.config import EconomicsConfig, RoutingConfig
    from training.config import TrainConfig
    from training.registry import run_url

    config = load_config(args.config, FunnelConfig)
    economics = load_config(args.economics_config, EconomicsConfig)
    routing = load_config(args.routing_config, RoutingConfig)
    train = load_config(args.train_config, TrainConfig)
    as_of = parse_moment(args.as_of) if args.as_of else None
    html, json = (Path(p) if p else None for p in (args.html, args.json))
    data = load_data(args.data)
    _, run_id = run_funnel(data, as_of, config, economics, routing, train, html, json)
    for path in (json, html):
        if path is not None:
            print(f"wrote {path}")
    print(f"logged: {run_url(run_id)}")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from features.tables import load_data, parse_moment
    from leadscore.progress import bar
    from serving.config import EconomicsConfig, RoutingConfig
    from serving.rescore import read_previous, run_rescore
    from training.registry import run_url

    routing = load_config(args.routing_config, RoutingConfig)
    economics = load_config(args.economics_config, EconomicsConfig)
    data = load_data(args.data)
    as_of = parse_moment(args.as_of) if args.as_of else data.end
    previous = read_previous(args.previous) if args.previous else None
    with bar(f"rescoring the {args.pool} pool") as update:
        done = run_rescore(
            data, as_of, args.pool, routing, economics, previous, Path(args.out), update
        )
    summary = done.summary
    print(
        f"{done.folder}/: {summary['leads']:,} leads of the {args.pool} pool as of "
        f"{summary['as_of']}"
    )
    print(
        f"  to active sales: {summary['to_active_sales']:,} (tier rule wanted "
        f"{summary['tier_rule_to_active_sales']:,}; capacity {summary['capacity_per_day']} a "
        f"day, {summary['held_back_by_capacity']:,} held back)"
    )
    if summary["recycled"] is not None:
        print(
            f"  recycled nurturing → active sales: {summary['recycled']:,}, expected value "
            f"{summary['expected_value_moved_pln']:,.0f} PLN"
        )
    print(f"  tiers: {summary['tiers']}")
    print(f"  by source: {summary['moved_by_source']}")
    print(f"  scores and summary in {done.folder}/; {run_url(done.run_id)}")
    return 0


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
