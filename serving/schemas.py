"""The HTTP contract: request and response bodies of /score and /score_batch, as msgspec Structs.

One definition serves three purposes: msgspec decodes request bytes straight into these Structs
(about three times faster than pydantic for a batch of 20,000 events), encodes the answers,
and writes the JSON Schema that /docs.json publishes (serving/openapi.py), so the documented
schema and the accepted inputs cannot drift apart.

Requests are strict — unknown fields are refused, numbers are not read from strings, timestamps
must be RFC 3339 strings — because a silently coerced field is a silently wrong score. Every
count and length is bounded here, so a limit is enforced while the body is decoded, not after.
What a schema cannot say is checked next to it: the events of a whole request and an
attributes object's size by serving/decode.py, timestamps between 2000 and 2100 by
serving/intake.py. Request Structs opt out of the garbage collector (`gc=False`):
they hold no cycles, and a batch creates 20,000 of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from serving.example import EXAMPLE_ANSWER, EXAMPLE_LEAD
from training.policy import Route

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_TEXT = 200
MAX_EVENT_TYPE = 100
MAX_ATTRIBUTES = 200
MAX_KEY = 64
MAX_VALUE = 256
MAX_EVENTS_PER_LEAD = 10_000
MAX_ATTRIBUTES_BYTES = 2 * 2**20  # of JSON text; checked in bodies over that (serving/decode.py)
# Integers beyond int64 are refused: a CRM column holds none, and a 309-digit one would
# overflow the float that a model reads.
MAX_INTEGER = 2**63 - 1

MOMENT = "RFC 3339 from 2000-01-01 to before 2100-01-01 (UTC); without an offset it is UTC"
DATE_TIME = {"format": "date-time"}
Timestamp = Annotated[datetime, Meta(description=MOMENT, extra_json_schema=DATE_TIME)]
AsOf = Annotated[
    datetime,
    Meta(
        description=f"score as of this moment (default: now); later events are ignored. {MOMENT}",
        extra_json_schema=DATE_TIME,
    ),
]
Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
AttributeKey = Annotated[str, Meta(min_length=1, max_length=MAX_KEY)]
AttributeValue = (
    Annotated[str, Meta(max_length=MAX_VALUE)]
    | Annotated[int, Meta(ge=-MAX_INTEGER, le=MAX_INTEGER)]
    | float
    | bool
    | None
)
Attributes = Annotated[
    dict[AttributeKey, AttributeValue],
    Meta(
        max_length=MAX_ATTRIBUTES,
        description=f"static attributes, e.g. country: at most {MAX_ATTRIBUTES}, names of "
        f"1–{MAX_KEY} characters, values a string of at most {MAX_VALUE} characters, a finite "
        f"number, a boolean or null; at most {MAX_ATTRIBUTES_BYTES:,} bytes of JSON",
    ),
]


class EventIn(Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """Something the lead did. `value` (seconds on a page, ...) is accepted, not yet used."""

    ts: Timestamp
    event_type: Annotated[str, Meta(min_length=1, max_length=MAX_EVENT_TYPE)]
    value: float | None = None


class LeadIn(Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """One lead as marketing automation holds it: identity, static attributes, events."""

    lead_id: Text
    created_at: Timestamp
    source: Text
    partner_id: Text | None = None
    attributes: Attributes = {}
    events: Annotated[
        list[EventIn],
        Meta(max_length=MAX_EVENTS_PER_LEAD, description="in any order"),
    ] = []
    as_of: AsOf | None = None


class BatchIn(Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """Leads scored together: one pass through each model, answers in the same order."""

    leads: list[LeadIn]


def batch_in(max_leads: int, max_events: int) -> type[BatchIn]:
    """BatchIn with the configured limits, so that the published schema states them too.

    msgspec bounds the leads while decoding; the events of a whole request are counted by
    serving/intake.py, and `x-max-events` says so in the schema.
    """
    leads = Annotated[
        list[LeadIn],
        Meta(
            min_length=1,
            max_length=max_leads,
            description=f"1 to {max_leads:,} leads with at most {max_events:,} events in all",
            extra_json_schema={"x-max-events": max_events},
        ),
    ]
    limited = msgspec.defstruct(
        "BatchIn",
        [("leads", leads)],
        bases=(BatchIn,),
        forbid_unknown_fields=True,
        frozen=True,
        gc=False,
        module=__name__,
    )
    limited.__doc__ = BatchIn.__doc__  # the schema's description
    return limited


class Reason(Struct):
    """One feature's exact TreeSHAP contribution, in log-odds of the uncalibrated booster."""

    feature: str
    value: float | str | None
    contribution: float


class Reasons(Struct):
    up: list[Reason]
    down: list[Reason]


class VelocityOut(Struct):
    expected_days_to_contract: float
    p_contract_30d: float
    p_contract_90d: float


class ModelRef(Struct):
    name: str
    version: int


class ModelsOut(Struct):
    conversion: ModelRef
    velocity: ModelRef
    feature_spec: str


class ScoreOut(Struct):
    """A lead's score, why, where it goes, how soon it may sign and what it is worth."""

    lead_id: str
    as_of: Annotated[datetime, Meta(tz=True)]
    probability: Annotated[float, Meta(description="calibrated P(SQL within the horizon)")]
    score: Annotated[float, Meta(description="100 × probability, one decimal")]
    tier: str
    route: Route
    route_reason: Annotated[str, Meta(description="the rule that decided the route")]
    fit: Annotated[float, Meta(description="the score from static attributes alone (0–100)")]
    engagement: Annotated[float, Meta(description="the score from behaviour alone (0–100)")]
    reasons: Reasons
    velocity: VelocityOut
    expected_value_pln: float
    model: ModelsOut
    notes: Annotated[list[str], Meta(description="inputs scored as missing or ignored, and why")]


class BatchOut(Struct):
    leads: list[ScoreOut]


EXAMPLES: dict[str, Any] = {  # by the name of the Struct whose example it is, in /docs.json
    "LeadIn": EXAMPLE_LEAD,
    "BatchIn": {"leads": [EXAMPLE_LEAD]},
    "ScoreOut": EXAMPLE_ANSWER,
    "BatchOut": {"leads": [EXAMPLE_ANSWER]},
}
_ENCODER = msgspec.json.Encoder()


def answer_json(payload: dict[str, Any]) -> bytes:
    """A ScoreOut or BatchOut built as dicts (`Scores.to_dicts`), in JSON as the Structs write it.

    Building 1,000 Structs only to serialize them would cost more than writing the dicts; the
    dicts match the Structs field for field and in order (tests/unit/test_scorer.py compares
    the bytes).
    """
    return _ENCODER.encode(payload)
