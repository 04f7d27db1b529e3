"""`leadscore monitor`: the champion's health, with an exit code a scheduler can act on."""

from __future__ import annotations

import argparse
from pathlib import Path

from leadscore.commands import options
from leadscore.settings import default_config, load_config

NAME = "monitor"
HELP = "check the champion for drift, calibration, value over the rule and data health"
DESCRIPTION = (
    "Score the open leads of the last periods before --as-of (weeks by default, "
    "configs/monitor.yaml) with the champion pair, and compare them with the reference its "
    "training run recorded: PSI of every feature and of the score, predicted against observed "
    "conversion once labels have matured (overall and by source, with Wilson intervals), AUC, "
    "deal velocity against Kaplan-Meier, the tiers' sales picks against the best one-line rule "
    "of configs/funnel.yaml, and data health (unseen sources and categories, missing "
    "attributes, unknown or vanished event types). Each breach is one line; exit code 0 when "
    "healthy, 2 on a breach, 1 on a user error. Written as JSON and an offline HTML page on "
    "request, and logged to MLflow as a run named monitor; on a store URL the JSON is also "
    "kept in the store for the service's model health page (/pages/health)."
)
BREACH = 2


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    options.as_of_option(parser, default="the data's end")
    parser.add_argument("--html", default=None, help="write the HTML report here")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    parser.add_argument("--config", default=default_config("monitor"), help="thresholds")
    parser.add_argument(
        "--funnel-config",
        default=default_config("funnel"),
        help="the one-line routing rules the model is compared with",
    )
    options.policy_options(parser)


def run(args: argparse.Namespace) -> int:
    from features.store.reports import MONITOR
    from features.tables import is_store_url, load_data
    from leadscore.funnel.figures import FunnelConfig
    from leadscore.funnel.report import Outputs
    from leadscore.monitor.config import MonitorConfig
    from leadscore.monitor.report import Judging, run_monitor, to_json

    judging = Judging(
        load_config(args.config, MonitorConfig),
        options.policy(args),
        load_config(args.funnel_config, FunnelConfig).rules,
    )
    outputs = Outputs(*(Path(p) if p else None for p in (args.html, args.json)))
    registry = options.registry()
    findings, run_id = run_monitor(load_data(args.data), args.as_of, judging, registry, outputs)
    for path in (outputs.json, outputs.html):
        if path is not None:
            print(f"wrote {path}")
    if is_store_url(args.data):
        options.keep_report(args.data, MONITOR, findings.as_of, to_json(findings))
    print(f"logged: {registry.where(run_id)}")
    return BREACH if findings.breaches else 0
