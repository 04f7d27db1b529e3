"""Benchmark the feature pipeline: reading + validating a data folder, batch features for the
open leads at the data's end, and one lead's vector in a request.

    .venv/bin/python bench/bench_features.py               # simulates 24 × 10,000 leads first
    .venv/bin/python bench/bench_features.py --data DIR    # any data folder

Without --data the funnel is simulated once into bench/out/ (`leadscore simulate`) and reused
by later runs. Each phase runs in a fresh Python process, so that its peak RSS
(getrusage ru_maxrss: interpreter, imports and data included) is its own. Targets: features of
200,000 leads over ~10M events in at most 8 s and 4 GiB; one lead in at most 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BATCH_SECONDS, BATCH_GIB, ONE_LEAD_MS = 8.0, 4.0, 1.0
LEAD_EVENTS = 50


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# ---- phases, each run in its own process ------------------------------------------------------


def phase_load(folder: Path) -> dict[str, Any]:
    from features.tables import load_data

    data, seconds = _timed(lambda: load_data(folder))
    return {
        "load_s": seconds,
        "leads": data.leads.height,
        "events": data.events.height,
        "stages": data.stages.height,
        "peak_gib": _peak_gib(),
    }


def phase_features(folder: Path) -> dict[str, Any]:
    """Load untimed, then time open_leads, table_features and to_matrix apart."""
    import numpy as np

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data
    from features.vectors import open_leads, table_features, to_matrix, to_ms

    data = load_data(folder)
    spec = FeatureSpec.fit(FeatureConfig(), data.leads)
    as_of = data.end
    ids, open_s = _timed(lambda: open_leads(data, as_of))
    as_of_ms = np.full(len(ids), to_ms(as_of))
    block, features_s = _timed(lambda: table_features(data, spec, ids, as_of_ms))
    matrix, matrix_s = _timed(lambda: to_matrix(spec, block))
    return {
        "as_of": as_of.isoformat(),
        "open_leads": len(ids),
        "features": matrix.shape[1],
        "open_leads_s": open_s,
        "table_features_s": features_s,
        "to_matrix_s": matrix_s,
        "peak_gib": _peak_gib(),
    }


def phase_end_to_end(folder: Path) -> dict[str, Any]:
    """What `leadscore features` does, from files to the model's input matrix."""
    start = time.perf_counter()
    import numpy as np

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data
    from features.vectors import open_leads, table_features, to_matrix, to_ms

    imported = time.perf_counter()
    data = load_data(folder)
    spec = FeatureSpec.fit(FeatureConfig(), data.leads)
    ids = open_leads(data, data.end)
    block = table_features(data, spec, ids, np.full(len(ids), to_ms(data.end)))
    to_matrix(spec, block)
    done = time.perf_counter()
    return {
        "imports_s": imported - start,
        "end_to_end_s": done - imported,
        "peak_gib": _peak_gib(),
    }


def phase_one_lead(folder: Path, calls: int) -> dict[str, Any]:
    """record_features (+ to_matrix) for one lead with LEAD_EVENTS events, called `calls` times."""
    import numpy as np
    import polars as pl

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data
    from features.vectors import LeadRecord, record_features, to_matrix

    data = load_data(folder)
    spec = FeatureSpec.fit(FeatureConfig(), data.leads)
    counts = data.events.group_by("lead_id").len().filter(pl.col("len") >= LEAD_EVENTS)
    lead_id = counts.sort("len", "lead_id")["lead_id"][0]
    row = data.leads.filter(pl.col("lead_id") == lead_id).row(0, named=True)
    events = data.events.filter(pl.col("lead_id") == lead_id).sort("ts").tail(LEAD_EVENTS)
    record = LeadRecord(
        lead_id=lead_id,
        created_at=row["created_at"],
        source=row["source"],
        partner_id=row.get("partner_id"),
        attributes={name: row[name] for name in data.attribute_columns},
        events=list(zip(events["ts"].to_list(), events["event_type"].to_list(), strict=True)),
    )
    as_of = [data.end]

    def measure(fn: Callable[[], Any]) -> np.ndarray:
        for _ in range(min(100, calls)):  # warm-up
            fn()
        times = np.empty(calls)
        for i in range(calls):
            start = time.perf_counter_ns()
            fn()
            times[i] = time.perf_counter_ns() - start
        return times / 1e6

    vector = measure(lambda: record_features(spec, [record], as_of))
    matrix = measure(lambda: to_matrix(spec, record_features(spec, [record], as_of)))
    return {
        "lead_events": len(record.events),
        "calls": calls,
        "record_median_ms": float(np.median(vector)),
        "record_p99_ms": float(np.percentile(vector, 99)),
        "row_median_ms": float(np.median(matrix)),
        "row_p99_ms": float(np.percentile(matrix, 99)),
    }


# ---- driver -----------------------------------------------------------------------------------


def _child(phase: str, folder: Path, calls: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", phase, "--data", str(folder)]
    command += ["--calls", str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _simulated(months: int, per_month: int, seed: int) -> Path:
    folder = OUT / f"sim-{months}x{per_month}-s{seed}"
    if (folder / "leads.parquet").exists():
        print(f"reusing {folder.relative_to(ROOT)}")
        return folder
    print(f"simulating {months} months × {per_month:,} leads into {folder.relative_to(ROOT)} ...")
    command = [sys.executable, "-m", "leadscore.cli", "simulate", "--out", str(folder)]
    command += ["--months", str(months), "--leads-per-month", str(per_month), "--seed", str(seed)]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"leadscore simulate failed (exit {done.returncode}), see above")
    return folder


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(load: dict, feats: dict, e2e: dict, one: dict) -> list[tuple[str, str, str, str]]:
    """Rows of (what, time, peak RSS, target and verdict)."""
    gib = "{:.2f} GiB".format
    batch_ok = feats["table_features_s"] <= BATCH_SECONDS and feats["peak_gib"] <= BATCH_GIB
    e2e_ok = e2e["end_to_end_s"] <= BATCH_SECONDS and e2e["peak_gib"] <= BATCH_GIB
    target = f"≤ {BATCH_SECONDS:g} s, ≤ {BATCH_GIB:g} GiB"
    one_ok = one["record_p99_ms"] <= ONE_LEAD_MS
    row_ok = one["row_p99_ms"] <= ONE_LEAD_MS
    n = f"{feats['open_leads']:,}"
    return [
        ("read + validate (load_data)", f"{load['load_s']:.2f} s", gib(load["peak_gib"]), ""),
        (f"open_leads at data end ({n})", f"{feats['open_leads_s']:.2f} s", "", ""),
        (
            f"table_features, {n} leads",
            f"{feats['table_features_s']:.2f} s",
            gib(feats["peak_gib"]),
            f"{target}: {_verdict(batch_ok)}",
        ),
        (f"to_matrix, {n} × {feats['features']}", f"{feats['to_matrix_s']:.2f} s", "", ""),
        (
            "end to end: load → open leads → matrix",
            f"{e2e['end_to_end_s']:.2f} s",
            gib(e2e["peak_gib"]),
            f"{target}: {_verdict(e2e_ok)}",
        ),
        (
            f"one lead, {one['lead_events']} events: record_features",
            f"{one['record_median_ms']:.3f} ms median, {one['record_p99_ms']:.3f} ms p99",
            "",
            f"≤ {ONE_LEAD_MS:g} ms: {_verdict(one_ok)}",
        ),
        (
            "one lead: record_features + to_matrix",
            f"{one['row_median_ms']:.3f} ms median, {one['row_p99_ms']:.3f} ms p99",
            "",
            f"≤ {ONE_LEAD_MS:g} ms: {_verdict(row_ok)}",
        ),
    ]


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    header = ("what", "time", "peak RSS", "target")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for i, row in enumerate((header, *rows)):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="data folder (default: simulate one into bench/out/)")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--leads-per-month", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=2000, help="one-lead calls timed")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase:  # a child process: one phase, its figures as one JSON line
        folder = Path(args.data)
        phases = {
            "load": lambda: phase_load(folder),
            "features": lambda: phase_features(folder),
            "end_to_end": lambda: phase_end_to_end(folder),
            "one_lead": lambda: phase_one_lead(folder, args.calls),
        }
        print(json.dumps(phases[args.phase]()))
        return 0

    if args.data:
        folder = Path(args.data).resolve()
    else:
        folder = _simulated(args.months, args.leads_per_month, args.seed)
    load = _child("load", folder, args.calls)
    feats = _child("features", folder, args.calls)
    e2e = _child("end_to_end", folder, args.calls)
    one = _child("one_lead", folder, args.calls)
    print(
        f"\nfeatures bench — {folder}: {load['leads']:,} leads, {load['events']:,} events, "
        f"{load['stages']:,} stage changes; as of {feats['as_of']} (data end); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print_table(report(load, feats, e2e, one))
    print(f"\n(imports before the end-to-end run: {e2e['imports_s']:.2f} s, not counted)")
    if args.json:
        figures = {"data": str(folder), "load": load, "features": feats, "end_to_end": e2e}
        Path(args.json).write_text(json.dumps({**figures, "one_lead": one}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
