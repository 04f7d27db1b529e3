"""Every limit the OpenAPI document states, read from /docs.json and tried over HTTP: a body at
the limit is scored, one just past it is refused naming the field. The document and the
decoder are one definition (serving/schemas.py); this checks that they also agree in practice.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from harness import Server

from serving.example import EXAMPLE_LEAD

EVENT = {"ts": "2026-10-20T08:41:00Z", "event_type": "page_view"}
Body = Callable[[int], dict[str, Any]]


@pytest.fixture(scope="module")
def docs(server: Server) -> dict[str, Any]:
    return httpx.get(f"{server.url}/docs.json").json()


def _request_schema(docs: dict[str, Any], path: str) -> dict[str, Any]:
    return docs["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _lead_schema(docs: dict[str, Any]) -> dict[str, Any]:
    return docs["components"]["schemas"]["LeadIn"]["properties"]


def _value_schema(docs: dict[str, Any], kind: str) -> dict[str, Any]:
    options = _lead_schema(docs)["attributes"]["additionalProperties"]["anyOf"]
    return next(option for option in options if option["type"] == kind)


def _lead(**changes: Any) -> dict[str, Any]:
    return EXAMPLE_LEAD | changes


# (name, endpoint, the documented limit, the body for a value n, the field named past the limit)
LIMITS: list[tuple[str, str, Callable[[dict[str, Any]], int], Body, str]] = [
    (
        "lead_id length",
        "/score",
        lambda d: _lead_schema(d)["lead_id"]["maxLength"],
        lambda n: _lead(lead_id="L" * n),
        "lead_id",
    ),
    (
        "attribute count",
        "/score",
        lambda d: _lead_schema(d)["attributes"]["maxProperties"],
        lambda n: _lead(attributes={f"a{i}": i for i in range(n)}),
        "attributes",
    ),
    (
        "attribute name length",
        "/score",
        lambda d: _lead_schema(d)["attributes"]["propertyNames"]["maxLength"],
        lambda n: _lead(attributes={"k" * n: 1}),
        "attributes",
    ),
    (
        "attribute text length",
        "/score",
        lambda d: _value_schema(d, "string")["maxLength"],
        lambda n: _lead(attributes={"note": "v" * n}),
        "attributes.note",
    ),
    (
        "attribute integer size",
        "/score",
        lambda d: _value_schema(d, "integer")["maximum"],
        lambda n: _lead(attributes={"note": n}),
        "attributes.note",
    ),
    (
        "attribute negative integer size",
        "/score",
        lambda d: -_value_schema(d, "integer")["minimum"],
        lambda n: _lead(attributes={"note": -n}),
        "attributes.note",
    ),
    (
        "events of a lead",
        "/score",
        lambda d: _lead_schema(d)["events"]["maxItems"],
        lambda n: _lead(events=[EVENT] * n),
        "events",
    ),
    (
        "event type length",
        "/score",
        lambda d: d["components"]["schemas"]["EventIn"]["properties"]["event_type"]["maxLength"],
        lambda n: _lead(events=[EVENT | {"event_type": "e" * n}]),
        "events[0].event_type",
    ),
    (
        "leads of a batch",
        "/score_batch",
        lambda d: _request_schema(d, "/score_batch")["properties"]["leads"]["maxItems"],
        lambda n: {"leads": [_lead(lead_id=f"L{i}") for i in range(n)]},
        "leads",
    ),
    (
        "events of a batch",
        "/score_batch",
        lambda d: _request_schema(d, "/score_batch")["properties"]["leads"]["x-max-events"],
        lambda n: {"leads": [_lead(events=[EVENT] * half) for half in (n // 2, n - n // 2)]},
        "leads",
    ),
]


@pytest.mark.parametrize(
    ("path", "limit_of", "body", "field"),
    [case[1:5] for case in LIMITS],
    ids=[case[0] for case in LIMITS],
)
def test_a_body_at_each_documented_limit_scores_and_one_past_it_is_refused(
    server: Server,
    docs: dict[str, Any],
    path: str,
    limit_of: Callable[[dict[str, Any]], int],
    body: Body,
    field: str,
) -> None:
    limit = limit_of(docs)
    with server.client() as client:
        at = client.post(path, json=body(limit))
        past = client.post(path, json=body(limit + 1))
    assert at.status_code == 200, at.text
    assert past.status_code == 400, past.text
    assert past.json()["fields"][0]["field"] == field


def _documented_body_bytes(docs: dict[str, Any]) -> int:
    described = _request_schema(docs, "/score")["description"]
    return int(re.search(r"a body of at most ([\d,]+) bytes", described)[1].replace(",", ""))


def test_a_body_of_the_documented_size_scores_and_one_byte_more_is_413(
    server: Server, docs: dict[str, Any]
) -> None:
    limit = _documented_body_bytes(docs)
    lead = httpx.Request("POST", "/", json=EXAMPLE_LEAD).content
    at = lead + b" " * (limit - len(lead))  # JSON allows the trailing whitespace
    with server.client() as client:
        headers = {"Content-Type": "application/json"}
        answered = client.post("/score", content=at, headers=headers)
        refused = client.post("/score", content=at + b" ", headers=headers)
    assert answered.status_code == 200, answered.text
    assert refused.status_code == 413 and refused.json()["fields"][0]["field"] == "body"


def _raw_request(server: Server, body: bytes, send: int) -> socket.socket:
    """A connection that has sent the headers and the first `send` bytes of the body."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=60)
    head = (
        f"POST /score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection.sendall(head + body[:send])
    return connection


def _status(connection: socket.socket) -> int:
    reply = connection.makefile("rb").readline()
    connection.close()
    return int(reply.split()[1])


def test_a_worker_reads_so_many_requests_at_once_lets_so_many_wait_and_refuses_more(
    server: Server, docs: dict[str, Any]
) -> None:
    described = _request_schema(docs, "/score")["description"]
    room = re.search(r"reads and scores (\d+) requests at once and lets (\d+) more wait", described)
    assert room is not None, described
    working, waiting = int(room[1]), int(room[2])
    body = httpx.Request("POST", "/", json=EXAMPLE_LEAD).content
    stalled = [_raw_request(server, body, len(body) - 1) for _ in range(working)]
    time.sleep(0.5)  # their bodies are being read: every slot is taken
    queued = [_raw_request(server, body, len(body)) for _ in range(waiting)]
    time.sleep(0.5)
    with server.client() as client:
        refused = client.post("/score", json=EXAMPLE_LEAD)
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["fields"][0]["field"] == "request"
    for connection in stalled:
        connection.sendall(body[-1:])
    # Nothing that was let in fails: the stalled requests finish, the waiting ones get a turn.
    assert [_status(connection) for connection in stalled + queued] == [200] * (working + waiting)
