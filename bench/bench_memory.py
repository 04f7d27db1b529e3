"""Memory of a worker for the largest body it accepts: 16 MiB of leads with maximal attributes.

    .venv/bin/python bench/bench_memory.py                # 3 bodies; models as bench_service.py
    .venv/bin/python bench/bench_memory.py --json FILE    # also write the figures as JSON

`leadscore serve` with one worker and the default limits gets POST /score_batch bodies of
exactly `max_body_bytes`: as many leads as fit, each with the most attributes a lead may have,
names and text values of the longest length allowed (random characters, so nothing is shared).
Then two hostile bodies of the same size, refused: tiny events far over the event limit, and
one lead with a million attributes. The worker's peak RSS (VmHWM, reset before each body
through /proc/PID/clear_refs) is set against its RSS before the first body. Target: growth ≤
4 × the body size for the valid bodies. Linux only; uses the models bench_service.py trains
into bench/out/service-mlruns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import string
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from bench_service import HOST, OUT, _read_response, free_port, prepare, start, stop

from serving.example import EXAMPLE_LEAD
from serving.schemas import MAX_ATTRIBUTES, MAX_KEY, MAX_VALUE

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKER = "_bentoml_impl.worker.service"
TARGET = 4.0


def maximal_body(size: int, max_leads: int, seed: int) -> tuple[bytes, int]:
    """A /score_batch body of exactly `size` bytes and how many leads it holds."""
    rng = random.Random(seed)
    letters = string.ascii_letters + string.digits

    def text(n: int) -> str:
        return "".join(rng.choices(letters, k=n))

    leads: list[bytes] = []
    used = len(b'{"leads":[]}')
    while len(leads) < max_leads:
        attributes = {f"{i:03}{text(MAX_KEY - 3)}": text(MAX_VALUE) for i in range(MAX_ATTRIBUTES)}
        lead = json.dumps(EXAMPLE_LEAD | {"lead_id": f"M{len(leads)}", "attributes": attributes})
        encoded = lead.encode()
        if used + len(encoded) + 1 > size:
            break
        leads.append(encoded)
        used += len(encoded) + 1
    body = b'{"leads":[' + b",".join(leads) + b"]}"
    return body + b" " * (size - len(body)), len(leads)


def hostile_bodies(size: int) -> dict[str, bytes]:
    """Bodies of exactly `size` bytes that break a count: events, attributes."""
    event = b'{"ts":"2026-10-02T09:20:00Z","event_type":"a"}'
    head = {k: v for k, v in EXAMPLE_LEAD.items() if k != "events"}
    lead = json.dumps(head).encode()[:-1] + b', "events": ['
    events = lead + b",".join([event] * ((size - len(lead) - 20) // (len(event) + 1)))
    attributes = b'{"lead_id":"A","created_at":"2026-10-02T09:15:00Z","source":"s","attributes":{'
    attributes += b",".join(b'"a%d":1' % i for i in range((size - len(attributes)) // 13))
    bodies = {
        "tiny events over the limit (refused)": b'{"leads":[' + events + b"]}]}",
        "one lead with ~1.2 million attributes (refused)": b'{"leads":[' + attributes + b"}}]}",
    }
    return {name: body + b" " * (size - len(body)) for name, body in bodies.items()}


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker_of(server: int) -> int:
    """The one worker process of the server (a direct child running BentoML's worker)."""
    for child in Path(f"/proc/{server}/task/{server}/children").read_text().split():
        if WORKER in Path(f"/proc/{child}/cmdline").read_text().replace("\0", " "):
            return int(child)
    raise RuntimeError("no worker process found")


async def post(port: int, body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        f"POST /score_batch HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    answer = await _read_response(reader)
    writer.close()
    return answer


def _mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=3, help="bodies sent one after another")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()
    env = prepare(OUT / "service-sim-24x10000-s0", OUT / "service-mlruns")
    serve = yaml.safe_load((ROOT / "configs" / "serve.yaml").read_text()) | {"workers": 1}
    config = OUT / "memory-serve.yaml"
    config.write_text(yaml.safe_dump(serve))
    port = free_port()
    server = start(
        [str(BIN / "leadscore"), "serve", "--port", str(port), "--config", str(config)],
        env,
        f"http://{HOST}:{port}/readyz",
        OUT / "bench-memory.log",
    )
    rows: list[dict[str, Any]] = []
    try:
        worker = worker_of(server.pid)
        small = json.dumps({"leads": [EXAMPLE_LEAD] * 10}).encode()
        for _ in range(5):  # warm: first requests import and allocate what every request needs
            assert asyncio.run(post(port, small))[0] == 200
        time.sleep(1)
        before = _kib(worker, "VmRSS")
        print(f"worker {worker}: RSS before {before / 1024:.1f} MiB")
        size = serve["max_body_bytes"]
        bodies = [
            (f"maximal attributes #{k + 1}", *maximal_body(size, serve["max_batch_leads"], k))
            for k in range(args.bodies)
        ]
        bodies += [(name, body, 0) for name, body in hostile_bodies(size).items()]
        for name, body, leads in bodies:
            Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset the peak to now
            status, answer = asyncio.run(post(port, body))
            peak = _kib(worker, "VmHWM")
            growth = (peak - before) * 1024 / len(body)
            row = {
                "body": name,
                "body_bytes": len(body),
                "leads": leads,
                "status": status,
                "answer_bytes": len(answer),
                "rss_before_mib": before / 1024,
                "peak_mib": peak / 1024,
                "growth_mib": (peak - before) / 1024,
                "growth_x_body": growth,
            }
            rows.append(row)
            print(
                f"{name}: {len(body):,} bytes, {leads} leads -> {status}; peak "
                f"{peak / 1024:.1f} MiB, growth {row['growth_mib']:.1f} MiB = {growth:.2f} × the "
                f"body (target ≤ {TARGET:g}) {_mark(growth <= TARGET)}",
                flush=True,
            )
    finally:
        stop(server)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=1))
    valid = [r for r in rows if r["leads"]]
    refused = [r for r in rows if not r["leads"]]
    ok = all(r["status"] == 200 and r["growth_x_body"] <= TARGET for r in valid)
    return 0 if ok and all(r["status"] == 400 for r in refused) else 1


if __name__ == "__main__":
    sys.exit(main())
