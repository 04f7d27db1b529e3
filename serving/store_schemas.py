"""The HTTP contract of the stored endpoints (PUT /leads/{id}, POST /events, POST
/leads/{id}/stages, POST /leads/{id}/score, GET /leads/{id}/decisions), as msgspec Structs.

The same rules as serving/schemas.py, whose field types these reuse: strict decoding, every
count and length bounded, one definition for decoding, encoding and /docs.json.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from features.contract import STAGE_VALUES
from serving.schemas import (
    MAX_EVENT_TYPE,
    AsOf,
    Attributes,
    Reasons,
    Text,
    Timestamp,
)
from training.policy import Route

MAX_EVENTS_PER_POST = 10_000
MAX_STAGES_PER_POST = 1_000
Stage = Literal[STAGE_VALUES]  # type: ignore[valid-type]


class LeadPut(Struct, forbid_unknown_fields=True, frozen=True):
    """A lead's identity and static attributes; who brought it (source, partner) and who
    owns it. Every change of source, partner or owner is kept with its time and caller."""

    created_at: Timestamp
    source: Text
    partner_id: Text | None = None
    owner_id: Text | None = None
    attributes: Attributes = {}


class LeadPutOut(Struct):
    lead_id: str
    created: bool
    attribution_changed: Annotated[
        list[str], Meta(description="source, partner_id or owner_id where this call changed it")
    ]


class EventPost(Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """An event as it happens; `event_id` is the caller's, so a retried post is stored once."""

    event_id: Text
    lead_id: Text
    ts: Timestamp
    event_type: Annotated[str, Meta(min_length=1, max_length=MAX_EVENT_TYPE)]
    value: float | None = None


class EventsIn(Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """Events of any leads the store knows; all stored, or none when a lead is unknown."""

    events: Annotated[
        list[EventPost],
        Meta(min_length=1, max_length=MAX_EVENTS_PER_POST, description="1 to 10,000 events"),
    ]


class EventsOut(Struct):
    received: int
    stored: Annotated[int, Meta(description="events not seen before (by event_id)")]
    duplicates: Annotated[int, Meta(description="events already stored: ignored")]


class StagePost(Struct, forbid_unknown_fields=True, frozen=True):
    """An outcome from the CRM: the lead reached `stage` at `ts`; `mrr` for a won contract."""

    ts: Timestamp
    stage: Stage
    mrr: Annotated[float, Meta(ge=0)] | None = None


class StagesIn(Struct, forbid_unknown_fields=True, frozen=True):
    stages: Annotated[list[StagePost], Meta(min_length=1, max_length=MAX_STAGES_PER_POST)]


class StagesOut(Struct):
    received: int
    stored: Annotated[int, Meta(description="stages not seen before (same time and stage)")]


class ScoreAt(Struct, forbid_unknown_fields=True, frozen=True):
    """Score the lead from its stored history as of `as_of` (default: now); `{}` for now."""

    as_of: AsOf | None = None


class AttributionChange(Struct):
    field: Annotated[str, Meta(description="source, partner_id or owner_id")]
    value: str | None
    changed_at: Timestamp
    changed_by: str


class StageRecord(Struct):
    ts: Timestamp
    stage: str
    mrr: float | None


class Decision(Struct):
    """One score as it was given: the models, the route and why, and who asked."""

    scored_at: Timestamp
    as_of: Timestamp
    conversion_version: int
    velocity_version: int
    feature_spec: str
    probability: float
    score: float
    tier: str
    route: Route
    route_reason: str
    holdout: bool
    holdout_share: float
    reasons: Reasons
    input_digest: Annotated[str, Meta(description="digest of the model's input row")]
    caller: str


class TrailOut(Struct):
    """What the store knows of a lead, oldest first: who brought and owns it and each change,
    its stages, and every decision with its model versions and reasons."""

    lead_id: str
    attribution: list[AttributionChange]
    stages: list[StageRecord]
    decisions: list[Decision]


EXAMPLE_EVENT = {
    "event_id": "evt-000123",
    "lead_id": "L-2026-000123",
    "ts": "2026-10-30T14:05:00Z",
    "event_type": "webinar_attended",
}
STORE_EXAMPLES: dict[str, Any] = {
    "LeadPut": {
        "created_at": "2026-10-02T09:30:00Z",
        "source": "partner",
        "partner_id": "P-017",
        "owner_id": "rep-042",
        "attributes": {"country": "PL", "company_size": 40},
    },
    "EventsIn": {"events": [EXAMPLE_EVENT]},
    "StagesIn": {"stages": [{"ts": "2026-11-03T10:00:00Z", "stage": "SQL"}]},
    "ScoreAt": {"as_of": "2026-11-01T00:00:00Z"},
}
