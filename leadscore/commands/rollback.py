"""`leadscore rollback`: champion back to the previous champion, both models."""

from __future__ import annotations

import argparse

from leadscore.commands import options

NAME = "rollback"
HELP = "move champion back to the previous champion"
DESCRIPTION = (
    "Points lead-conversion@champion back at lead-conversion@previous-champion and "
    "deal-velocity@champion at the velocity model of that version's training run; the "
    "version it leaves becomes previous-champion. Recorded in MLflow as a run named rollback."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    from training.promote import rollback

    current, previous = rollback(options.registry())
    print(f"lead-conversion@champion: v{current} → v{previous} (deal-velocity follows its run)")
    return 0
