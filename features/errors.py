"""User errors: bad data, bad config, bad arguments.

They live on the ground floor so that every package can raise them; the CLI prints their
message on one line and exits 1, the service answers 4xx. Anything else is a bug.
"""

from __future__ import annotations


class LeadscoreError(Exception):
    """An error the user can fix; its message says what is wrong and where."""


class DataError(LeadscoreError):
    """A data folder breaks the lead-data contract; carries every problem found."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{where} breaks the data contract ({len(problems)} problems):\n{listing}")
