"""`leadscore import`: a CRM export mapped into a validated data folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "import"
HELP = "map a CRM export (x-education, bank-marketing, crm-opportunities) into a data folder"
DESCRIPTION = (
    "Read the export at SRC (its folder or main file) with the mapping "
    "configs/importers/KIND.yaml (or --mapping FILE for your own export) and write a "
    "validated data folder with the train/features configs it needs. Leaky columns are "
    "dropped and listed with the reason; --keep-leaky keeps one, with a warning."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "kind", metavar="KIND", help="x-education, bank-marketing, crm-opportunities"
    )
    parser.add_argument("src", metavar="SRC", help="the export: its folder or its main file")
    parser.add_argument("--out", required=True, help="data folder to write (must be new or empty)")
    parser.add_argument(
        "--keep-leaky",
        nargs="+",
        action="extend",
        default=[],
        metavar="COL",
        help="keep these leaky columns as attributes (metrics become optimistic)",
    )
    parser.add_argument("--mapping", default=None, help="mapping file instead of KIND's")


def run(args: argparse.Namespace) -> int:
    from leadscore.importers import import_export, mapping_path

    mapping = mapping_path(args.kind, args.mapping)
    report = import_export(mapping, Path(args.src), Path(args.out), args.keep_leaky, args.kind)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in report.lines():
        print(line)
    return 0
