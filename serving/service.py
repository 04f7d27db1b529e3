"""The BentoML service: POST /score and /score_batch; /readyz names the models it serves.

Started by `leadscore serve` (serving/launch.py), which resolves the configs and passes them as
the service's arguments: BentoML needs the worker count and the limits when this class is
decorated, so the settings are read from those arguments at import — never from files or the
environment. Each worker process opens the registry gateway from those settings, loads the
champion pair and keeps it current (serving/reload.py).

Bad input never costs a traceback: the guard middleware refuses what needs no parsing
(serving/guard.py); msgspec decodes the body into the Structs of serving/schemas.py, and a
body that does not decode reaches the endpoint as a `Rejected` (serving/decode.py), because
BentoML would log every exception it sees as a server error. The same Structs are the
endpoints' schemas in /docs.json (serving/openapi.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException
from starlette.responses import Response

from features.store.lead_store import LeadStore
from serving.config import ServeConfig, ServiceSettings
from serving.decision_log import DecisionLog
from serving.decisions import decision_columns
from serving.decode import Decoder
from serving.errors import InvalidRequest, Rejected, rejected
from serving.guard import Guard, request_caller, url_patterns
from serving.intake import to_records
from serving.metrics import ServiceMetrics
from serving.openapi import documented
from serving.pages.app import pages_app
from serving.reload import ModelHolder
from serving.routing import CapacityLedger, apply_capacity, claim_order
from serving.schemas import BatchOut, LeadIn, ScoreOut, answer_json, batch_in
from serving.scorer import score_records
from serving.stored import STORED_PATHS, stored_app
from training.policy import ACTIVE_SALES
from training.registry import Registry

SETTINGS = bentoml.use_arguments(ServiceSettings)
BATCH_FIELD = "leads"
MAX_EVENTS = SETTINGS.serve.max_events_per_request
BatchIn = batch_in(SETTINGS.serve.max_batch_leads, MAX_EVENTS)
API_PATHS = ("/score", "/score_batch", *STORED_PATHS)  # exact, or by prefix when ending in "/"
# BentoML wraps every request in OpenTelemetry spans, exported nowhere unless tracing is
# configured. On the scoring paths that cost 1.1 ms of CPU per /score (4.8 against 6.0 ms,
# BENCHMARKS.md "Service"), so they make none; the probes and pages still do.
UNTRACED = url_patterns(API_PATHS)


def limits_note(serve: ServeConfig) -> str:
    """The limits a caller meets besides the schema's own, for the request's description."""
    return (
        f"Limits: a body of at most {serve.max_body_bytes:,} bytes (413 past it); at most "
        f"{serve.max_events_per_request:,} events in all (400); a worker reads and scores "
        f"{serve.max_concurrency} requests at once and lets {serve.max_waiting} more wait "
        "(429 past that). Bad input is a 400 naming the field."
    )


@bentoml.service(
    name="leadscore",
    workers=SETTINGS.serve.workers,
    traffic={"timeout": SETTINGS.serve.timeout_seconds},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": UNTRACED},
)
class LeadScoring:
    """Lead scoring: calibrated P(SQL), exact TreeSHAP reasons, tier, route, deal velocity
    and expected value for each lead. Errors are 4xx with `{"error": ..., "fields": [...]}`
    naming the offending field. When LEADSCORE_API_TOKEN is set, /score and /score_batch need
    `Authorization: Bearer <token>`; /livez, /readyz, /metrics and these docs stay open.
    """

    def __init__(self) -> None:
        logging.getLogger("serving").setLevel(logging.INFO)
        registry = Registry(SETTINGS.registry)
        self.metrics = ServiceMetrics()
        self.store = LeadStore(SETTINGS.store.url)
        self.decisions = DecisionLog(self.store.record_decisions)
        capacity = SETTINGS.policy.routing.capacity
        self.ledger = (
            CapacityLedger(self.store, capacity.leads_per_day, capacity.window_days)
            if capacity
            else None
        )
        self.models = ModelHolder(
            SETTINGS.serve.reload_seconds,
            SETTINGS.serve.registry_timeout_seconds,
            read=registry.champions,
            load=registry.load_pair,
            on_check=self.metrics.checked,
        )
        self.models.start()
        gc.freeze()  # imports and models are long-lived: keep them out of every collection

    @bentoml.on_shutdown
    def stop(self) -> None:
        self.models.stop()
        self.decisions.close()
        self.store.close()

    @bentoml.api(
        route="/score",
        input_spec=documented(LeadIn, limits_note(SETTINGS.serve), Decoder(LeadIn, MAX_EVENTS)),
        output_spec=documented(ScoreOut),
    )
    async def score(self, lead: LeadIn | Rejected, /) -> Response:
        """Score one lead; the body is the lead itself. Answers probability, score, tier,
        route and the rule that chose it, fit and engagement, the top reasons up and down
        (exact TreeSHAP), velocity and expected value. Refusals are 4xx with
        `{"error": "<field>: <problem>", "fields": [{"field", "message"}]}`; events after
        `as_of`, unknown event types and unseen categories are scored and listed in `notes`.
        With LEADSCORE_API_TOKEN set, send `Authorization: Bearer <token>`.
        """
        if isinstance(lead, Rejected):
            return self.refuse(lead)
        answers = self.answer("score", [lead], "", _stateless())
        return answers if isinstance(answers, Response) else _json(answers[0])

    @bentoml.api(
        route="/score_batch",
        input_spec=documented(
            BatchIn,
            limits_note(SETTINGS.serve),
            Decoder(BatchIn, MAX_EVENTS, SETTINGS.serve.max_batch_leads),
        ),
        output_spec=documented(BatchOut),
    )
    async def score_batch(self, batch: BatchIn | Rejected, /) -> Response:
        """Score `{"leads": [...]}` (up to the configured limit) in one pass through each
        model; `leads` of the answer are /score's answers, in the same order.
        """
        if isinstance(batch, Rejected):
            return self.refuse(batch)
        # A batch takes long enough to block the event loop; LightGBM releases the GIL.
        answers = await asyncio.to_thread(
            self.answer, "score_batch", batch.leads, BATCH_FIELD, _stateless()
        )
        return answers if isinstance(answers, Response) else _json({BATCH_FIELD: answers})

    def answer(
        self,
        endpoint: str,
        leads: list[LeadIn],
        prefix: str,
        caller: str | None,
        durable: bool = False,
    ) -> list[dict[str, Any]] | Response:
        """Scores of `leads` as response dicts, or the refusal to send instead. The
        decisions are recorded for `caller` (None: not recorded): before answering when
        `durable`, else behind the answer (serving/decision_log.py)."""
        started = time.perf_counter()
        pair = self.models.pair
        if pair is None:
            return self.refuse(
                rejected(503, "not_ready", "models", "no champion models loaded yet: see /readyz")
            )
        now = datetime.now(UTC)
        try:
            records, as_of = to_records(leads, now, pair.conversion.spec, prefix)
        except InvalidRequest as exc:
            return self.refuse(Rejected(400, "invalid", exc.problems))
        threads = SETTINGS.serve.batch_threads if len(records) > 1 else 1
        scores = score_records(pair, records, as_of, SETTINGS.policy, threads=threads)
        if self.ledger is not None and ACTIVE_SALES in scores.route:  # else nothing to claim
            routes, reasons = apply_capacity(
                list(zip(scores.lead_ids, [moment.date() for moment in as_of], strict=True)),
                claim_order(
                    scores.lead_ids,
                    scores.probability,
                    scores.holdout,
                    SETTINGS.policy.routing.holdout,
                ),
                scores.route,
                scores.route_reason,
                self.ledger,
                now.date(),
            )
            scores = replace(scores, route=routes, route_reason=reasons)
        if caller is not None:
            decided = decision_columns(scores, SETTINGS.policy.routing.holdout, caller, now)
            if durable:
                self.store.record_decisions(decided)
            else:
                self.decisions.add(decided)
        seconds = time.perf_counter() - started
        self.metrics.scored(
            endpoint, scores.score, scores.route, scores.tier, scores.notes, seconds
        )
        return scores.to_dicts()

    def refuse(self, refusal: Rejected) -> Response:
        self.metrics.refused(refusal.reason)
        return refusal.response()


def _json(payload: dict[str, Any]) -> Response:
    """The answer's bytes; the endpoints' output specs (ScoreOut, BatchOut) are its schema."""
    return Response(answer_json(payload), media_type="application/json")


def _stateless() -> str | None:
    """Who a stateless score is recorded for, or None when those are not recorded."""
    return request_caller() if SETTINGS.store.record_stateless else None


def _readiness() -> tuple[int, dict[str, Any]]:
    try:
        instance = bentoml.get_current_service()
    except BentoMLException:
        return 503, {"ready": False, "models": None, "registry": "starting"}
    return instance.models.readiness()


def _count_refusal(refusal: Rejected) -> None:
    # Refused before the worker finished starting: there is nothing to count in yet.
    with contextlib.suppress(BentoMLException):
        bentoml.get_current_service().metrics.refused(refusal.reason)


LeadScoring.mount_asgi_app(stored_app(), path="/", name="stored")
LeadScoring.mount_asgi_app(pages_app(SETTINGS), path="/pages", name="pages")
LeadScoring.add_asgi_middleware(
    Guard,
    api_paths=API_PATHS,
    limits=SETTINGS.serve,
    readiness=_readiness,
    on_refusal=_count_refusal,
)
