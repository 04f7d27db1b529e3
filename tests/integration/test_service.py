"""`leadscore serve` over HTTP: the same answers as the in-process scorer, clean 4xx, auth.

One server (v1, auth on, 2 MiB body limit, 100-lead batches) serves the whole module.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import (
    LEADSCORE,
    Server,
    Store,
    free_port,
    lead_payload,
    sample_payloads,
)

from features.tables import LeadData
from leadscore.settings import default_config, load_config
from serving.config import ServeConfig
from serving.decode import Decoder
from serving.example import EXAMPLE_LEAD
from serving.intake import to_records
from serving.routing import BatchPlaces, CapacityLedger, apply_capacity, claim_order
from serving.schemas import LeadIn, answer_json
from serving.scorer import score_records
from training.policy import EconomicsConfig, Policy, RoutingConfig

LEADS = 40


@pytest.fixture(scope="module")
def payloads(data: LeadData) -> list[dict[str, Any]]:
    return sample_payloads(data, LEADS)


@pytest.fixture(scope="module")
def expected(
    store: Store,
    server: Server,
    payloads: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """What the in-process scorer answers for the same leads, as JSON, routed by the server's
    rules (their as_of days all lie outside the capacity window: no place is claimed)."""
    pair = store.registry().load_pair(1, 1)
    routing = load_config(server.log.parent / "routing.yaml", RoutingConfig)
    serve = load_config(server.log.parent / "serve.yaml", ServeConfig)
    economics = load_config(default_config("economics"), EconomicsConfig)
    decode = Decoder(LeadIn, serve.max_events_per_request)
    leads = [decode(json.dumps(p).encode()) for p in payloads]
    now = datetime.now(UTC)
    spec = pair.conversion.spec
    records, as_of = to_records(leads, now, spec)
    scores = score_records(pair, records, as_of, Policy(routing=routing, economics=economics))
    assert routing.capacity is not None
    ledger = CapacityLedger(
        BatchPlaces(), routing.capacity.leads_per_day, routing.capacity.window_days
    )
    days = [(lead.lead_id, moment.date()) for lead, moment in zip(leads, as_of, strict=True)]
    order = claim_order(scores.lead_ids, scores.probability, scores.holdout, routing.holdout)
    route, reason = apply_capacity(
        days, order, scores.route, scores.route_reason, ledger, now.date()
    )
    answers = replace(scores, route=route, route_reason=reason).to_dicts()
    return [json.loads(answer_json(answer)) for answer in answers]


def test_score_answers_exactly_what_the_in_process_scorer_answers(
    server: Server, payloads: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    with server.client() as client:
        answers = [client.post("/score", json=p) for p in payloads]
    assert [a.status_code for a in answers] == [200] * LEADS
    assert [a.json() for a in answers] == expected
    assert {a["tier"] for a in expected} >= {"C", "D"}  # the sample spans tiers
    assert any(a["notes"] for a in expected)  # and has events after as_of
    assert any("no capacity place claimed" in a["route_reason"] for a in expected)


def test_score_batch_answers_the_same_in_the_same_order(
    server: Server, payloads: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    with server.client() as client:
        answer = client.post("/score_batch", json={"leads": payloads})
    assert answer.status_code == 200, answer.text
    assert answer.json()["leads"] == expected


def test_the_readme_example_scores(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/score", json=EXAMPLE_LEAD)
    assert answer.status_code == 200
    body = answer.json()
    assert body["lead_id"] == EXAMPLE_LEAD["lead_id"]
    assert 0 <= body["fit"] <= 100 and 0 <= body["engagement"] <= 100
    assert len(body["reasons"]["up"]) <= 3 and len(body["reasons"]["down"]) <= 3


def test_readyz_names_the_served_versions_and_health_stays_open(server: Server) -> None:
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["registry"] == "ok" and body["stale_since"] is None
    assert "last_error" not in body
    assert body["models"]["conversion"] == {"name": "lead-conversion", "version": 1}
    assert body["models"]["velocity"] == {"name": "deal-velocity", "version": 1}
    for path in ("/livez", "/metrics", "/docs.json", "/"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "test-token-7f3a"}, 401),
        ({"Authorization": "Bearer test-token-7f3a"}, 200),
    ],
)
def test_the_endpoints_need_the_bearer_token(
    server: Server, headers: dict[str, str], status: int
) -> None:
    for path, body in (("/score", EXAMPLE_LEAD), ("/score_batch", {"leads": [EXAMPLE_LEAD]})):
        answer = httpx.post(f"{server.url}{path}", json=body, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        if status == 401:
            assert answer.json()["fields"][0]["field"] == "Authorization"
            assert answer.headers["www-authenticate"] == "Bearer"


def _with(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in (EXAMPLE_LEAD | changes).items() if v is not ...}


EVENT = {"ts": "2026-10-20T08:41:00Z", "event_type": "pricing_view"}
BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("missing field", "/score", _with(source=...), 400, "source"),
    ("extra field", "/score", _with(owner="ann"), 400, "owner"),
    ("extra event field", "/score", _with(events=[EVENT | {"who": 1}]), 400, "events[0].who"),
    (
        "number as string",
        "/score",
        _with(attributes={"company_size": "120"}),
        400,
        "attributes.company_size",
    ),
    ("string as number", "/score", _with(lead_id=123), 400, "lead_id"),
    (
        "event value as string",
        "/score",
        _with(events=[EVENT | {"value": "4"}]),
        400,
        "events[0].value",
    ),
    (
        "unparseable timestamp",
        "/score",
        _with(events=[EVENT | {"ts": "last tuesday"}]),
        400,
        "events[0].ts",
    ),
    ("epoch number as timestamp", "/score", _with(created_at=1_780_000_000), 400, "created_at"),
    ("created after as_of", "/score", _with(as_of="2026-09-01T00:00:00Z"), 400, "created_at"),
    ("null body", "/score", None, 400, "body"),
    ("list body", "/score", [EXAMPLE_LEAD], 400, "body"),
    (
        "batch lead missing a field",
        "/score_batch",
        {"leads": [EXAMPLE_LEAD, _with(lead_id=...)]},
        400,
        "leads[1].lead_id",
    ),
    (
        "batch lead created after as_of",
        "/score_batch",
        {"leads": [EXAMPLE_LEAD, _with(as_of="2026-01-01T00:00:00Z")]},
        400,
        "leads[1].created_at",
    ),
    (
        "more leads than the batch limit",
        "/score_batch",
        {"leads": [EXAMPLE_LEAD] * 101},
        400,
        "leads",
    ),
    ("empty batch", "/score_batch", {"leads": []}, 400, "leads"),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_json_gets_a_4xx_naming_the_field(
    server: Server, path: str, body: Any, status: int, field: str
) -> None:
    with server.client() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert field in [f["field"] for f in problem["fields"]]
    assert field in problem["error"]


RAW_BODIES = [
    ("empty body", b"", {}, 400, "body"),
    ("not JSON", b"{lead_id: 1", {}, 400, "body"),
    ("not UTF-8", b"\xff\xfe{}", {}, 400, "body"),
    (
        "form instead of JSON",
        b"a=b",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "Content-Type",
    ),
    ("over the size limit", b"[" + b" " * (2 * 2**20) + b"]", {}, 413, "body"),
]


@pytest.mark.parametrize(
    ("content", "headers", "status", "field"),
    [case[1:] for case in RAW_BODIES],
    ids=[case[0] for case in RAW_BODIES],
)
def test_bad_bodies_get_a_4xx_naming_the_problem(
    server: Server, content: bytes, headers: dict[str, str], status: int, field: str
) -> None:
    with server.client() as client:
        answer = client.post(
            "/score", content=content, headers={"Content-Type": "application/json"} | headers
        )
    assert answer.status_code == status, answer.text
    assert answer.json()["fields"][0]["field"] == field


def test_a_streamed_body_is_cut_off_at_the_size_limit(server: Server) -> None:
    def chunks():  # no Content-Length: the server must count
        for _ in range(64):
            yield b" " * 65536

    with server.client() as client:
        answer = client.post(
            "/score", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413
    assert "over the limit" in answer.json()["error"]


def test_late_events_unknown_types_and_categories_are_scored_and_counted(server: Server) -> None:
    lead = _with(
        source="carrier_pigeon",
        attributes=EXAMPLE_LEAD["attributes"] | {"industry": "alchemy"},
        events=[
            *EXAMPLE_LEAD["events"],
            EVENT | {"event_type": "tiktok_like"},
            EVENT | {"ts": "2026-12-24T00:00:00Z"},
        ],
    )
    with server.client() as client:
        answer = client.post("/score", json=lead)
        metrics = client.get("/metrics").text
    assert answer.status_code == 200, answer.text
    notes = " | ".join(answer.json()["notes"])
    for words in ("1 events at or after as_of", "'tiktok_like'", "'carrier_pigeon'", "'alchemy'"):
        assert words in notes
    for kind in ("event_after_as_of", "unknown_event_type", "unknown_category"):
        assert f'leadscore_input_notes_total{{kind="{kind}"}}' in metrics


def test_metrics_count_leads_by_route_and_tier_and_refusals(server: Server) -> None:
    with server.client() as client:
        client.post("/score", json=EXAMPLE_LEAD)
        client.post("/score", content=b"", headers={"Content-Type": "application/json"})
        metrics = client.get("/metrics").text
    assert 'leadscore_leads_scored_total{endpoint="score",route=' in metrics
    assert 'leadscore_refused_requests_total{reason="empty"}' in metrics
    assert 'leadscore_scoring_seconds_bucket{endpoint="score"' in metrics


def _band_count(metrics: str, band: str) -> float:
    """The count of a band of /score in Prometheus' text format (labels in either order)."""
    found = [
        row
        for row in metrics.splitlines()
        if row.startswith("leadscore_scores_total{")
        and f'band="{band}"' in row
        and 'endpoint="score"' in row
    ]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_metrics_count_each_score_in_its_band(server: Server) -> None:
    """/metrics carries the score distribution, so Prometheus can watch it between monitor
    runs: a scored lead adds exactly one to the band its score falls in."""
    with server.client() as client:
        before = client.get("/metrics").text
        score = client.post("/score", json=EXAMPLE_LEAD).json()["score"]
        after = client.get("/metrics").text
    low = min(int(score // 10) * 10, 90)
    band = f"{low}-{low + 10}"
    assert _band_count(after, band) == _band_count(before, band) + 1


def test_refusals_leave_no_traceback_in_the_log(server: Server) -> None:
    with server.client() as client:
        for _, path, body, _, _ in BAD_REQUESTS:
            client.post(path, json=body)
    log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def test_the_docs_carry_the_example_request(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    request = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    assert request["schema"]["example"] == EXAMPLE_LEAD
    assert "/score_batch" in spec["paths"]
    assert {"ScoreOut", "LeadIn", "EventIn", "BatchIn"} <= set(spec["components"]["schemas"])


def test_without_a_champion_serve_exits_with_one_clear_line(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path}/mlflow.db"
    done = subprocess.run(
        [str(LEADSCORE), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": empty, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: no lead-conversion@champion in {empty}: run `leadscore train` first"
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_a_taken_port_is_one_clear_line(store: Store, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(LEADSCORE), "serve", "--port", str(port)],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": store.uri, "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use): "
        "pass another --port or --host"
    )


def test_a_lead_from_the_data_scores_as_it_would_in_the_data(
    server: Server, data: LeadData
) -> None:
    lead_id = data.leads["lead_id"][0]
    with server.client() as client:
        answer = client.post("/score", json=lead_payload(data, lead_id, None))
    assert answer.status_code == 200  # as_of defaults to now: years after creation
    assert answer.json()["velocity"]["expected_days_to_contract"] > 365
