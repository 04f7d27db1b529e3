"""Benchmark the pages (BENCHMARKS.md, "Pages"): each page's first render on a store of
250,000 leads and 12 M events, in Chromium and over plain HTTP. Target: ≤ 1 s each.

    .venv/bin/python bench/bench_pages.py --json bench/out/bench_pages.json

The models are bench/bench_service.py's (24 months × 10,000 simulated leads, seed 0, trained
there on first use). The store is built once, in --store (default /tmp/leadscore-pages-bench,
outside the repository; about 3 GB) and kept for later runs: 25 months × 10,000 leads of the
same simulation, so that `leadscore monitor` has a month after the models' training data to
judge; `store load`; two nightly rescores of the nurture pool a week apart with the store as
`--data` (about 200,000 decisions each); `funnel` and `monitor` on the store URL (each keeps
its report in the store). Then `leadscore serve` (2 workers, token set) on the store, and:
- browser: Chromium (Debian's, through Playwright) logs in, then opens each page in a new
  tab: seconds from navigation to the page's data drawn (`main[data-ready]`), the first time
  after the server started (a cold worker) and the median of REPEAT more;
- http: the page's HTML and its data endpoint, one after the other, with the bearer token.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_service import BIN, HOST, OUT, free_port, prepare, start, stop  # noqa: E402

DATA, MODELS = OUT / "service-sim-24x10000-s0", OUT / "service-mlruns"
MONTHS, LEADS_PER_MONTH, SEED = 25, 10_000, 0
TOKEN = "bench-pages-token"
REPEAT = 5
TARGET_S = 1.0
CHROMIUM = "/usr/bin/chromium"


def build_store(folder: Path, env: dict[str, str]) -> str:
    """The store of the run (made once; a file `ready` marks it done); returns its URL."""
    url = f"sqlite:///{folder}/store.db"
    if (folder / "ready").exists():
        return url
    folder.mkdir(parents=True, exist_ok=True)
    sim, store = folder / "sim", env | {"LEADSCORE_STORE_URL": url}
    size = ["--months", str(MONTHS), "--leads-per-month", str(LEADS_PER_MONTH)]
    _leadscore(["simulate", "--out", str(sim), *size, "--seed", str(SEED)], env, folder)
    _leadscore(["store", "init"], store, folder)
    _leadscore(["store", "load", str(sim)], store, folder)
    week_before = (_data_end(sim) - timedelta(days=7)).isoformat()
    for night, as_of in (("before", ["--as-of", week_before]), ("tonight", [])):
        _leadscore(["rescore", "--data", url, "--out", str(folder / night), *as_of], env, folder)
    _leadscore(["funnel", "--data", url, "--json", str(folder / "funnel.json")], env, folder)
    _leadscore(["monitor", "--data", url, "--json", str(folder / "monitor.json")], env, folder)
    (folder / "ready").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return url


def registry(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """The bench models' registry copied beside the store, so the runs of rescore, funnel
    and monitor stay out of bench_service's (the models' files stay where they are)."""
    copy = folder / "mlruns" / "mlflow.db"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(MODELS / "mlflow.db", copy)
    return env | {"MLFLOW_TRACKING_URI": f"sqlite:///{copy}"}


def _data_end(sim: Path) -> Any:
    import polars as pl

    return pl.read_parquet(sim / "events.parquet", columns=["ts"])["ts"].max()


def _leadscore(args: list[str], env: dict[str, str], cwd: Path) -> None:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "leadscore"), *args], env=env, cwd=cwd, check=False)
    if done.returncode not in (0, 2):  # monitor: 2 is a breach found, not a failure
        raise RuntimeError(f"leadscore {' '.join(args)} exited {done.returncode}")
    print(f"  {args[0]} {args[1]}: {time.perf_counter() - started:.1f} s", file=sys.stderr)


def pages(client: httpx.Client) -> dict[str, tuple[str, str]]:
    """Each page and its data endpoint; the lead is the first of tonight's list."""
    first = client.get("/pages/api/tonight", params={"per_page": 1}).json()["rows"][0]
    lead = first["lead_id"]
    return {
        "funnel": ("/pages/funnel", "/pages/api/funnel"),
        "tonight": ("/pages/tonight", "/pages/api/tonight"),
        "lead": (f"/pages/lead/{lead}", f"/pages/api/lead/{lead}"),
        "health": ("/pages/health", "/pages/api/health"),
    }


def in_browser(base: str, shown: dict[str, tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Seconds from navigation to the data drawn: the first time, then the median of more."""
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        login = context.new_page()
        login.goto(f"{base}/pages/login")
        login.fill("#token", TOKEN)
        login.click("main form button[type=submit]")
        login.wait_for_selector("main[data-ready]")
        for name, (path, _) in shown.items():
            times = []
            for _ in range(1 + REPEAT):
                tab = context.new_page()
                started = time.perf_counter()
                tab.goto(base + path)
                tab.wait_for_selector("main[data-ready=true]", timeout=60_000)
                times.append(time.perf_counter() - started)
                tab.close()
            out[name] = {"first_s": times[0], "median_s": statistics.median(times[1:])}
        browser.close()
    return out


def over_http(client: httpx.Client, shown: dict[str, tuple[str, str]]) -> dict[str, float]:
    """The HTML and the data endpoint of each page, one after the other (median of REPEAT)."""
    out = {}
    for name, (path, data) in shown.items():
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            for url in (path, data):
                assert client.get(url).status_code == 200, url
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/leadscore-pages-bench"))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    env = registry(args.store, prepare(DATA, MODELS))
    url = build_store(args.store, env)
    port = free_port()
    serving = env | {"LEADSCORE_API_TOKEN": TOKEN, "LEADSCORE_STORE_URL": url}
    serving["BENTOML_HOME"] = str(args.store / "bentoml")
    log = args.store / "server.log"
    command = [str(BIN / "leadscore"), "serve", "--port", str(port)]
    server = start(command, serving, f"http://{HOST}:{port}/readyz", log)
    base = f"http://{HOST}:{port}"
    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client:
            shown = pages(client)
            browser = in_browser(base, shown)
            http = over_http(client, shown)
            heavy = _timed(client, "/pages/api/tonight?route=all&sort=source&order=asc")
            csv = _timed(client, "/pages/api/tonight.csv")
    finally:
        stop(server)
    figures = _report(browser, http, heavy, csv)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if figures["all_within_target"] else 1


def _timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    assert client.get(path).status_code == 200, path
    return time.perf_counter() - started


def _report(
    browser: dict[str, dict[str, float]], http: dict[str, float], heavy: float, csv: float
) -> dict[str, Any]:
    print(f"{'page':<10}{'browser, first':>16}{'browser, median':>17}{'HTML + data':>13}")
    for name, seconds in browser.items():
        print(
            f"{name:<10}{seconds['first_s']:>15.3f}s{seconds['median_s']:>16.3f}s"
            f"{http[name]:>12.3f}s"
        )
    print(f"tonight, every scored lead sorted by source (one page): {heavy:.3f} s")
    print(f"tonight's CSV (every lead sent to active sales): {csv:.3f} s")
    worst = max(max(s.values()) for s in browser.values())
    within = worst <= TARGET_S and max(http.values()) <= TARGET_S
    print(f"slowest: {worst:.3f} s (target ≤ {TARGET_S} s) {'✔' if within else '✘'}")
    return {
        "browser": browser,
        "http_median_s": http,
        "tonight_all_by_source_s": heavy,
        "tonight_csv_s": csv,
        "all_within_target": within,
        "commit": _commit(),
    }


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    return done.stdout.decode().strip()


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    sys.exit(main())
