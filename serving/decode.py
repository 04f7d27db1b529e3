"""Request bytes to the Structs of serving/schemas.py, or the 400 that names the wrong field.

msgspec stops at the first problem and names its place as a JSON path, except inside a
mapping: a bad attribute is reported at `attributes[...]`. Only then is the body read once
more, skipping all but the attributes of the lead at fault (`msgspec.Raw` spans, no copies), to
name the attribute. That second look happens on the refusal path alone.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from serving.errors import Problem, Rejected, from_msgspec, rejected
from serving.schemas import MAX_KEY, AttributeValue

SHOWN_KEY = 40
_LEAD = re.compile(r"^leads\[(\d+)\]\.")


class _Leads(msgspec.Struct):
    leads: list[msgspec.Raw] = []


class _Attributes(msgspec.Struct):
    attributes: dict[str, msgspec.Raw] = {}


class Decoder:
    """Decodes one request type; returns the Struct, or the Rejected to answer instead."""

    def __init__(self, request_type: type) -> None:
        self._decoder = msgspec.json.Decoder(request_type)

    def __call__(self, body: bytes) -> Any:
        try:
            return self._decoder.decode(body)
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
