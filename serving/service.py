"""The BentoML service: POST /score and /score_batch; /readyz names the models it serves.

Started by `leadscore serve` (serving/launch.py), which resolves the configs and passes them as
the service's arguments: BentoML needs the worker count when this class is decorated, so the
settings are read from those arguments at import — never from files or the environment.
Each worker process loads the champion pair and keeps it current (serving/reload.py).

Bad input never costs a traceback: the guard middleware refuses what needs no parsing
(serving/guard.py); a body that does not validate reaches the endpoint as a `Rejected`
(pydantic's error, turned into serving/errors.py's 400), because BentoML would log every
ValidationError it sees as a server error.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import ValidationError
from starlette.responses import Response

from serving.config import ServiceSettings
from serving.errors import InvalidRequest, Rejected, from_validation, rejected
from serving.guard import Guard
from serving.intake import to_records
from serving.metrics import ServiceMetrics
from serving.reload import ModelHolder
from serving.routing import CapacityLedger, apply_capacity
from serving.schemas import BatchOut, LeadIn, ScoreOut, answer_json, batch_in
from serving.scorer import score_records
from training import registry

SETTINGS = bentoml.use_arguments(ServiceSettings)
BATCH_FIELD = "leads"


class ScoreRequest(LeadIn):
    """LeadIn whose validation failure is a value (`Rejected`) instead of an exception."""

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            return from_validation(exc)


class BatchRequest(batch_in(SETTINGS.serve.max_batch_leads)):
    """BatchIn (with the configured limit) whose validation failure is a `Rejected`."""

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            return from_validation(exc)


@bentoml.service(
    name="leadscore",
    workers=SETTINGS.serve.workers,
    traffic={"timeout": SETTINGS.serve.timeout_seconds},
    logging={"access": {"enabled": False}},
)
class LeadScoring:
    """Lead scoring: calibrated P(SQL), exact TreeSHAP reasons, tier, route, deal velocity
    and expected value for each lead. Errors are 4xx with `{"error": ..., "fields": [...]}`
    naming the offending field. When LEADSCORE_API_TOKEN is set, /score and /score_batch need
    `Authorization: Bearer <token>`; /livez, /readyz, /metrics and these docs stay open.
    """

    def __init__(self) -> None:
        logging.getLogger("serving").setLevel(logging.INFO)
        registry.configure()
        self.metrics = ServiceMetrics()
        capacity = SETTINGS.routing.capacity
        self.ledger = (
            CapacityLedger(Path(SETTINGS.serve.capacity_ledger), capacity.leads_per_day)
            if capacity
            else None
        )
        self.models = ModelHolder(SETTINGS.serve.reload_seconds, on_check=self.metrics.checked)
        self.models.start()
        gc.freeze()  # imports and models are long-lived: keep them out of every collection

    @bentoml.on_shutdown
    def stop(self) -> None:
        self.models.stop()
        if self.ledger is not None:
            self.ledger.close()

    @bentoml.api(route="/score")
    async def score(self, lead: ScoreRequest, /) -> ScoreOut:
        """Score one lead; the body is the lead itself. Answers probability, score, tier,
        route and the rule that chose it, fit and engagement, the top reasons up and down
        (exact TreeSHAP), velocity and expected value. Refusals are 4xx with
        `{"error": "<field>: <problem>", "fields": [{"field", "message"}]}`; events after
        `as_of`, unknown event types and unseen categories are scored and listed in `notes`.
        With LEADSCORE_API_TOKEN set, send `Authorization: Bearer <token>`.
        """
        if isinstance(lead, Rejected):
            return self.refuse(lead)
        answers = self.answer("score", [lead], prefix="")
        return answers if isinstance(answers, Response) else _json(answers[0])

    @bentoml.api(route="/score_batch")
    async def score_batch(self, batch: BatchRequest, /) -> BatchOut:
        """Score `{"leads": [...]}` (up to the configured limit) in one pass through each
        model; `leads` of the answer are /score's answers, in the same order.
        """
        if isinstance(batch, Rejected):
            return self.refuse(batch)
        # A batch takes long enough to block the event loop; LightGBM releases the GIL.
        answers = await asyncio.to_thread(self.answer, "score_batch", batch.leads, BATCH_FIELD)
        return answers if isinstance(answers, Response) else _json({BATCH_FIELD: answers})

    def answer(
        self, endpoint: str, leads: list[LeadIn], prefix: str
    ) -> list[dict[str, Any]] | Response:
        """Scores of `leads` as response dicts, or the refusal to send instead."""
        started = time.perf_counter()
        pair = self.models.pair
        if pair is None:
            return self.refuse(
                rejected(503, "not_ready", "models", "no champion models loaded yet: see /readyz")
            )
        try:
            records, as_of = to_records(leads, datetime.now(UTC), pair.conversion.spec, prefix)
        except InvalidRequest as exc:
            return self.refuse(Rejected(400, "invalid", exc.problems))
        threads = SETTINGS.serve.batch_threads if len(records) > 1 else 1
        scores = score_records(
            pair, records, as_of, SETTINGS.routing, SETTINGS.economics, threads=threads
        )
        if self.ledger is not None:
            routes, reasons = apply_capacity(
                scores.lead_ids,
                [moment.date() for moment in as_of],
                scores.probability,
                scores.route,
                scores.route_reason,
                self.ledger,
            )
            scores = replace(scores, route=routes, route_reason=reasons)
        seconds = time.perf_counter() - started
        self.metrics.scored(endpoint, scores.route, scores.tier, scores.notes, seconds)
        return scores.to_dicts()

    def refuse(self, refusal: Rejected) -> Response:
        self.metrics.refused(refusal.reason)
        return refusal.response()


def _json(payload: dict[str, Any]) -> Response:
    """The answer's bytes; the endpoints' annotations (ScoreOut, BatchOut) are its schema."""
    return Response(answer_json(payload), media_type="application/json")


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


LeadScoring.add_asgi_middleware(
    Guard,
    api_paths=("/score", "/score_batch"),
    max_body_bytes=SETTINGS.serve.max_body_bytes,
    readiness=_readiness,
    on_refusal=_count_refusal,
)
