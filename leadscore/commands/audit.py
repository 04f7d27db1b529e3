"""`leadscore audit LEAD_ID`: who brought a lead, what happened to it, and every score it got."""

from __future__ import annotations

import argparse
from typing import Any

from leadscore.commands import options

NAME = "audit"
HELP = "a lead's trail: attribution history, stages and every decision with model versions"
DESCRIPTION = (
    "Print what the store knows of a lead, oldest first: who brought it (source, partner) "
    "and owns it, with each change, when and by whom; its stages; and every decision — "
    "when, as of when, both model versions, score, tier, route and why, the top reasons, "
    "whether it was in the routing holdout and who asked. Exit 1 if the lead is unknown."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lead_id", metavar="LEAD_ID")
    parser.add_argument("--json", action="store_true", help="print the trail as JSON")
    options.store_option(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from features.errors import LeadscoreError
    from features.store.lead_store import LeadStore
    from features.store.records import from_us
    from leadscore.settings import store_config

    store = LeadStore(store_config(args.store_config).url)
    store.check()
    if store.history(args.lead_id) is None:
        raise LeadscoreError(f"lead_id: {args.lead_id!r} is not in the store")
    trail = {
        name: [
            {k: from_us(v).isoformat() if k in MOMENTS else v for k, v in row.items()}
            for row in rows
        ]
        for name, rows in store.trail(args.lead_id).items()
    }
    if args.json:
        print(json.dumps({"lead_id": args.lead_id} | trail, indent=1))
        return 0
    print(f"lead {args.lead_id}")
    print("attribution:")
    for row in trail["attribution"]:
        print(f"  {row['changed_at']}  {row['field']} = {row['value']}  (by {row['changed_by']})")
    print("stages:")
    for row in trail["stages"]:
        print(f"  {row['ts']}  {row['stage']}" + (f"  MRR {row['mrr']:g}" if row["mrr"] else ""))
    print("decisions:")
    for row in trail["decisions"]:
        print(_decision_line(row))
    return 0


MOMENTS = ("changed_at", "ts", "scored_at", "as_of", "received_at")


def _decision_line(row: dict[str, Any]) -> str:
    held = " [holdout]" if row["holdout"] else ""
    up = ", ".join(reason["feature"] for reason in row["reasons"]["up"]) or "-"
    return (
        f"  {row['scored_at']}  as of {row['as_of']}  conversion v{row['conversion_version']} "
        f"+ velocity v{row['velocity_version']}  score {row['score']:g} tier {row['tier']} → "
        f"{row['route']}{held} ({row['route_reason']}); up: {up}; by {row['caller']}"
    )
