"""The stored endpoints: marketing automation posts leads, events and outcomes as they happen
and asks for a lead's score by id; managers read a lead's decision trail.

    PUT  /leads/{lead_id}            create or update a lead (attribution changes recorded)
    POST /events                     up to 10,000 events; idempotent by event_id
    POST /leads/{lead_id}/stages     outcomes from the CRM
    POST /leads/{lead_id}/score      score from the stored history, decision recorded
    GET  /leads/{lead_id}/decisions  the trail: attribution, stages, every decision

A FastAPI app mounted into the BentoML service (BentoML routes are POST-only and take no path
parameters; it publishes a mounted FastAPI app's paths in /docs.json). The same guard (auth,
body limits, room in the worker), the same 4xx body, the same scorer, routing and capacity as
/score: a stored lead is scored by building the very request /score would get. A 2xx means
the write is committed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import bentoml
import msgspec
from fastapi import FastAPI, Request
from starlette.responses import Response

from features.store.records import Event, Lead, UnknownLeads, from_us
from serving.decode import decode_or_refuse
from serving.errors import Rejected, rejected
from serving.guard import request_caller
from serving.schemas import MAX_TEXT, EventIn, LeadIn, ScoreOut
from serving.store_schemas import (
    STORE_EXAMPLES,
    EventsIn,
    EventsOut,
    LeadPut,
    LeadPutOut,
    ScoreAt,
    StagesIn,
    StagesOut,
    TrailOut,
)

STORED_PATHS = ("/events", "/leads/")  # what the guard protects: exact, or by prefix
_ENCODER = msgspec.json.Encoder()


def stored_app() -> FastAPI:
    """The app BentoML mounts; its own docs are off (BentoML's /docs.json has its paths)."""
    app = FastAPI(title="leadscore store", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_api_route(
        "/leads/{lead_id}", put_lead, methods=["PUT"], **_documented(LeadPut, LeadPutOut)
    )
    app.add_api_route("/events", post_events, methods=["POST"], **_documented(EventsIn, EventsOut))
    app.add_api_route(
        "/leads/{lead_id}/stages",
        post_stages,
        methods=["POST"],
        **_documented(StagesIn, StagesOut),
    )
    app.add_api_route(
        "/leads/{lead_id}/score", score_lead, methods=["POST"], **_documented(ScoreAt, ScoreOut)
    )
    app.add_api_route(
        "/leads/{lead_id}/decisions", decisions, methods=["GET"], **_documented(None, TrailOut)
    )
    return app


async def put_lead(lead_id: str, request: Request) -> Response:
    """Create or update a lead: identity, source, partner, owner and static attributes."""
    body = await _decoded(request, LeadPut, lead_id)
    if isinstance(body, Rejected):
        return _refuse(body)
    lead = Lead(
        lead_id,
        body.created_at,
        body.source,
        body.partner_id,
        body.owner_id,
        dict(body.attributes),
    )
    service, now = _service(), datetime.now(UTC)
    created, changed = await asyncio.to_thread(service.store.put_lead, lead, request_caller(), now)
    return _answer(LeadPutOut(lead_id, created, changed))


async def post_events(request: Request) -> Response:
    """Store events; the whole post is refused (404, nothing stored) if a lead is unknown."""
    body = await _decoded(request, EventsIn)
    if isinstance(body, Rejected):
        return _refuse(body)
    events = [Event(e.event_id, e.lead_id, e.ts, e.event_type, e.value) for e in body.events]
    try:
        stored = await asyncio.to_thread(_service().store.add_events, events, datetime.now(UTC))
    except UnknownLeads as exc:
        return _refuse(rejected(404, "unknown_lead", "events[].lead_id", _unknown(exc)))
    return _answer(EventsOut(len(events), stored, len(events) - stored))


async def post_stages(lead_id: str, request: Request) -> Response:
    """Record outcomes from the CRM (a stage repeated at the same moment is stored once)."""
    body = await _decoded(request, StagesIn, lead_id)
    if isinstance(body, Rejected):
        return _refuse(body)
    stages = [(stage.ts, stage.stage, stage.mrr) for stage in body.stages]
    store = _service().store
    try:
        stored = await asyncio.to_thread(store.add_stages, lead_id, stages, datetime.now(UTC))
    except UnknownLeads as exc:
        return _refuse(rejected(404, "unknown_lead", "lead_id", _unknown(exc)))
    return _answer(StagesOut(len(stages), stored))


async def score_lead(lead_id: str, request: Request) -> Response:
    """Score a lead from its stored history, exactly as /score would score the same lead and
    events; the decision is recorded."""
    body = await _decoded(request, ScoreAt, lead_id)
    if isinstance(body, Rejected):
        return _refuse(body)
    # On the event loop, as /score is: a few ms of work in short statements. Through a
    # worker thread it cost 1.2 ms more at p50 and a third of the answers per second at c=8
    # (the threads' GIL hand-offs); the price is that a long writer elsewhere (a bulk load)
    # holding the store's write lock pauses this worker's loop until it commits.
    answers = _score_stored(_service(), lead_id, body.as_of, request_caller())
    if isinstance(answers, Response):
        return answers
    return Response(_ENCODER.encode(answers[0]), media_type="application/json")


def _score_stored(service: Any, lead_id: str, as_of: datetime | None, caller: str) -> Any:
    """Read the lead's history and score it as /score would; the decision is committed
    before the answer."""
    history = service.store.history(lead_id)
    if history is None:
        return _refuse(rejected(404, "unknown_lead", "lead_id", f"{lead_id!r} is not stored"))
    lead, events = history
    request_lead = LeadIn(
        lead_id=lead.lead_id,
        created_at=lead.created_at,
        source=lead.source,
        partner_id=lead.partner_id,
        attributes=lead.attributes or {},
        events=[EventIn(ts, kind) for ts, kind in events],
        as_of=as_of,
    )
    return service.answer("score_stored", [request_lead], "", caller, True)


async def decisions(lead_id: str) -> Response:
    """A lead's trail: attribution changes, stages and decisions, oldest first."""
    if not 1 <= len(lead_id) <= MAX_TEXT:
        return _refuse(_bad_id(lead_id))
    store = _service().store
    history, trail = await asyncio.gather(
        asyncio.to_thread(store.history, lead_id), asyncio.to_thread(store.trail, lead_id)
    )
    if history is None:
        return _refuse(rejected(404, "unknown_lead", "lead_id", f"{lead_id!r} is not stored"))
    return _answer(_trail_out(lead_id, trail))


def _trail_out(lead_id: str, trail: dict[str, list[dict[str, Any]]]) -> TrailOut:
    """The store's rows as the answer: moments back to timestamps, store-only columns dropped."""
    moments = ("changed_at", "ts", "scored_at", "as_of")

    def shown(row: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
        return {
            key: from_us(value) if key in moments else value
            for key, value in row.items()
            if key not in drop
        }

    own = ("lead_id", "change_id", "decision_id", "received_at")
    return msgspec.convert(
        {
            "lead_id": lead_id,
            "attribution": [shown(row, own) for row in trail["attribution"]],
            "stages": [shown(row, own) for row in trail["stages"]],
            "decisions": [shown(row, own) for row in trail["decisions"]],
        },
        TrailOut,
    )


async def _decoded(request: Request, struct: type, lead_id: str | None = None) -> Any:
    """The body as `struct`, or the refusal (a bad lead id in the path first)."""
    if lead_id is not None and not 1 <= len(lead_id) <= MAX_TEXT:
        return _bad_id(lead_id)
    return decode_or_refuse(_decoder(struct), await request.body())


_DECODERS: dict[type, msgspec.json.Decoder] = {}


def _decoder(struct: type) -> msgspec.json.Decoder:
    if struct not in _DECODERS:
        _DECODERS[struct] = msgspec.json.Decoder(struct)
    return _DECODERS[struct]


def _bad_id(lead_id: str) -> Rejected:
    return rejected(400, "invalid", "lead_id", f"must be 1 to {MAX_TEXT} characters")


def _unknown(exc: UnknownLeads) -> str:
    return f"{str(exc).removeprefix('lead_id: ')}: PUT /leads/{{lead_id}} first"


def _service() -> Any:
    return bentoml.get_current_service()


def _refuse(refusal: Rejected) -> Response:
    _service().metrics.refused(refusal.reason)
    return refusal.response()


def _answer(payload: msgspec.Struct) -> Response:
    return Response(_ENCODER.encode(payload), media_type="application/json")


def _documented(request: type | None, answer: type) -> dict[str, Any]:
    """FastAPI route arguments that publish the Structs' JSON Schema in /docs.json."""
    extra: dict[str, Any] = {}
    if request is not None:
        schema = _inline(msgspec.json.schema(request))
        example = STORE_EXAMPLES.get(request.__name__)
        media = {"schema": schema} | ({"example": example} if example else {})
        extra["requestBody"] = {"required": True, "content": {"application/json": media}}
    return {
        "openapi_extra": extra,
        "responses": {
            200: {"content": {"application/json": {"schema": _inline(msgspec.json.schema(answer))}}}
        },
        "response_class": Response,
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """msgspec's schema with its $defs written in place (FastAPI's document has no room for
    them), and null as OpenAPI 3.0 writes it."""
    from serving.openapi import openapi30

    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
        return {key: resolve(value) for key, value in node.items()}

    return openapi30(resolve(schema))
