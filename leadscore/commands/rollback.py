"""`leadscore rollback`: champion back to the previous champion, both models."""

from __future__ import annotations

import argparse

from leadscore.commands import options


def add(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rollback", help="move champion back to the previous champion")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from training.promote import rollback

    current, previous = rollback(options.registry())
    print(f"lead-conversion@champion: v{current} → v{previous} (deal-velocity follows its run)")
    return 0
