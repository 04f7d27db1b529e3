"""The HTTP contract: request and response bodies of /score and /score_batch.

Requests are strict — extra fields are refused, numbers are not read from strings, timestamps
must be ISO 8601 strings — because a silently coerced field is a silently wrong score. Events
are TypedDicts rather than models: a batch of 1,000 leads × 20 events validates about three
times faster as plain dicts (fewer objects for the garbage collector). Responses mirror
`serving.scorer.Scores.to_dicts`, field for field.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    WithJsonSchema,
    create_model,
    with_config,
)
from pydantic_core import PydanticCustomError, to_json
from typing_extensions import TypedDict

from serving.config import Route
from serving.example import EXAMPLE_ANSWER, EXAMPLE_LEAD

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _attribute_value(value: Any) -> str | int | float | bool | None:
    """One clear error instead of one per member of a str|number|bool|null union."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    raise PydanticCustomError(
        "attribute_type", "must be a string, a finite number, a boolean or null"
    )


# Range-checked in pydantic's core, not in a Python validator: a batch holds 20,000 of them.
# Naive timestamps are taken as UTC (as in data files) by serving/intake.py.
Timestamp = Annotated[
    datetime,
    Field(
        strict=True,
        ge=EARLIEST,
        lt=LATEST,
        description="ISO 8601, 2000-01-01 to 2100-01-01; without an offset it is UTC",
    ),
]
Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]
AttributeValue = Annotated[
    Any,
    PlainValidator(_attribute_value),
    WithJsonSchema({"anyOf": [{"type": t} for t in ("string", "number", "boolean", "null")]}),
]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


@with_config(ConfigDict(extra="forbid"))
class EventIn(TypedDict):
    """Something the lead did. `value` (seconds on a page, ...) is accepted, not yet used."""

    ts: Timestamp
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    value: NotRequired[Number | None]


class LeadIn(BaseModel):
    """One lead as marketing automation holds it: identity, static attributes, events."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"example": EXAMPLE_LEAD}
    )

    lead_id: Text
    created_at: Timestamp
    source: Text
    partner_id: Text | None = None
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict, max_length=200, description="static attributes, e.g. country"
    )
    events: list[EventIn] = Field(
        default_factory=list, max_length=100_000, description="in any order"
    )
    as_of: Timestamp | None = Field(
        None, description="score as of this moment (default: now); later events are ignored"
    )


class BatchIn(BaseModel):
    """Leads scored together: one pass through each model, answers in the same order."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"example": {"leads": [EXAMPLE_LEAD]}}
    )

    leads: list[LeadIn] = Field(min_length=1)


class Reason(TypedDict):
    """One feature's exact TreeSHAP contribution, in log-odds of the uncalibrated booster."""

    feature: str
    value: float | str | None
    contribution: float


class Reasons(TypedDict):
    up: list[Reason]
    down: list[Reason]


class VelocityOut(TypedDict):
    expected_days_to_contract: float
    p_contract_30d: float
    p_contract_90d: float


class ModelRef(TypedDict):
    name: str
    version: int


class ModelsOut(TypedDict):
    conversion: ModelRef
    velocity: ModelRef
    feature_spec: str


class ScoreOut(BaseModel):
    """A lead's score, why, where it goes, how soon it may sign and what it is worth."""

    model_config = ConfigDict(json_schema_extra={"example": EXAMPLE_ANSWER})

    lead_id: str
    as_of: datetime
    probability: float = Field(description="calibrated P(SQL within the horizon)")
    score: float = Field(description="100 × probability, one decimal")
    tier: str
    route: Route
    route_reason: str = Field(description="the rule that decided the route")
    fit: float = Field(description="the score from static attributes alone (0–100)")
    engagement: float = Field(description="the score from behaviour alone (0–100)")
    reasons: Reasons
    velocity: VelocityOut
    expected_value_pln: float
    model: ModelsOut
    notes: list[str] = Field(description="inputs scored as missing or ignored, and why")


class BatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"leads": [EXAMPLE_ANSWER]}})

    leads: list[ScoreOut]


def answer_json(payload: dict[str, Any]) -> bytes:
    """A ScoreOut or BatchOut built as dicts (`Scores.to_dicts`), in JSON as the models write it.

    Validating 1,000 answers again only to serialize them costs about a tenth of a batch; the
    dicts match the models field for field and in order (tests/unit/test_scorer.py compares
    the bytes), so pydantic's serializer writes them directly.
    """
    return to_json(payload)


def batch_in(max_leads: int) -> type[BatchIn]:
    """BatchIn with the configured batch limit, so that the OpenAPI schema states it too."""
    return create_model(
        "BatchIn",
        __base__=BatchIn,
        leads=(list[LeadIn], Field(min_length=1, max_length=max_leads)),
    )
