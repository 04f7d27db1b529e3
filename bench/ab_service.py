"""Two or more builds of the service side by side, their requests interleaved.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/ab_service.py /tmp/before .          # builds: checkouts to serve
    .venv/bin/python bench/ab_service.py --cycles 20 /tmp/before .

This VM's speed drifts by ±50% within minutes, so runs of bench_service.py an hour apart (or
even back to back) cannot show a change of 10%. Here every build serves at once (2 workers
each, its own fresh SQLite store, the models of bench_service.py), and each cycle sends every
build, in alternating order, 100 /score at c=1, 400 /score at c=8 and one /score_batch of
1,000 leads. Each build's code and configs come from its checkout (PYTHONPATH first on the
path, checked by importing `features` as the server will). Prints, per build, /score p50 at
c=1, the median cycle's req/s at c=8 and /score_batch p50.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_service import BIN, HOST, OUT, _load, free_port, prepare, requests_of, start, stop

DATA = OUT / "service-sim-24x10000-s0"


def serve(build: Path, env: dict[str, str], store: Path) -> tuple[int, subprocess.Popen]:
    """`leadscore serve` of one checkout, on a free port, with its own store."""
    imported = subprocess.run(
        [sys.executable, "-c", "import features; print(features.__file__)"],
        env=env | {"PYTHONPATH": str(build)},
        cwd=OUT,  # where start() runs the server
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not imported.startswith(str(build)):
        raise SystemExit(f"{build}: imports {imported}, not its own code")
    port = free_port()
    command = [str(BIN / "leadscore"), "serve", "--port", str(port), "--host", HOST]
    served = env | {"PYTHONPATH": str(build), "LEADSCORE_STORE_URL": f"sqlite:///{store}"}
    log = OUT / f"ab-{build.name or 'main'}.log"
    return port, start(command, served, f"http://{HOST}:{port}/readyz", log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", type=Path, help="checkouts of the builds to serve")
    parser.add_argument("--cycles", type=int, default=12)
    args = parser.parse_args()
    builds = [build.resolve() for build in args.builds]
    env = prepare(DATA, OUT / "service-mlruns")
    bodies = requests_of(DATA, env)
    servers: dict[Path, tuple[int, subprocess.Popen]] = {}
    with tempfile.TemporaryDirectory() as stores:
        try:
            for k, build in enumerate(builds):
                servers[build] = serve(build, env, Path(stores) / f"store-{k}.db")
            for port, _ in servers.values():  # warm-up
                asyncio.run(_load(port, "/score", bodies["score"], 2, 400, 30))
                asyncio.run(_load(port, "/score_batch", bodies["batch"], 1, 3, 60))
            single = {build: [] for build in builds}
            rps = {build: [] for build in builds}
            batch = {build: [] for build in builds}
            for cycle in range(args.cycles):
                for build in builds if cycle % 2 == 0 else builds[::-1]:
                    port = servers[build][0]
                    leads = bodies["score"][(cycle * 100) % 900 :]
                    single[build] += asyncio.run(_load(port, "/score", leads, 1, 100, 30))[
                        "latencies"
                    ]
                    eight = asyncio.run(_load(port, "/score", bodies["score"], 8, 400, 30))
                    rps[build].append(len(eight["latencies"]) / eight["wall"])
                    batch[build] += asyncio.run(
                        _load(port, "/score_batch", bodies["batch"], 1, 1, 60)
                    )["latencies"]
        finally:
            for _, process in servers.values():
                stop(process)
    for build in builds:
        print(
            f"{str(build):<40} /score p50 {statistics.median(single[build]) * 1000:6.2f} ms   "
            f"c=8 {statistics.median(rps[build]):5.0f} req/s   "
            f"/score_batch p50 {statistics.median(batch[build]) * 1000:6.1f} ms "
            f"({len(batch[build])} batches)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
