"""Benchmark the scoring service, and `mlflow models serve` on the same conversion model.

    .venv/bin/python bench/bench_service.py               # simulates + trains once, then times
    .venv/bin/python bench/bench_service.py --quick       # a smoke run: few requests
    .venv/bin/python bench/bench_service.py --json FILE   # also write the figures as JSON

Both servers run on 127.0.0.1 with 2 workers, one after the other, and are stopped by this
script. Load comes from a small keep-alive HTTP/1.1 client (asyncio streams) in this process,
each phase bounded by a request count and a time limit:
- `leadscore serve` POST /score: one lead with 20 events (real leads of the simulated data,
  as of an hour after their 20th event), at concurrency 1, 8 and 32;
- POST /score_batch: 1,000 such leads per request, at concurrency 1, 8 and 32;
- `mlflow models serve -m models:/lead-conversion@champion --env-manager local`: the same
  leads as precomputed feature rows (`dataframe_split`, one row per request) on /invocations.
Targets on a 2-core machine: /score p50 ≤ 4 ms at c=1, ≥ 400 req/s at c=8, more req/s than
the MLflow server; /score_batch of 1,000 leads ≤ 150 ms. Models are trained once into
bench/out/service-mlruns from 24 months × 10,000 simulated leads (reused by later runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
EVENTS_PER_LEAD = 20
CONNECT_GAP = 0.01  # seconds between opening two load connections (see _load)
LEADS = 1000
CONCURRENCY = (1, 8, 32)
# (requests, seconds) bounds of one phase, full run and --quick
SINGLE_BOUNDS, SINGLE_QUICK = (3000, 12.0), (300, 3.0)
BATCH_BOUNDS, BATCH_QUICK = ({1: 15, 8: 24, 32: 64}, 120.0), ({1: 2, 8: 8, 32: 32}, 60.0)
TARGETS = {"score_p50_ms": 4.0, "score_rps_c8": 400.0, "batch_ms": 150.0}


# ---- data and models -------------------------------------------------------------------------


def prepare(data: Path, store: Path) -> dict[str, str]:
    """Simulate and train once; the environment that points MLflow at the bench store."""
    env = os.environ | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "BENTOML_DO_NOT_TRACK": "true",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow runs `uvicorn`
    }
    env.pop("LEADSCORE_API_TOKEN", None)
    if not (data / "leads.parquet").exists():
        print(f"simulating {data} …", file=sys.stderr)
        command = ["simulate", "--out", str(data), "--months", "24", "--seed", "0"]
        subprocess.run([str(BIN / "leadscore"), *command], check=True, env=env)
    if not (store / "mlflow.db").exists():
        print(f"training the champion models into {store} …", file=sys.stderr)
        store.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(BIN / "leadscore"), "train", "--data", str(data)], check=True, env=env, cwd=store
        )
    return env


def requests_of(data_folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """JSON bodies: leads with their first 20 events, and the same leads as feature rows."""
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    import polars as pl

    from features.tables import load_data
    from features.vectors import LeadRecord, block_frame, record_features
    from leadscore.settings import registry_config
    from training.pair import CONVERSION
    from training.registry import CHAMPION, Registry

    data = load_data(data_folder)
    registry = Registry(registry_config())
    with_many = (
        data.events.group_by("lead_id").len().filter(pl.col("len") >= EVENTS_PER_LEAD).head(LEADS)
    )
    events = (
        data.events.join(with_many.select("lead_id"), on="lead_id")
        .sort("lead_id", "ts")
        .group_by("lead_id", maintain_order=True)
        .head(EVENTS_PER_LEAD)
    )
    leads = data.leads.join(with_many.select("lead_id"), on="lead_id")
    by_lead = events.partition_by("lead_id", as_dict=True)
    reserved = {"lead_id", "created_at", "source", "partner_id", "owner_id"}
    payloads, records, moments = [], [], []
    for lead in leads.iter_rows(named=True):
        rows = by_lead[(lead["lead_id"],)]
        as_of = rows["ts"].max() + timedelta(hours=1)
        attributes = {k: v for k, v in lead.items() if k not in reserved}
        payloads.append(
            {
                "lead_id": lead["lead_id"],
                "created_at": lead["created_at"].isoformat(),
                "source": lead["source"],
                "partner_id": lead["partner_id"],
                "attributes": attributes,
                "events": [
                    {"ts": ts.isoformat(), "event_type": kind}
                    for ts, kind in rows.select("ts", "event_type").iter_rows()
                ],
                "as_of": as_of.isoformat(),
            }
        )
        records.append(
            LeadRecord(
                lead["lead_id"],
                lead["created_at"],
                lead["source"],
                lead["partner_id"],
                attributes,
                list(rows.select("ts", "event_type").iter_rows()),
            )
        )
        moments.append(as_of)
    version = registry.version_of(CONVERSION, CHAMPION)
    spec = registry.load_conversion(version, OUT / "service-model").spec
    frame = block_frame(spec, record_features(spec, records, moments)).drop("lead_id", "as_of")
    columns = frame.columns
    rows = [list(row) for row in frame.iter_rows()]
    return {
        "score": [json.dumps(p).encode() for p in payloads],
        "batch": [json.dumps({"leads": payloads}).encode()],
        "mlflow": [
            json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode()
            for row in rows
        ],
    }


# ---- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start(command: Sequence[str], env: dict[str, str], probe: str, log: Path) -> subprocess.Popen:
    """Start a server in its own process group; wait until GET `probe` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=OUT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited {process.returncode}; see {log}")
        if asyncio.run(_get_status(probe)) == 200:
            return process
        time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"{' '.join(command)} not ready in 180 s; see {log}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _get_status(url: str) -> int | None:
    port, path = url.split(":", 2)[2].split("/", 1)
    try:
        reader, writer = await asyncio.open_connection(HOST, int(port))
    except OSError:
        return None
    writer.write(f"GET /{path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    await writer.drain()
    status, _ = await _read_response(reader)
    writer.close()
    return status


# ---- load ------------------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _client(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    path: str,
    bodies: list[bytes],
    budget: list[int],
    deadline: float,
    out: dict,
) -> None:
    reader, writer = connection
    i = 0
    while budget[0] > 0 and time.perf_counter() < deadline:
        budget[0] -= 1
        body = bodies[i % len(bodies)]
        i += 1
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        status, _ = await _read_response(reader)
        out["latencies"].append(time.perf_counter() - started)
        out["statuses"][status] += 1
    writer.close()


async def _load(
    port: int, path: str, bodies: list[bytes], concurrency: int, requests: int, seconds: float
) -> dict[str, Any]:
    """Open the connections one by one, then run them until the budget or the time is spent.

    The workers share one listening socket: connections opened all at once can all be
    accepted by the first worker to wake, leaving the other idle for the whole phase.
    Opened CONNECT_GAP apart, as clients arrive, each goes to whichever worker takes it.
    """
    connections = []
    for _ in range(concurrency):
        connections.append(await asyncio.open_connection(HOST, port))
        await asyncio.sleep(CONNECT_GAP)
    out: dict[str, Any] = {"latencies": [], "statuses": Counter()}
    budget = [requests]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _client(connection, path, bodies[k:] + bodies[:k], budget, deadline, out)
            for k, connection in enumerate(connections)
        )
    )
    return out | {"wall": time.perf_counter() - started}


def measure(
    name: str, port: int, path: str, bodies: list[bytes], concurrency: int, bounds: tuple
) -> dict[str, Any]:
    requests, seconds = bounds
    asyncio.run(_load(port, path, bodies, min(concurrency, 4), max(concurrency, 8), 30))  # warm
    result = asyncio.run(_load(port, path, bodies, concurrency, requests, seconds))
    ms = np.array(result["latencies"]) * 1000
    row = {
        "server": name,
        "path": path,
        "concurrency": concurrency,
        "requests": len(ms),
        "ok": result["statuses"].get(200, 0),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "rps": len(ms) / result["wall"],
    }
    print(
        f"{name:<10}{path:<14}{concurrency:>4}{row['requests']:>8}{row['ok']:>8}"
        f"{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}{row['p99_ms']:>10.1f}{row['rps']:>10.1f}",
        flush=True,
    )
    return row


# ---- where a batch's time goes -----------------------------------------------------------


def batch_breakdown(batch_body: bytes) -> dict[str, float]:
    """Median ms of each step of /score_batch for one 1,000-lead body, in this process."""
    from datetime import UTC, datetime

    from features.vectors import record_features, to_matrix
    from leadscore.settings import default_config, load_config, load_policy, registry_config
    from serving.config import ServeConfig
    from serving.decode import Decoder
    from serving.explain import input_notes, split_scores, top_reasons
    from serving.intake import to_records
    from serving.schemas import answer_json, batch_in
    from serving.scorer import score_records
    from training.registry import Registry

    registry = Registry(registry_config())
    pair = registry.load_pair(*registry.champion_versions())
    policy = load_policy(default_config("routing"), default_config("economics"))
    serve = load_config(default_config("serve"), ServeConfig)  # as the service
    threads, events = serve.batch_threads, serve.max_events_per_request
    spec, model = pair.conversion.spec, pair.conversion
    decode = Decoder(batch_in(LEADS, events), events, LEADS)
    request = decode(batch_body)
    records, as_of = to_records(request.leads, datetime.now(UTC), spec, "leads")
    block = record_features(spec, records, as_of)
    X = to_matrix(spec, block)
    phi = model.contributions(X, threads)
    shap = "tables" if model.shap is not None else f"pred_contrib, {threads} threads"
    scores = score_records(pair, records, as_of, policy, threads=threads)
    steps = {
        "decode + validate JSON (msgspec)": lambda: decode(batch_body),
        "intake (as_of, times, attribute checks)": lambda: to_records(
            request.leads, datetime.now(UTC), spec, "leads"
        ),
        "features (record_features + to_matrix)": lambda: to_matrix(
            spec, record_features(spec, records, as_of)
        ),
        "conversion predict": lambda: model.predict(X, threads),
        f"TreeSHAP ({shap})": lambda: model.contributions(X, threads),
        "velocity forecast": lambda: pair.velocity.forecast(X, threads),
        "fit/engagement + reasons + notes": lambda: (
            split_scores(model, phi),
            top_reasons(spec, block, phi),
            input_notes(spec, records, block, X),
        ),
        "answers and their JSON": lambda: answer_json({"leads": scores.to_dicts()}),
    }
    out = {}
    for name, step in steps.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        out[name] = float(np.median(times) * 1000)
        print(f"  {name:<42}{out[name]:>9.1f} ms", flush=True)
    return out


# ---- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=OUT / "service-sim-24x10000-s0")
    parser.add_argument("--quick", action="store_true", help="few requests: a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    env = prepare(args.data, OUT / "service-mlruns")
    bodies = requests_of(args.data, env)
    single = SINGLE_QUICK if args.quick else SINGLE_BOUNDS
    batch_counts, batch_seconds = BATCH_QUICK if args.quick else BATCH_BOUNDS
    print(
        f"{'server':<10}{'path':<14}{'c':>4}{'sent':>8}{'200':>8}"
        f"{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'req/s':>10}"
    )
    rows = []
    port = free_port()
    service = start(
        [str(BIN / "leadscore"), "serve", "--port", str(port), "--host", HOST],
        env,
        f"http://{HOST}:{port}/readyz",
        OUT / "bench-service.log",
    )
    try:
        for c in CONCURRENCY:
            rows.append(measure("leadscore", port, "/score", bodies["score"], c, single))
        for c in CONCURRENCY:
            bounds = (batch_counts[c], batch_seconds)
            rows.append(measure("leadscore", port, "/score_batch", bodies["batch"], c, bounds))
    finally:
        stop(service)
    port = free_port()
    model = "models:/lead-conversion@champion"
    mlflow = start(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            model,
            "--env-manager",
            "local",
            "-h",
            HOST,
            "-p",
            str(port),
            "-w",
            "2",
        ],
        env,
        f"http://{HOST}:{port}/ping",
        OUT / "bench-mlflow.log",
    )
    try:
        for c in CONCURRENCY:
            rows.append(measure("mlflow", port, "/invocations", bodies["mlflow"], c, single))
    finally:
        stop(mlflow)
    verdict(rows)
    print(
        f"where a /score_batch of {LEADS:,} leads ({len(bodies['batch'][0]) / 2**20:.1f} MiB) goes:"
    )
    steps = batch_breakdown(bodies["batch"][0])
    if args.json:
        meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "quick": args.quick}
        figures = {"meta": meta, "rows": rows, "batch_steps_ms": steps}
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


def verdict(rows: list[dict[str, Any]]) -> None:
    def find(server: str, path: str, c: int) -> dict[str, Any]:
        return next(
            r for r in rows if (r["server"], r["path"], r["concurrency"]) == (server, path, c)
        )

    checks = [
        (
            "/score p50 at c=1",
            find("leadscore", "/score", 1)["p50_ms"],
            "≤",
            TARGETS["score_p50_ms"],
            "ms",
        ),
        (
            "/score req/s at c=8",
            find("leadscore", "/score", 8)["rps"],
            "≥",
            TARGETS["score_rps_c8"],
            "",
        ),
        (
            "/score_batch p50 at c=1",
            find("leadscore", "/score_batch", 1)["p50_ms"],
            "≤",
            TARGETS["batch_ms"],
            "ms",
        ),
    ]
    for c in CONCURRENCY:
        checks.append(
            (
                f"/score req/s over mlflow at c={c}",
                find("leadscore", "/score", c)["rps"],
                "≥",
                find("mlflow", "/invocations", c)["rps"],
                "",
            )
        )
    for label, value, sign, target, unit in checks:
        ok = value <= target if sign == "≤" else value >= target
        print(f"{label}: {value:.1f}{unit} (target {sign} {target:.1f}{unit}) {'✔' if ok else '✘'}")


if __name__ == "__main__":
    sys.exit(main())
