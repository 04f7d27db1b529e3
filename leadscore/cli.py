"""The one console command, `leadscore`: its subcommands, their options and help.

What each subcommand does is in leadscore/commands.py. User errors (LeadscoreError) become one
line on stderr and exit code 1; argparse's own usage errors exit 2. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from features.errors import LeadscoreError
from leadscore import commands
from leadscore.settings import default_config

Handler = Callable[[argparse.Namespace], int]


def _training_options(parser: argparse.ArgumentParser, data_help: str = "data folder") -> None:
    """--data plus the two configs every training-side command reads."""
    parser.add_argument("--data", required=True, help=data_help)
    parser.add_argument("--config", default=default_config("train"), help="training config")
    parser.add_argument(
        "--features-config", default=default_config("features"), help="feature config"
    )


def _routing_options(parser: argparse.ArgumentParser) -> None:
    """The routing policy and the economics every scoring command applies."""
    parser.add_argument(
        "--routing-config", default=default_config("routing"), help="tiers and sales capacity"
    )
    parser.add_argument(
        "--economics-config", default=default_config("economics"), help="MRR, lifetime, value"
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadscore",
        description="Lead scoring: simulate or validate lead data, build point-in-time "
        "features, train and promote models, serve scores, rescore the nurture pool.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser(
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
    sim.set_defaults(handler=commands.cmd_simulate)

    imp = sub.add_parser(
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
    imp.set_defaults(handler=commands.cmd_import)

    feat = sub.add_parser(
        "features",
        help="write point-in-time feature vectors of the open leads at a moment",
        description="One row per lead created before --as-of that is not WON or LOST then, "
        "lead_id first; only events strictly before --as-of are used.",
    )
    feat.add_argument("--data", required=True, help="data folder")
    feat.add_argument("--as-of", required=True, help="UTC moment, ISO 8601 (e.g. 2026-03-01)")
    feat.add_argument("--out", required=True, help="output file, .parquet or .csv")
    feat.add_argument("--config", default=default_config("features"), help="feature config")
    feat.set_defaults(handler=commands.cmd_features)

    tr = sub.add_parser(
        "train",
        help="train the conversion and deal-velocity models, log them to MLflow, register",
        description="Validate the data, build snapshots, split by time, train LightGBM "
        "conversion (calibrated) and velocity (discrete-time hazard) models, evaluate on "
        "the newest cohort and register both as challenger (champion if first).",
    )
    _training_options(tr)
    tr.add_argument("--seed", type=int, default=None, help="override the config's seed")
    tr.set_defaults(handler=commands.cmd_train)

    tu = sub.add_parser(
        "tune",
        help="Optuna search over the conversion booster's parameters",
        description="TPE with median pruning, judged on the backtests' pooled log loss; the "
        "study is kept beside the tuned parameters (resumable), each trial is a nested MLflow "
        "run, and the best parameters go to the train config's tuned_params file for the next "
        "`train`.",
    )
    _training_options(tu)
    tu.add_argument("--trials", type=int, default=20, help="trials to run (default 20)")
    tu.set_defaults(handler=commands.cmd_tune)

    pro = sub.add_parser(
        "promote",
        help="backtest champion and challenger on the same data; promote if it holds up",
        description="Re-runs the backtests of both models' recorded training procedures on "
        "the same folds of --data and moves champion to the challenger unless it loses to its "
        "own logistic baseline beyond the noise, trails the champion's AUC by more than the "
        "tolerance, or calibrates worse (ECE); the newer model wins ties. --force skips the "
        "gate. The decision and both sets of metrics are recorded in MLflow.",
    )
    pro.add_argument("--data", required=True, help="data folder to backtest on")
    pro.add_argument(
        "--config", default=default_config("train"), help="training config (the tolerances)"
    )
    pro.add_argument("--force", action="store_true", help="promote whatever the metrics say")
    pro.set_defaults(handler=commands.cmd_promote)

    rb = sub.add_parser("rollback", help="move champion back to the previous champion")
    rb.set_defaults(handler=commands.cmd_rollback)

    srv = sub.add_parser(
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
    _routing_options(srv)
    srv.set_defaults(handler=commands.cmd_serve)

    fun = sub.add_parser(
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
    _routing_options(fun)
    fun.add_argument("--train-config", default=default_config("train"), help="time split")
    fun.set_defaults(handler=commands.cmd_funnel)

    res = sub.add_parser(
        "rescore",
        help="rescore a pool of leads with the champion models; route the warm ones to sales",
        description="Features, both champion models and the routing policy for every lead of "
        "the pool at --as-of (default: the data's end); reasons for the leads sent to active "
        "sales. Publishes DIR/scores.parquet and DIR/summary.json together (a run killed at "
        "any moment leaves the previous pair); with --previous, marks the leads that moved "
        "from nurturing to active sales (recycled).",
    )
    res.add_argument("--data", required=True, help="data folder")
    res.add_argument("--out", required=True, metavar="DIR", help="output folder (a link)")
    res.add_argument("--as-of", default=None, help="UTC moment, ISO 8601 (default: data end)")
    res.add_argument(
        "--pool",
        choices=("nurture", "open", "all"),
        default="nurture",
        help="which leads: latest stage NURTURE (default), open, or all",
    )
    res.add_argument(
        "--previous", default=None, help="an earlier output folder (or scores file) to compare"
    )
    _routing_options(res)
    res.set_defaults(handler=commands.cmd_rescore)

    val = sub.add_parser(
        "validate",
        help="check a data folder against the lead-data contract",
        description="List every contract problem (table, column, rows, examples); exit 1 if "
        "there are any, 0 when the folder is clean.",
    )
    val.add_argument("data", help="data folder holding leads, events and stages")
    val.set_defaults(handler=commands.cmd_validate)
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
