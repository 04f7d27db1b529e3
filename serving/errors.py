"""Refused requests: one JSON shape for every 4xx, naming the field that is wrong.

    {"error": "events[3].ts: must lie between 2000-01-01 and 2100-01-01 (got ...)",
     "fields": [{"field": "events[3].ts", "message": "must lie between ..."}]}

`error` is one line a caller can act on (the first problems); `fields` lists every problem.
A refusal is a value returned as a response, never an exception that BentoML would log with a
traceback: a bad payload is the caller's business, not an incident.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.responses import Response

from features.errors import LeadscoreError

SHOWN = 3


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass(frozen=True)
class Rejected:
    """What a refused request is answered; `reason` labels the refusal in /metrics."""

    status: int
    reason: str
    problems: tuple[Problem, ...]

    @property
    def message(self) -> str:
        shown = "; ".join(f"{p.field}: {p.message}" for p in self.problems[:SHOWN])
        more = len(self.problems) - SHOWN
        return shown + (f" (and {more} more problems)" if more > 0 else "")

    def body(self) -> bytes:
        fields = [{"field": p.field, "message": p.message} for p in self.problems]
        return json.dumps({"error": self.message, "fields": fields}).encode()

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(
            self.body(), status_code=self.status, media_type="application/json", headers=headers
        )


class InvalidRequest(LeadscoreError):
    """A request that is well-formed JSON of the right shape but still cannot be scored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def rejected(status: int, reason: str, field: str, message: str) -> Rejected:
    return Rejected(status, reason, (Problem(field, message),))


def field_path(loc: Sequence[str | int]) -> str:
    """pydantic's location as a caller writes it: ('events', 3, 'ts') -> 'events[3].ts'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def from_validation(exc: ValidationError) -> Rejected:
    problems = tuple(
        Problem(field_path(err["loc"]), err["msg"])
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    )
    return Rejected(400, "invalid", problems)
