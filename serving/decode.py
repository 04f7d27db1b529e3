"""Request bytes to the Structs of serving/schemas.py, or the 400 that names the wrong field.

msgspec stops at the first problem and names its place as a JSON path, except inside a
mapping: a bad attribute is reported at `attributes[...]`. Only then is the body read once
more, skipping all but the attributes of the lead at fault (`msgspec.Raw` spans, no copies), to
name the attribute. That second look happens on the refusal path alone.

The events of a whole request are limited too, and msgspec checks a list's length only once
it has built the list: 16 MiB of tiny events would cost ~50 MiB before a refusal. So a body
large enough to hold more events than allowed is first counted, cheaply (each event decoded as
an empty Struct, its fields skipped), and refused before it is decoded for real.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import msgspec

from serving.errors import Problem, Rejected, from_msgspec, rejected
from serving.schemas import MAX_KEY, AttributeValue, BatchIn, LeadIn

SHOWN_KEY = 40
# The shortest event the schema accepts, {"ts":"2000-01-01T00:00:00","event_type":"a"}: a body
# of n bytes holds at most n // MIN_EVENT_BYTES events (tests/unit/test_scorer.py checks it).
MIN_EVENT_BYTES = 45
_LEAD = re.compile(r"^leads\[(\d+)\]\.")


class _Event(msgspec.Struct, gc=False):
    pass


class _LeadEvents(msgspec.Struct, gc=False):
    events: list[_Event] = []


class _BatchEvents(msgspec.Struct, gc=False):
    leads: list[_LeadEvents] = []


class _Leads(msgspec.Struct):
    leads: list[msgspec.Raw] = []


class _Attributes(msgspec.Struct):
    attributes: dict[str, msgspec.Raw] = {}


class Decoder:
    """Decodes a LeadIn or a BatchIn with at most `max_events` events in all; returns the
    Struct, or the Rejected to answer instead."""

    def __init__(self, request_type: type[LeadIn | BatchIn], max_events: int) -> None:
        self._decoder = msgspec.json.Decoder(request_type)
        self._batch = issubclass(request_type, BatchIn)
        self._counter = msgspec.json.Decoder(_BatchEvents if self._batch else _LeadEvents)
        self.max_events = max_events

    def __call__(self, body: bytes) -> Any:
        # A body too short to hold more events than allowed needs no count.
        if len(body) // MIN_EVENT_BYTES > self.max_events:
            with contextlib.suppress(msgspec.MsgspecError):  # the decoder says what is wrong
                too_many = self._too_many(self._counter.decode(body))
                if too_many is not None:
                    return too_many
        try:
            return self._decoder.decode(body)
        except msgspec.ValidationError as exc:
            return Rejected(400, "invalid", (_named(from_msgspec(str(exc)), body),))
        except msgspec.DecodeError as exc:
            return rejected(400, "malformed", "body", f"is not valid JSON: {exc}")

    def _too_many(self, counted: _BatchEvents | _LeadEvents) -> Rejected | None:
        leads = counted.leads if isinstance(counted, _BatchEvents) else [counted]
        events = sum(len(lead.events) for lead in leads)
        if events <= self.max_events:
            return None
        return rejected(
            400,
            "too_many_events",
            "leads" if self._batch else "events",
            f"hold {events:,} events in all, over the limit of {self.max_events:,}",
        )


def _named(problem: Problem, body: bytes) -> Problem:
    """The problem with the attribute at fault named, when msgspec could only say `[...]`."""
    at_value = problem.field.endswith("attributes[...]")
    at_key = problem.field.endswith("attributes") and problem.message.startswith("a key:")
    if not (at_value or at_key):
        return problem
    base = problem.field.removesuffix("[...]")
    attributes = _attributes_of(body, base)
    for name, raw in attributes.items():
        if at_key and not 1 <= len(name) <= MAX_KEY:
            shown = name if len(name) <= SHOWN_KEY else name[:SHOWN_KEY] + "…"
            return Problem(base, f"name {shown!r} has {len(name):,} characters: 1 to {MAX_KEY}")
        if at_value:
            try:
                msgspec.json.decode(raw, type=AttributeValue)
            except msgspec.ValidationError as exc:
                return Problem(f"{base}.{name}", from_msgspec(str(exc)).message)
    return problem


def _attributes_of(body: bytes, base: str) -> dict[str, msgspec.Raw]:
    lead = _LEAD.match(base)
    source = msgspec.json.decode(body, type=_Leads).leads[int(lead[1])] if lead else body
    return msgspec.json.decode(source, type=_Attributes).attributes
