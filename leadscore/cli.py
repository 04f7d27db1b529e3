"""The one console command, `leadscore`, and its subcommands.

Each subcommand is a thin function: parse arguments, load the config, call the library, print.
User errors (LeadscoreError) become one line on stderr and exit code 1; argparse's own usage
errors exit 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from features.errors import LeadscoreError
from leadscore.settings import default_config

Handler = Callable[[argparse.Namespace], int]


def _validate(args: argparse.Namespace) -> int:
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


def _simulate(args: argparse.Namespace) -> int:
    from leadscore.settings import load_config
    from leadscore.simulate import SimulationConfig, run_simulation

    config = load_config(args.config, SimulationConfig)
    run_simulation(config, Path(args.out), args.months, args.leads_per_month, args.seed)
    return 0


def _import(args: argparse.Namespace) -> int:
    from leadscore.importers import import_export, mapping_path

    mapping = mapping_path(args.kind, args.mapping)
    report = import_export(mapping, Path(args.src), Path(args.out), args.keep_leaky, args.kind)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in report.lines():
        print(line)
    return 0


def _features(args: argparse.Namespace) -> int:
    import numpy as np

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data, parse_moment, write_frame
    from features.vectors import block_frame, open_leads, table_features, to_ms
    from leadscore.settings import load_config

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


def _train(args: argparse.Namespace) -> int:
    from features.config import FeatureConfig
    from features.tables import load_data
    from leadscore.progress import steps
    from leadscore.settings import load_config
    from training.config import TrainConfig
    from training.registry import run_url
    from training.train import train

    features = load_config(args.features_config, FeatureConfig)
    config = load_config(args.config, TrainConfig)
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
    print_metrics(result.metrics)
    return 0


def _tune(args: argparse.Namespace) -> int:
    from features.config import FeatureConfig
    from features.tables import load_data
    from leadscore.settings import load_config
    from training.config import TrainConfig
    from training.registry import run_url
    from training.tune import tune

    features = load_config(args.features_config, FeatureConfig)
    config = load_config(args.config, TrainConfig)
    result = tune(load_data(args.data), features, config, args.trials)
    print(
        f"tuned: {result.trials} trials in the study, best validation log loss "
        f"{result.best_log_loss:.5f} — {run_url(result.run_id)}"
    )
    print(f"  best parameters written to {result.written_to} (the next `train` uses them):")
    for name, value in result.best.model_dump().items():
        print(f"    {name}: {value}")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from features.config import FeatureConfig
    from features.tables import load_data
    from leadscore.settings import load_config
    from training.config import TrainConfig
    from training.promote import promote
    from training.registry import run_url

    features = load_config(args.features_config, FeatureConfig)
    config = load_config(args.config, TrainConfig)
    decision = promote(load_data(args.data), features, config, force=args.force)
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


def _rollback(args: argparse.Namespace) -> int:
    from training.promote import rollback

    current, previous = rollback()
    print(f"lead-conversion@champion: v{current} → v{previous} (deal-velocity follows its run)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from leadscore.settings import load_config
    from serving.config import EconomicsConfig, RoutingConfig, ServeConfig, ServiceSettings
    from serving.launch import serve

    server = load_config(args.config, ServeConfig)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = ServiceSettings(
        serve=ServeConfig.model_validate(server.model_dump() | overrides),
        routing=load_config(args.routing_config, RoutingConfig),
        economics=load_config(args.economics_config, EconomicsConfig),
    )
    serve(settings)
    return 0


def _funnel(args: argparse.Namespace) -> int:
    from features.tables import load_data, parse_moment
    from leadscore.funnel.figures import FunnelConfig
    from leadscore.funnel.report import run_funnel
    from leadscore.settings import load_config
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


def _rescore(args: argparse.Namespace) -> int:
    import json

    import polars as pl

    from features.errors import LeadscoreError
    from features.tables import load_data, parse_moment, write_frame
    from leadscore.progress import bar
    from leadscore.settings import load_config
    from serving.config import EconomicsConfig, RoutingConfig
    from serving.rescore import rescore
    from serving.scorer import ModelPair
    from training import registry

    routing = load_config(args.routing_config, RoutingConfig)
    economics = load_config(args.economics_config, EconomicsConfig)
    data = load_data(args.data)
    as_of = parse_moment(args.as_of) if args.as_of else data.end
    previous = None
    if args.previous:
        try:
            reader = pl.read_parquet if args.previous.endswith(".parquet") else pl.read_csv
            previous = reader(args.previous)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise LeadscoreError(f"--previous {args.previous}: cannot read ({exc})") from None
    registry.configure()
    pair = ModelPair.load(
        registry.version_of(registry.CONVERSION, registry.CHAMPION),
        registry.version_of(registry.VELOCITY, registry.CHAMPION),
    )
    with bar(f"rescoring the {args.pool} pool") as update:
        result = rescore(data, pair, as_of, args.pool, routing, economics, previous, update)
    path = write_frame(result.frame, args.out)
    summary_path = path.with_name(path.stem + ".summary.json")
    partial = summary_path.with_name(f".{summary_path.name}.partial")
    partial.write_text(json.dumps(result.summary, indent=1))
    partial.replace(summary_path)
    summary = result.summary
    run_id = registry.record_run(
        "rescore",
        {
            "as_of": summary["as_of"],
            "pool": args.pool,
            "out": str(path),
            "conversion_version": pair.conversion_version,
            "velocity_version": pair.velocity_version,
        },
        {
            k: float(v)
            for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        {"rescore_summary.json": summary},
    )
    print(f"{path}: {summary['leads']:,} leads of the {args.pool} pool as of {summary['as_of']}")
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
    print(f"  summary: {summary_path}; {registry.run_url(run_id)}")
    return 0


def print_metrics(metrics: dict[str, float]) -> None:
    """Metrics as an aligned two-column table."""
    width = max(len(k) for k in metrics)
    for name, value in metrics.items():
        print(f"  {name:<{width}}  {value:.4f}")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadscore",
        description="Lead scoring: simulate or validate lead data, build point-in-time "
        "features, train and promote models, serve scores, rescore the nurture pool.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser(
        "simulate",
        help="write a simulated funnel (leads, events, stages, truth) to a data folder",
        description="Simulate the sales funnel the product comes from: ~10,000 leads a month, "
        "behaviour driven by a latent readiness to buy, MQL→SQL→WON/LOST stages, a large "
        "nurture pool, and a `truth` table with each lead's true conversion probability.",
    )
    sim.add_argument("--out", required=True, help="data folder to write (created if missing)")
    sim.add_argument("--months", type=int, default=24, help="months of leads (default 24)")
    sim.add_argument(
        "--leads-per-month", type=int, default=10_000, help="new leads a month (default 10000)"
    )
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument("--config", default=default_config("simulate"), help="funnel calibration")
    sim.set_defaults(handler=_simulate)

    imp = commands.add_parser(
        "import",
        help="map a CRM export (x-education, bank-marketing, crm-opportunities) into a data folder",
        description="Read the export at SRC (its folder or main file) with the mapping "
        "configs/importers/KIND.yaml (or --mapping FILE for your own export) and write a "
        "validated data folder with the train/features configs it needs. Leaky columns are "
        "dropped and listed with the reason; --keep-leaky keeps one, with a warning.",
    )
    imp.add_argument("kind", metavar="KIND", help="x-education, bank-marketing, crm-opportunities")
    imp.add_argument("src", metavar="SRC", help="the export: its folder or its main file")
    imp.add_argument("--out", required=True, help="data folder to write (must be new or empty)")
    imp.add_argument(
        "--keep-leaky",
        nargs="+",
        action="extend",
        default=[],
        metavar="COL",
        help="keep these leaky columns as attributes (metrics become optimistic)",
    )
    imp.add_argument("--mapping", default=None, help="mapping file instead of KIND's")
    imp.set_defaults(handler=_import)

    feat = commands.add_parser(
        "features",
        help="write point-in-time feature vectors of the open leads at a moment",
        description="One row per lead created before --as-of that is not WON or LOST then, "
        "lead_id first; only events strictly before --as-of are used.",
    )
    feat.add_argument("--data", required=True, help="data folder")
    feat.add_argument("--as-of", required=True, help="UTC moment, ISO 8601 (e.g. 2026-03-01)")
    feat.add_argument("--out", required=True, help="output file, .parquet or .csv")
    feat.add_argument("--config", default=default_config("features"), help="feature config")
    feat.set_defaults(handler=_features)

    tr = commands.add_parser(
        "train",
        help="train the conversion and deal-velocity models, log them to MLflow, register",
        description="Validate the data, build snapshots, split by time, train LightGBM "
        "conversion (calibrated) and velocity (discrete-time hazard) models, evaluate on "
        "the newest cohort and register both as challenger (champion if first).",
    )
    tr.add_argument("--data", required=True, help="data folder")
    tr.add_argument("--config", default=default_config("train"), help="training config")
    tr.add_argument("--features-config", default=default_config("features"), help="features")
    tr.add_argument("--seed", type=int, default=None, help="override the config's seed")
    tr.set_defaults(handler=_train)

    tu = commands.add_parser(
        "tune",
        help="Optuna search over the conversion booster's parameters",
        description="TPE with median pruning, judged on the validation period; the study is "
        "kept in mlruns/optuna.db (resumable), each trial is a nested MLflow run, and the best "
        "parameters go to the train config's tuned_params file for the next `train`.",
    )
    tu.add_argument("--data", required=True, help="data folder")
    tu.add_argument("--trials", type=int, default=20, help="trials to run (default 20)")
    tu.add_argument("--config", default=default_config("train"), help="training config")
    tu.add_argument("--features-config", default=default_config("features"), help="features")
    tu.set_defaults(handler=_tune)

    pro = commands.add_parser(
        "promote",
        help="score champion and challenger on the newest test period; promote if better",
        description="Moves champion to the challenger only when its AUC wins by the "
        "configured margin without worse calibration (ECE); --force skips the gate. The "
        "decision and both sets of metrics are recorded in MLflow.",
    )
    pro.add_argument("--data", required=True, help="data folder to evaluate on")
    pro.add_argument("--config", default=default_config("train"), help="training config")
    pro.add_argument("--features-config", default=default_config("features"), help="features")
    pro.add_argument("--force", action="store_true", help="promote whatever the metrics say")
    pro.set_defaults(handler=_promote)

    rb = commands.add_parser("rollback", help="move champion back to the previous champion")
    rb.set_defaults(handler=_rollback)

    srv = commands.add_parser(
        "serve",
        help="serve the champion models over HTTP: POST /score and /score_batch",
        description="Start the BentoML scoring service on lead-conversion@champion and "
        "deal-velocity@champion (reloaded when the aliases move). Prints a curl example; "
        "docs at /, health at /livez and /readyz, Prometheus at /metrics. Set "
        "LEADSCORE_API_TOKEN to require `Authorization: Bearer <token>` on the endpoints.",
    )
    srv.add_argument("--port", type=int, default=None, help="port (default: the config's, 3000)")
    srv.add_argument("--host", default=None, help="address (default: the config's, 127.0.0.1)")
    srv.add_argument("--config", default=default_config("serve"), help="server settings")
    srv.add_argument(
        "--routing-config", default=default_config("routing"), help="tiers and capacity"
    )
    srv.add_argument(
        "--economics-config", default=default_config("economics"), help="value of a lead"
    )
    srv.set_defaults(handler=_serve)

    fun = commands.add_parser(
        "funnel",
        help="funnel economics from the data: conversion, velocity, CLV, nurture, model value",
        description="Stage-to-stage conversion (overall, by source, partner and monthly "
        "cohort, with Wilson intervals), deal velocity (Kaplan-Meier with open deals "
        "censored), MRR, CLV and the allowable acquisition cost at the margin target, the "
        "nurture pool, and — when a champion exists — what routing its top leads a day "
        "catches against random order and simple rules. Only what was known before --as-of "
        "counts. Printed as tables, optionally written as JSON and a self-contained HTML page, "
        "and logged to MLflow as a run named funnel.",
    )
    fun.add_argument("--data", required=True, help="data folder")
    fun.add_argument("--as-of", default=None, help="UTC moment, ISO 8601 (default: data's end)")
    fun.add_argument("--html", default=None, help="write the HTML report here")
    fun.add_argument("--json", default=None, help="write the figures as JSON here")
    fun.add_argument("--config", default=default_config("funnel"), help="margin, ranking, rules")
    fun.add_argument(
        "--economics-config", default=default_config("economics"), help="MRR and lifetime"
    )
    fun.add_argument("--routing-config", default=default_config("routing"), help="sales capacity")
    fun.add_argument("--train-config", default=default_config("train"), help="time split")
    fun.set_defaults(handler=_funnel)

    res = commands.add_parser(
        "rescore",
        help="rescore a pool of leads with the champion models; route the warm ones to sales",
        description="Features, both champion models and the routing policy for every lead of "
        "the pool at --as-of (default: the data's end); reasons for the leads sent to active "
        "sales. Writes FILE atomically and FILE's stem + .summary.json; with --previous, marks "
        "the leads that moved from nurturing to active sales (recycled).",
    )
    res.add_argument("--data", required=True, help="data folder")
    res.add_argument("--out", required=True, help="output file, .parquet or .csv")
    res.add_argument("--as-of", default=None, help="UTC moment, ISO 8601 (default: data end)")
    res.add_argument(
        "--pool",
        choices=("nurture", "open", "all"),
        default="nurture",
        help="which leads: latest stage NURTURE (default), open, or all",
    )
    res.add_argument("--previous", default=None, help="an earlier rescore output to compare")
    res.add_argument(
        "--routing-config", default=default_config("routing"), help="tiers and capacity"
    )
    res.add_argument(
        "--economics-config", default=default_config("economics"), help="value of a lead"
    )
    res.set_defaults(handler=_rescore)

    val = commands.add_parser(
        "validate",
        help="check a data folder against the lead-data contract",
        description="List every contract problem (table, column, rows, examples); exit 1 if "
        "there are any, 0 when the folder is clean.",
    )
    val.add_argument("data", help="data folder holding leads, events and stages")
    val.set_defaults(handler=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except LeadscoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
