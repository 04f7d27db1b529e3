"""The stored endpoints over HTTP, on SQLite and on a real PostgreSQL server: the same tests
for both backends (conftest.py starts PostgreSQL with initdb/pg_ctl).

Leads, events and outcomes go in as they happen; a stored lead scores exactly as /score scores
the same lead and events; every decision and attribution change reads back; a server killed
mid-stream keeps every event it acknowledged; eight clients at once get no error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import new_database
from harness import LEADSCORE, TOKEN, Server, Store, sample_payloads, start_server

from features.store.lead_store import LeadStore
from features.tables import LeadData

ROUTING = {"capacity": {"reps": 100, "leads_per_rep_per_day": 1000}}


def fresh_store(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """A new store at the newest schema on `backend`."""
    if backend == "sqlite":
        url = f"sqlite:///{folder}/store.db"
    else:
        url = new_database(request.getfixturevalue("postgres"), folder.name)
    LeadStore(url).upgrade()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stored(
    request: pytest.FixtureRequest, store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    """The service on v1 with auth on, two workers, over a fresh store of each backend."""
    folder = tmp_path_factory.mktemp(f"stored_{request.param}")
    url = fresh_store(request.param, request, folder)
    server = start_server(
        store, folder, token=TOKEN, serve={"workers": 2}, routing=ROUTING, store_url=url
    )
    yield server, url
    server.stop()


def put_lead(client: httpx.Client, payload: dict[str, Any], **extra: Any) -> httpx.Response:
    body = {key: payload[key] for key in ("created_at", "source", "partner_id", "attributes")}
    return client.put(f"/leads/{payload['lead_id']}", json=body | extra)


def events_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload's events with caller-given ids, as marketing automation would post them."""
    return [
        {"event_id": f"{payload['lead_id']}:{i}", "lead_id": payload["lead_id"]} | event
        for i, event in enumerate(payload["events"])
    ]


def test_events_are_stored_once_and_an_unknown_lead_refuses_the_post(
    stored: tuple[Server, str], data: LeadData
) -> None:
    server, url = stored
    (payload,) = sample_payloads(data, 1, seed=11)
    events = events_of(payload)
    with server.client() as client:
        assert put_lead(client, payload).json()["created"] is True
        first = client.post("/events", json={"events": events})
        again = client.post("/events", json={"events": events})
        stranger = [events[0] | {"event_id": "x-1", "lead_id": "nobody-42"}, *events[:1]]
        refused = client.post("/events", json={"events": stranger})
    assert first.status_code == 200 and first.json() == {
        "received": len(events),
        "stored": len(events),
        "duplicates": 0,
    }
    assert again.json() == {"received": len(events), "stored": 0, "duplicates": len(events)}
    assert refused.status_code == 404
    assert "'nobody-42'" in refused.json()["error"]
    kept = LeadStore(url).history(payload["lead_id"])
    assert kept is not None and len(kept[1]) == len(events)  # once each, nothing of the 404


def test_a_stored_lead_scores_exactly_as_score_does_with_the_same_events(
    stored: tuple[Server, str], data: LeadData
) -> None:
    server, _ = stored
    payloads = sample_payloads(data, 6, seed=12)
    with server.client() as client:
        for payload in payloads:
            assert put_lead(client, payload).status_code == 200
            if payload["events"]:
                posted = client.post("/events", json={"events": events_of(payload)})
                assert posted.status_code == 200, posted.text
        by_id = [
            client.post(f"/leads/{p['lead_id']}/score", json={"as_of": p["as_of"]})
            for p in payloads
        ]
        sent = [client.post("/score", json=p) for p in payloads]
    assert [a.status_code for a in by_id] == [200] * len(payloads), by_id[0].text
    assert [a.json() for a in by_id] == [a.json() for a in sent]  # every field
    assert any(p["events"] for p in payloads)


def test_attribution_changes_and_decisions_read_back_by_the_trail_and_audit(
    stored: tuple[Server, str], data: LeadData, tmp_path: Path
) -> None:
    server, url = stored
    (payload,) = sample_payloads(data, 1, seed=13)
    lead_id = payload["lead_id"]
    with server.client() as client:
        client.put(
            f"/leads/{lead_id}",
            json={"created_at": payload["created_at"], "source": "partner", "partner_id": "P-1"},
            headers={"X-Leadscore-Caller": "crm-sync"},
        )
        moved = client.put(
            f"/leads/{lead_id}",
            json={"created_at": payload["created_at"], "source": "partner", "partner_id": "P-2"},
            headers={"X-Leadscore-Caller": "alice"},
        )
        scored = client.post(
            f"/leads/{lead_id}/score",
            json={"as_of": payload["as_of"]},
            headers={"X-Leadscore-Caller": "sales-ops"},
        )
        trail = client.get(f"/leads/{lead_id}/decisions")
        sent = client.post("/score", json=payload, headers={"X-Leadscore-Caller": "mas"})
        # /score records behind its answer (serving/decision_log.py): wait for the write.
        deadline = time.monotonic() + 10
        later = trail
        while len(later.json()["decisions"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            later = client.get(f"/leads/{lead_id}/decisions")
    assert moved.json() == {
        "lead_id": lead_id,
        "created": False,
        "attribution_changed": ["partner_id"],
    }
    assert scored.status_code == 200 and trail.status_code == 200
    body = trail.json()
    partners = [
        (c["value"], c["changed_by"]) for c in body["attribution"] if c["field"] == "partner_id"
    ]
    assert partners == [("P-1", "crm-sync"), ("P-2", "alice")]
    (decision,) = body["decisions"]
    answer = scored.json()
    assert (decision["conversion_version"], decision["velocity_version"]) == (1, 1)
    assert decision["score"] == answer["score"] and decision["route"] == answer["route"]
    assert decision["reasons"] == answer["reasons"] and decision["as_of"] == answer["as_of"]
    assert sent.status_code == 200
    assert [d["caller"] for d in later.json()["decisions"]] == ["sales-ops", "mas"]
    config = tmp_path / "store.yaml"
    config.write_text(yaml.safe_dump({"url": url}))
    audit = subprocess.run(
        [str(LEADSCORE), "audit", lead_id, "--json", "--store-config", str(config)],
        capture_output=True,
        text=True,
        env=os.environ | {"LEADSCORE_STORE_URL": ""},
    )
    assert audit.returncode == 0, audit.stderr
    printed = yaml.safe_load(audit.stdout)  # JSON is YAML
    assert [c["value"] for c in printed["attribution"] if c["field"] == "partner_id"] == [
        "P-1",
        "P-2",
    ]
    assert printed["decisions"][0]["route_reason"] == answer["route_reason"]


def test_bad_input_is_a_4xx_naming_the_field(stored: tuple[Server, str]) -> None:
    server, _ = stored
    with server.client() as client:
        no_source = client.put("/leads/L-x", json={"created_at": "2026-01-01T00:00:00Z"})
        long_id = client.put(
            f"/leads/{'x' * 201}",
            json={"created_at": "2026-01-01T00:00:00Z", "source": "web"},
        )
        bad_stage = client.post(
            "/leads/L-x/stages", json={"stages": [{"ts": "2026-01-02T00:00:00Z", "stage": "WONN"}]}
        )
        unknown = client.post("/leads/nobody-7/score", json={})
        too_many = client.post(
            "/events",
            json={
                "events": [
                    {
                        "event_id": str(i),
                        "lead_id": "L",
                        "ts": "2026-01-01T00:00:00Z",
                        "event_type": "x",
                    }
                    for i in range(10_001)
                ]
            },
        )
    assert no_source.status_code == 400 and no_source.json()["fields"][0]["field"] == "source"
    assert long_id.status_code == 400 and long_id.json()["fields"][0]["field"] == "lead_id"
    assert (
        bad_stage.status_code == 400 and bad_stage.json()["fields"][0]["field"] == "stages[0].stage"
    )
    assert unknown.status_code == 404 and "'nobody-7'" in unknown.json()["error"]
    assert too_many.status_code == 400 and too_many.json()["fields"][0]["field"] == "events"


def test_the_stored_endpoints_need_the_token_and_are_documented(
    stored: tuple[Server, str],
) -> None:
    server, _ = stored
    anonymous = [
        httpx.put(f"{server.url}/leads/L-1", json={}),
        httpx.post(f"{server.url}/events", json={}),
        httpx.get(f"{server.url}/leads/L-1/decisions"),
        httpx.post(f"{server.url}/leads/L-1/score", json={}),
    ]
    assert [a.status_code for a in anonymous] == [401] * 4
    paths = httpx.get(f"{server.url}/docs.json").json()["paths"]
    for path in (
        "/leads/{lead_id}",
        "/events",
        "/leads/{lead_id}/stages",
        "/leads/{lead_id}/score",
        "/leads/{lead_id}/decisions",
    ):
        assert path in paths, path
    events = paths["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert events["properties"]["events"]["maxItems"] == 10_000


def test_eight_clients_post_events_and_score_at_once_without_an_error(
    stored: tuple[Server, str], data: LeadData
) -> None:
    server, url = stored
    payloads = sample_payloads(data, 8, seed=14)

    def client_loop(payload: dict[str, Any]) -> list[int]:
        statuses = []
        lead_id = f"{payload['lead_id']}-c8"
        with server.client() as client:
            statuses.append(put_lead(client, payload | {"lead_id": lead_id}).status_code)
            for round_ in range(10):
                batch = [
                    {
                        "event_id": f"{lead_id}:{round_}:{k}",
                        "lead_id": lead_id,
                        "ts": payload["created_at"],
                        "event_type": "email_open",
                    }
                    for k in range(50)
                ]
                statuses.append(client.post("/events", json={"events": batch}).status_code)
                statuses.append(client.post(f"/leads/{lead_id}/score", json={}).status_code)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for done in pool.map(client_loop, payloads) for s in done]
    assert statuses == [200] * len(statuses)
    store = LeadStore(url)
    for payload in payloads:
        kept = store.history(f"{payload['lead_id']}-c8")
        assert kept is not None and len(kept[1]) == 500
        assert len(store.trail(f"{payload['lead_id']}-c8")["decisions"]) == 10


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_server_killed_mid_stream_keeps_every_event_it_acknowledged(
    backend: str,
    request: pytest.FixtureRequest,
    store: Store,
    data: LeadData,
    tmp_path: Path,
) -> None:
    url = fresh_store(backend, request, tmp_path)
    server = start_server(store, tmp_path / "server", token=TOKEN, store_url=url)
    (payload,) = sample_payloads(data, 1, seed=15)
    acknowledged: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        with server.client() as client:
            client.timeout = httpx.Timeout(5)
            put_lead(client, payload)
            batch_no = 0
            while not stop.is_set():
                batch = [
                    {
                        "event_id": f"k{batch_no}:{k}",
                        "lead_id": payload["lead_id"],
                        "ts": payload["created_at"],
                        "event_type": "page_view",
                    }
                    for k in range(200)
                ]
                batch_no += 1
                try:
                    answer = client.post("/events", json={"events": batch})
                except httpx.TransportError:
                    return  # the server is gone: this batch was never acknowledged
                if answer.status_code == 200:
                    acknowledged.extend(event["event_id"] for event in batch)

    writer = threading.Thread(target=stream)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 2_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    # BentoML's workers run in sessions of their own: kill the server and every worker at once.
    for pid in [server.process.pid, *_descendants(server.process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()
    stop.set()
    writer.join(timeout=30)
    assert len(acknowledged) >= 2_000
    stored_ids = {row["event_id"] for row in _event_ids(url, payload["lead_id"])}
    assert set(acknowledged) <= stored_ids


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (children of each thread, recursively)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def _event_ids(url: str, lead_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from features.store import schema

    store = LeadStore(url)
    with store.engine.connect() as connection:
        query = select(schema.events.c.event_id).where(schema.events.c.lead_id == lead_id)
        return [dict(row) for row in connection.execute(query).mappings()]
