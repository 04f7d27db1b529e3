"""`leadscore funnel`: the funnel economics report, and what model routing adds."""

from __future__ import annotations

import argparse
from pathlib import Path

from leadscore.commands import options
from leadscore.settings import default_config, load_config

NAME = "funnel"
HELP = "funnel economics from the data: conversion, velocity, CLV, nurture, model value"
DESCRIPTION = (
    "Stage-to-stage conversion (overall, by source, partner and monthly "
    "cohort, with Wilson intervals), deal velocity (Kaplan-Meier with open deals "
    "censored), MRR, CLV and the allowable acquisition cost at the margin target, the "
    "nurture pool, and — when a champion exists — what routing its top leads a day "
    "catches against random order and simple rules. Only what was known before --as-of "
    "counts. Printed as tables, optionally written as JSON and a self-contained HTML page, "
    "and logged to MLflow as a run named funnel. On a store URL, the JSON is also kept in "
    "the store for the service's funnel page (/pages/funnel)."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    options.as_of_option(parser, default="everything, as of the data's end")
    parser.add_argument("--html", default=None, help="write the HTML report here")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    parser.add_argument("--config", default=default_config("funnel"), help="ranking, rules")
    options.policy_options(parser)


def run(args: argparse.Namespace) -> int:
    from features.store.reports import FUNNEL
    from features.tables import is_store_url, load_data
    from leadscore.funnel.figures import FunnelConfig
    from leadscore.funnel.report import Outputs, run_funnel, to_json

    config = load_config(args.config, FunnelConfig)
    policy = options.policy(args)
    outputs = Outputs(*(Path(p) if p else None for p in (args.html, args.json)))
    data = load_data(args.data)
    registry = options.registry()
    report, run_id = run_funnel(data, args.as_of, config, policy, registry, outputs)
    for path in (outputs.json, outputs.html):
        if path is not None:
            print(f"wrote {path}")
    if is_store_url(args.data):
        options.keep_report(args.data, FUNNEL, report.figures.as_of, to_json(report))
    print(f"logged: {registry.where(run_id)}")
    return 0
