"""The nightly rescore past one machine's comfort: 2M leads / ~100M events (BENCHMARKS.md,
"Engines").

`leadscore simulate --partitions 32` writes the set in hash partitions without holding it
(25 months × 80,000 leads); `leadscore rescore --engine dask` reads the partitions where they
lie on a LocalCluster of 2 workers × 1 thread; then `--engine local` reads the same folder
whole in one process, watched: past `--local-limit-gib` of resident memory it is stopped and
reported as out of memory (the VM has 24 GiB, and the OOM killer would pick any process).
The champion is trained on a small simulated set of the same funnel.

    .venv/bin/python bench/bench_scale.py --data /tmp/sim2m --json bench/out/scale.json
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

BIN = Path(sys.executable).parent
GIB = 2**30


def leadscore(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "leadscore"), *args], env=env, check=True, capture_output=True)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants (the LocalCluster's workers too)."""
    pids, total = [pid], 0
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            tasks = Path(f"/proc/{current}/task").iterdir()  # Dask starts workers off-main
            children = [c for task in tasks for c in (task / "children").read_text().split()]
        except OSError:
            continue
        total += next(int(line.split()[1]) * 1024 for line in status.splitlines()
                      if line.startswith("VmRSS:"))  # fmt: skip
        pids += [int(child) for child in children]
    return total


def watched(command: list[str], env: dict[str, str], limit: int) -> dict[str, object]:
    """Run `command`, sampling its tree's RSS every 0.2 s; stop it past `limit` bytes."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        if peak > limit:
            process.kill()
            process.wait()
            return {"out_of_memory": True, "seconds": time.perf_counter() - began,
                    "peak_rss_gib": peak / GIB}  # fmt: skip
        time.sleep(0.2)
    if process.returncode != 0:
        raise RuntimeError(process.stderr.read().decode()[-2000:])
    return {"out_of_memory": False, "seconds": time.perf_counter() - began,
            "peak_rss_gib": peak / GIB}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/sim2m"))
    parser.add_argument("--local-limit-gib", type=float, default=20.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlruns/mlflow.db"}
        if not args.data.exists():
            leadscore("simulate", "--out", str(args.data), "--months", "25", "--leads-per-month",
                      "80000", "--seed", "0", "--partitions", "32", env=env)  # fmt: skip
        small = work / "small"
        leadscore("simulate", "--out", str(small), "--months", "8", "--leads-per-month", "3000",
                  "--seed", "1", env=env)  # fmt: skip
        leadscore("train", "--data", str(small), env=env)
        runs = {}
        for engine in ("dask", "local"):
            out = work / f"out-{engine}"
            command = [str(BIN / "leadscore"), "rescore", "--data", str(args.data), "--out",
                       str(out), "--engine", engine]  # fmt: skip
            run = watched(command, env, int(args.local_limit_gib * GIB))
            if not run["out_of_memory"]:
                summary = json.loads((out / "summary.json").read_text())
                run |= {"leads": summary["leads"], "run": summary["run"]}
                run["seconds_per_100k_leads"] = run["seconds"] / summary["leads"] * 100_000
            runs[engine] = run
            print(engine, json.dumps(run), flush=True)
    text = json.dumps(runs, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
