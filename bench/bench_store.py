"""Benchmark the lead store: event ingestion, scores from stored history, rescore from a store.

    .venv/bin/python bench/bench_store.py               # everything (about 15 minutes)
    .venv/bin/python bench/bench_store.py --json FILE   # also write the figures as JSON

Uses the simulated data and the models of bench/bench_service.py (made there on first use,
24 months × 10,000 leads) and a PostgreSQL 15 server started for the run in a temporary
folder (tests/postgres.py). For SQLite and then PostgreSQL, `leadscore serve` (2 workers) on
a fresh store:
- ingestion: POST /events of 1,000 events each (real leads' events, caller ids), at
  concurrency 1 and 4, for a fixed number of posts: events/s;
- POST /leads/{id}/score of 200 leads, each with 200 stored events: p50 at c=1, req/s at c=8.
Then the nightly job: `leadscore rescore` of the nurture pool from the data folder and from
the PostgreSQL store holding the same data (which also records a decision per lead).
Targets on a 2-core machine: ≥ 20,000 events/s on PostgreSQL and ≥ 10,000 on SQLite; stored
score p50 ≤ 8 ms; rescore from the store ≤ 1.5× the folder's time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
from bench_service import BIN, HOST, OUT, _read_response, free_port, prepare, start, stop  # noqa: E402
from postgres import postgres_server  # noqa: E402

POSTS, EVENTS_PER_POST = 60, 1_000
STORED_LEADS, STORED_EVENTS = 200, 200
TARGETS = {"sqlite_events_per_s": 10_000, "postgresql_events_per_s": 20_000, "stored_p50_ms": 8}
Request = tuple[str, str, bytes]  # method, path, body


async def _client(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    requests: list[Request],
    out: dict[str, Any],
) -> None:
    reader, writer = connection
    for method, path, body in requests:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        started = time.perf_counter()
        writer.write(head.encode() + body)
        await writer.drain()
        status, _ = await _read_response(reader)
        out["latencies"].append(time.perf_counter() - started)
        out["statuses"][status] += 1
    writer.close()


async def _run(port: int, requests: list[Request], concurrency: int) -> dict[str, Any]:
    """Split the requests between `concurrency` keep-alive connections; run them all."""
    connections = [await asyncio.open_connection(HOST, port) for _ in range(concurrency)]
    out: dict[str, Any] = {"latencies": [], "statuses": Counter()}
    started = time.perf_counter()
    await asyncio.gather(
        *(_client(c, requests[k::concurrency], out) for k, c in enumerate(connections))
    )
    return out | {"wall": time.perf_counter() - started}


def timed(port: int, requests: list[Request], concurrency: int) -> dict[str, float]:
    result = asyncio.run(_run(port, requests, concurrency))
    bad = {s: n for s, n in result["statuses"].items() if s != 200}
    if bad:
        raise RuntimeError(f"non-200 answers: {bad}")
    ms = np.array(result["latencies"]) * 1000
    return {"p50_ms": float(np.median(ms)), "rps": len(ms) / result["wall"], "wall": result["wall"]}


def _put(lead: dict[str, Any]) -> Request:
    body = {
        "created_at": lead["created_at"].isoformat(),
        "source": lead["source"],
        "partner_id": lead["partner_id"],
    }
    return "PUT", f"/leads/{lead['lead_id']}", json.dumps(body).encode()


def workload(data_dir: Path) -> dict[str, list[Request]]:
    """Leads to create, event posts of real events, and leads with 200 events to score."""
    data = pl.read_parquet(data_dir / "events.parquet")
    leads = pl.read_parquet(data_dir / "leads.parquet")
    events = data.head(POSTS * EVENTS_PER_POST * 2).with_row_index("n")
    posts = []
    for part in events.iter_slices(EVENTS_PER_POST):
        body = [
            {"event_id": f"e{n}", "lead_id": lead, "ts": ts.isoformat(), "event_type": kind}
            for n, lead, ts, kind in part.select("n", "lead_id", "ts", "event_type").iter_rows()
        ]
        posts.append(("POST", "/events", json.dumps({"events": body}).encode()))
    ingest_leads = leads.join(events.select("lead_id").unique(), on="lead_id")
    scored = leads.join(ingest_leads.select("lead_id"), on="lead_id", how="anti")
    scored = scored.head(STORED_LEADS)
    kinds = data["event_type"].unique().sort().to_list()
    history = []
    for lead in scored.iter_rows(named=True):
        body = [
            {
                "event_id": f"{lead['lead_id']}:{k}",
                "lead_id": lead["lead_id"],
                "ts": (lead["created_at"] + timedelta(hours=3 * k)).isoformat(),
                "event_type": kinds[k % len(kinds)],
            }
            for k in range(STORED_EVENTS)
        ]
        history.append(("POST", "/events", json.dumps({"events": body}).encode()))
    return {
        "ingest_leads": [_put(lead) for lead in ingest_leads.iter_rows(named=True)],
        "posts": posts,
        "score_leads": [_put(lead) for lead in scored.iter_rows(named=True)],
        "history": history,
        "scores": [("POST", f"/leads/{lead}/score", b"{}") for lead in scored["lead_id"].to_list()],
    }


def service_figures(backend: str, url: str, env: dict[str, str], work: dict) -> dict[str, Any]:
    folder = OUT / f"store-{backend}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "store.yaml").write_text(yaml.safe_dump({"url": url}))
    port = free_port()
    command = [str(BIN / "leadscore"), "serve", "--port", str(port)]
    command += ["--store-config", str(folder / "store.yaml")]
    server = start(command, env, f"http://{HOST}:{port}/readyz", folder / "server.log")
    try:
        timed(port, work["ingest_leads"] + work["score_leads"], 4)
        half = len(work["posts"]) // 2
        one = timed(port, work["posts"][:half], 1)
        four = timed(port, work["posts"][half:], 4)
        timed(port, work["history"], 4)
        timed(port, work["scores"][:20], 1)  # warm
        single = timed(port, work["scores"], 1)
        eight = timed(port, work["scores"] * 4, 8)
    finally:
        stop(server)
    row = {
        "backend": backend,
        "events_per_s_c1": half * EVENTS_PER_POST / one["wall"],
        "events_per_s_c4": (len(work["posts"]) - half) * EVENTS_PER_POST / four["wall"],
        "post_p50_ms_c1": one["p50_ms"],
        "stored_score_p50_ms_c1": single["p50_ms"],
        "stored_score_rps_c8": eight["rps"],
    }
    print(
        f"{backend:<11}{row['events_per_s_c1']:>12,.0f}{row['events_per_s_c4']:>12,.0f}"
        f"{row['post_p50_ms_c1']:>10.1f}{row['stored_score_p50_ms_c1']:>10.1f}"
        f"{row['stored_score_rps_c8']:>10.1f}",
        flush=True,
    )
    return row


def rescore_figures(data_dir: Path, url: str, env: dict[str, str]) -> dict[str, float]:
    """Seconds of `leadscore rescore` of the nurture pool from the folder and from the store."""
    leadscore = str(BIN / "leadscore")
    started = time.perf_counter()
    subprocess.run([leadscore, "store", "load", str(data_dir)], env=env, check=True)
    loaded = time.perf_counter() - started
    seconds = {"store_load_s": loaded}
    for name, source in (("folder", str(data_dir)), ("store", url)):
        started = time.perf_counter()
        out = OUT / f"rescore-{name}"
        subprocess.run(
            [leadscore, "rescore", "--data", source, "--out", str(out)], env=env, check=True
        )
        seconds[f"rescore_{name}_s"] = time.perf_counter() - started
    seconds["store_over_folder"] = seconds["rescore_store_s"] / seconds["rescore_folder_s"]
    print(json.dumps(seconds, indent=1), flush=True)
    return seconds


def database(server: str, name: str, env: dict[str, str]) -> str:
    """A new database on the server, its schema made by `leadscore store init`."""
    from features.store.lead_store import LeadStore

    admin = LeadStore(server)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.engine.dispose()
    url = server.rsplit("/", 1)[0] + f"/{name}"
    init = [str(BIN / "leadscore"), "store", "init"]
    subprocess.run(init, env=env | {"LEADSCORE_STORE_URL": url}, check=True)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=OUT / "service-sim-24x10000-s0")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--only", choices=("service", "rescore"), help="one part of the bench")
    args = parser.parse_args()
    env = prepare(args.data, OUT / "service-mlruns")
    figures: dict[str, Any] = {"cpus": os.cpu_count()}
    checks: dict[str, bool] = {}
    with postgres_server() as server:
        if args.only != "rescore":
            figures["service"] = service_rows(server, env, workload(args.data))
            sqlite, postgresql = figures["service"]
            checks |= {
                "sqlite_events_per_s": sqlite["events_per_s_c4"] >= TARGETS["sqlite_events_per_s"],
                "postgresql_events_per_s": postgresql["events_per_s_c4"]
                >= TARGETS["postgresql_events_per_s"],
                "stored_p50_ms": max(r["stored_score_p50_ms_c1"] for r in figures["service"])
                <= TARGETS["stored_p50_ms"],
            }
        if args.only != "service":
            nightly = database(server, "nightly", env)
            rescore = rescore_figures(args.data, nightly, env | {"LEADSCORE_STORE_URL": nightly})
            figures["rescore"] = rescore
            checks["rescore_store_over_folder"] = rescore["store_over_folder"] <= 1.5
    for name, ok in checks.items():
        print(f"{name}: {'✔' if ok else '✘'}")
    if args.json:
        args.json.write_text(json.dumps(figures | {"checks": checks}, indent=1))
    return 0


def service_rows(server: str, env: dict[str, str], work: dict) -> list[dict[str, Any]]:
    """The service's figures on a fresh SQLite store, then on a fresh PostgreSQL database."""
    print(
        f"{'store':<11}{'events/s c1':>12}{'events/s c4':>12}{'post p50':>10}"
        f"{'score p50':>10}{'score/s c8':>10}"
    )
    (OUT / "store-sqlite.db").unlink(missing_ok=True)
    sqlite = service_figures("sqlite", f"sqlite:///{OUT}/store-sqlite.db", env, work)
    return [sqlite, service_figures("postgresql", database(server, "ingest", env), env, work)]


if __name__ == "__main__":
    sys.exit(main())
