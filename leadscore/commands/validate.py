"""`leadscore validate`: a data folder held to the contract, every problem listed."""

from __future__ import annotations

import argparse
import sys

NAME = "validate"
HELP = "check a data folder against the lead-data contract"
DESCRIPTION = (
    "List every contract problem (table, column, rows, examples); exit 1 if "
    "there are any, 0 when the folder is clean."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="data folder holding leads, events and stages")


def run(args: argparse.Namespace) -> int:
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
