"""Benchmark the nightly batch: `leadscore rescore` of the nurture pool, end to end.

    .venv/bin/python bench/bench_rescore.py               # simulates 24 × 10,000 leads first
    .venv/bin/python bench/bench_rescore.py --data DIR    # any data folder

End to end means the whole command as a user runs it: start-up and imports, read + validate,
the pool, features, both champion models, routing and capacity, reasons for the leads sent to
sales, the atomic write, the summary and its MLflow run. Models are trained once into
bench/out/rescore-mlruns (reused later). Each timed run is a fresh process whose peak RSS is
read by a wrapper process of its own. Target: 200,000 leads / ~10M events in ≤ 15 s, ≤ 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LEADSCORE = str(Path(sys.executable).parent / "leadscore")
SECONDS, GIB = 15.0, 4.0
# Runs one command and prints its wall time and peak RSS (this wrapper's children only).
WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "wall = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20\n"
    "print(json.dumps({'rc': rc, 'seconds': wall, 'peak_gib': peak}))\n"
)


def _run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(args, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: simulate)")
    parser.add_argument("--runs", type=int, default=2, help="timed runs (default 2)")
    args = parser.parse_args()
    data = args.data or OUT / "rescore-sim-24x10000-s0"
    store = OUT / "rescore-mlruns"
    env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
    if not (data / "leads.parquet").exists():
        print(f"simulating {data} …", file=sys.stderr)
        _run([LEADSCORE, "simulate", "--out", str(data), "--months", "24", "--seed", "0"], env)
    if not (store / "mlflow.db").exists():
        print("training the champion models …", file=sys.stderr)
        store.mkdir(parents=True, exist_ok=True)
        _run([LEADSCORE, "train", "--data", str(data)], env)
    out = OUT / "rescored"  # the output folder (a link to its latest version)
    results = []
    for _ in range(args.runs):
        command = [LEADSCORE, "rescore", "--data", str(data), "--out", str(out)]
        raw = subprocess.run(
            [sys.executable, "-c", WRAPPER, *command],
            check=True,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(raw.strip().splitlines()[-1]))
        assert results[-1]["rc"] == 0, "rescore failed"
    summary = json.loads((out / "summary.json").read_text())  # the published folder's
    print(f"data: {data} — {summary['leads']:,} leads in the {summary['pool']} pool")
    print(f"{'run':<6}{'seconds':>10}{'peak GiB':>10}")
    for i, r in enumerate(results, 1):
        print(f"{i:<6}{r['seconds']:>10.2f}{r['peak_gib']:>10.2f}")
    within = sum(r["seconds"] <= SECONDS and r["peak_gib"] <= GIB for r in results)
    print(
        f"{within} of {len(results)} runs within ≤ {SECONDS:g} s, ≤ {GIB:g} GiB "
        f"{'✔' if within == len(results) else '✘'}; to active sales: "
        f"{summary['to_active_sales']:,}; last run's stages: {summary['run']['seconds']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
