"""Request bytes to the Structs of serving/schemas.py, or the 400 that names the wrong field.

msgspec stops at the first problem and names its place as a JSON path, except inside a
mapping: a bad attribute is reported at `attributes[...]`. Only then is the body read once
more, skipping all but the attributes of the lead at fault (`msgspec.Raw` spans, no copies), to
name the attribute. That second look happens on the refusal path alone.

Counts are limited too, and msgspec checks a list's or a mapping's length only once it has
built it: 16 MiB of tiny events, leads or attributes would cost 50–150 MiB before their
refusal. So a body over PRECOUNT_BYTES is first looked over cheaply — each lead and event
decoded as a near-empty Struct, each attributes object kept as a span of the body — and
refused if it holds too many leads or events, or an attributes object longer than
MAX_ATTRIBUTES_BYTES (no valid one comes near: 200 names and values at their longest, every
character escaped, take 0.8 MiB). Whatever msgspec then builds before a refusal comes from at
most that many bytes. A smaller body is counted after decoding, which costs less than a pass.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import msgspec

from serving.errors import Problem, Rejected, from_msgspec, rejected
from serving.schemas import MAX_ATTRIBUTES_BYTES, MAX_KEY, AttributeValue, BatchIn, LeadIn

SHOWN_KEY = 40
PRECOUNT_BYTES = MAX_ATTRIBUTES_BYTES  # a smaller body cannot hold a longer attributes object
_LEAD = re.compile(r"^leads\[(\d+)\]\.")


class _Event(msgspec.Struct, gc=False):
    pass


class _LeadShape(msgspec.Struct, gc=False):
    events: list[_Event] = []
    attributes: msgspec.Raw = msgspec.Raw(b"{}")


class _BatchShape(msgspec.Struct, gc=False):
    leads: list[_LeadShape] = []


class _Leads(msgspec.Struct):
    leads: list[msgspec.Raw] = []


class _Attributes(msgspec.Struct):
    attributes: dict[str, msgspec.Raw] = {}


class Decoder:
    """Decodes a LeadIn, or a BatchIn of at most `max_leads`, with at most `max_events` events
    in all; returns the Struct, or the Rejected to answer instead."""

    def __init__(
        self, request_type: type[LeadIn | BatchIn], max_events: int, max_leads: int = 1
    ) -> None:
        self._decoder = msgspec.json.Decoder(request_type)
        self._batch = issubclass(request_type, BatchIn)
        self._shape = msgspec.json.Decoder(_BatchShape if self._batch else _LeadShape)
        self.max_events, self.max_leads = max_events, max_leads

    def __call__(self, body: bytes) -> Any:
        if len(body) > PRECOUNT_BYTES:
            # Deep nesting where the look-over skips (msgspec recurses to skip) is left to the
            # decoder too, which refuses it at its first bracket.
            with contextlib.suppress(msgspec.MsgspecError, RecursionError):
                shape = self._shape.decode(body)
                refusal = self._over_counts(shape) or self._long_attributes(shape)
                if refusal is not None:
                    return refusal
        decoded = decode_or_refuse(self._decoder, body)
        return decoded if isinstance(decoded, Rejected) else self._over_counts(decoded) or decoded

    def _long_attributes(self, shape: _BatchShape | _LeadShape) -> Rejected | None:
        leads = shape.leads if isinstance(shape, _BatchShape) else [shape]
        for i, lead in enumerate(leads):
            if len(lead.attributes) > MAX_ATTRIBUTES_BYTES:
                where = f"leads[{i}]." if self._batch else ""
                return rejected(
                    400,
                    "too_long",
                    f"{where}attributes",
                    f"is {len(lead.attributes):,} bytes of JSON, over the limit of "
                    f"{MAX_ATTRIBUTES_BYTES:,}",
                )
        return None

    def _over_counts(self, counted: Any) -> Rejected | None:
        """The refusal for too many leads or events in `counted` (a request or its shape)."""
        leads = counted.leads if self._batch else [counted]
        field = "leads" if self._batch else "events"
        if len(leads) > self.max_leads:
            return rejected(
                400,
                "too_many",
                field,
                f"holds {len(leads):,} leads, over the limit of {self.max_leads:,}",
            )
        events = sum(len(lead.events) for lead in leads)
        if events <= self.max_events:
            return None
        return rejected(
            400,
            "too_many",
            field,
            f"hold {events:,} events in all, over the limit of {self.max_events:,}",
        )


def decode_or_refuse(decoder: msgspec.json.Decoder, body: bytes) -> Any:
    """The Struct `body` decodes to, or the 400 that names the wrong field."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        return Rejected(400, "invalid", (_named(from_msgspec(str(exc)), body),))
    except msgspec.DecodeError as exc:
        return rejected(400, "malformed", "body", f"is not valid JSON: {exc}")


def _named(problem: Problem, body: bytes) -> Problem:
    """The problem with the attribute at fault named, when msgspec could only say `[...]`."""
    at_value = problem.field.endswith("attributes[...]")
    at_key = problem.field.endswith("attributes") and problem.message.startswith("a key:")
    if not (at_value or at_key):
        return problem
    base = problem.field.removesuffix("[...]")
    try:
        attributes = _attributes_of(body, base)
    except RecursionError:  # a value nested too deep to skip: the attributes are named
        return Problem(base, f"a value: {problem.message}")
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
