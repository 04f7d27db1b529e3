"""Refused requests: one JSON shape for every 4xx, naming the field that is wrong.

    {"error": "events[3].ts: must lie from 2000-01-01 to before 2100-01-01 (UTC) (got ...)",
     "fields": [{"field": "events[3].ts", "message": "must lie from ..."}]}

`error` is one line a caller can act on (the first problems); `fields` lists every problem.
A refusal is a value returned as a response, never an exception that BentoML would log with a
traceback: a bad payload is the caller's business, not an incident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

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

    def response(self) -> Response:
        return Response(self.body(), status_code=self.status, media_type="application/json")


class InvalidRequest(LeadscoreError):
    """A request that is well-formed JSON of the right shape but still cannot be scored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def rejected(status: int, reason: str, field: str, message: str) -> Rejected:
    return Rejected(status, reason, (Problem(field, message),))


# msgspec's messages: "<problem>", "<problem> - at `$.a[0].b`", "<problem> - at `key` in `$.a`"
_MSGSPEC = re.compile(
    r"^(?P<problem>.*?)(?: - at `(?P<key>key)` in `(?P<of>\$[^`]*)`| - at `(?P<at>\$[^`]*)`)?$",
    re.S,
)
_NAMED = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`$")


def field_path(path: str) -> str:
    """msgspec's location as a caller writes it: '$.leads[3].ts' -> 'leads[3].ts', '$' -> ''."""
    return path.removeprefix("$").removeprefix(".")


def from_msgspec(message: str) -> Problem:
    """One Problem from a msgspec ValidationError's text, the field named as in the JSON."""
    parsed = _MSGSPEC.match(message)
    assert parsed is not None  # the pattern matches any text
    problem = parsed["problem"]
    if parsed["key"]:
        return Problem(field_path(parsed["of"]) or "body", f"a key: {_plain(problem)}")
    where = field_path(parsed["at"] or "$")
    named = _NAMED.match(problem)
    if named:
        field = f"{where}.{named['name']}" if where else named["name"]
        text = "is required" if named["what"] == "missing required" else "is not a known field"
        return Problem(field, text)
    return Problem(where or "body", _plain(problem))


def _plain(problem: str) -> str:
    """'Expected `str`, got `int`' -> 'expected str, got int'."""
    text = problem.replace("`", "")
    return text[:1].lower() + text[1:]
