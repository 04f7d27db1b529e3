"""The nightly rescore on one machine: the local engine against Dask (BENCHMARKS.md, "Engines").

`leadscore rescore` as the nightly job runs it (a fresh process: start-up, read, features,
models, capacity, reasons, the atomic write, the MLflow run), on `simulate --months 24` (240,000
leads, ~11.8M events), alternating `--engine local` and `--engine dask` (a LocalCluster of 2
workers × 1 thread, 8 partitions cut from the folder in the run). The champion is trained on a
small simulated set of the same funnel, so the bench spends its time rescoring.

    .venv/bin/python bench/bench_engine.py --rounds 2 --json bench/out/engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def leadscore(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "leadscore"), *args], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        work = Path(tmp)
        env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlruns/mlflow.db"}
        small, data = work / "small", work / "data"
        leadscore("simulate", "--out", str(small), "--months", "8", "--leads-per-month", "3000",
                  "--seed", "1", env=env)  # fmt: skip
        leadscore("train", "--data", str(small), env=env)
        leadscore("simulate", "--out", str(data), "--months", "24", "--seed", "0", env=env)
        runs = []
        for k in range(args.rounds):
            for engine in ("local", "dask") if k % 2 == 0 else ("dask", "local"):
                out = work / f"out-{engine}-{k}"
                began = time.perf_counter()
                leadscore("rescore", "--data", str(data), "--out", str(out), "--engine", engine,
                          env=env)  # fmt: skip
                seconds = time.perf_counter() - began
                summary = json.loads((out / "summary.json").read_text())
                runs.append({"wall_seconds": round(seconds, 2)} | summary["run"])
                runs[-1]["leads"] = summary["leads"]
                print(json.dumps(runs[-1]), flush=True)
    text = json.dumps({"runs": runs}, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
