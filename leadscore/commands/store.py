"""`leadscore store`: the lead store's schema, a data folder loaded into it, and its export."""

from __future__ import annotations

import argparse

from leadscore.commands import options

NAME = "store"
HELP = "create or upgrade the lead store, load a data folder into it, export it"
DESCRIPTION = (
    "init: create the store's tables or bring them to this version's schema (migrations). "
    "load DIR: bulk-load a data folder (leads, events, stages), idempotently: loading the "
    "same folder again stores nothing new. export --out DIR: write the store as a data folder "
    "of the contract (Parquet). The store is --store-config's (LEADSCORE_STORE_URL overrides "
    "its URL; the embedded default is a SQLite file)."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="create or upgrade the store's tables")
    load = actions.add_parser("load", help="bulk-load a data folder")
    load.add_argument("folder", metavar="DIR", help="data folder holding leads, events, stages")
    export = actions.add_parser("export", help="write the store as a data folder")
    export.add_argument("--out", required=True, metavar="DIR", help="output folder")
    for action in (init, load, export):
        options.store_option(action)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from features.store.lead_store import LeadStore
    from features.tables import load_data
    from leadscore.settings import store_config

    store = LeadStore(store_config(args.store_config).url)
    shown = store.engine.url.render_as_string(hide_password=True)
    if args.action == "init":
        print(f"{shown}: schema at revision {store.upgrade()}")
        return 0
    store.check()
    if args.action == "load":
        data = load_data(args.folder)
        added = store.load(data, changed_by=f"load {args.folder}", now=datetime.now(UTC))
        print(
            f"{shown}: {added['leads']:,} new leads, {added['events']:,} new events, "
            f"{added['stages']:,} new stage changes from {args.folder}"
        )
        return 0
    data = store.export(Path(args.out))
    print(
        f"{args.out}/: {data.leads.height:,} leads, {data.events.height:,} events, "
        f"{data.stages.height:,} stage changes from {shown}"
    )
    return 0
