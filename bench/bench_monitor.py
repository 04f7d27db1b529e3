"""Monitoring on known truth (BENCHMARKS.md, "Monitoring").

- bank: bank marketing imported, trained on the data as it stood when 80% of its calls existed
  (as bench_real_data.py does), then monthly monitor runs over the rest: the first month whose
  calibration check breaches, with its figures.
- drift: a simulated history (no drift, and each `simulate --drift` scenario from the same
  month, same seed); one champion trained on the undrifted data as of `--train-month`; the
  undrifted data checked monthly for 12 months (false alarms), each scenario weekly from its
  drift: the first check that names the right source, feature or event type.
- timing: `leadscore monitor` (the command, as a scheduler runs it) on 24 months × 10,000
  leads, three times.

    .venv/bin/python bench/bench_monitor.py --json bench/out/monitor.json
    .venv/bin/python bench/bench_monitor.py --only bank
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_real_data import CUT_SHARE, DATA, POLICY  # noqa: E402

from features import contract as c  # noqa: E402
from features.config import FeatureConfig  # noqa: E402
from features.tables import LeadData, load_data  # noqa: E402
from leadscore.funnel.figures import FunnelConfig  # noqa: E402
from leadscore.importers import import_export, mapping_path  # noqa: E402
from leadscore.monitor.config import MonitorConfig  # noqa: E402
from leadscore.monitor.findings import Findings  # noqa: E402
from leadscore.monitor.report import Judging, load_monitored, monitor  # noqa: E402
from leadscore.settings import default_config, load_config  # noqa: E402
from leadscore.simulator.config import SimulationConfig  # noqa: E402
from leadscore.simulator.simulate import DriftChoice, run_simulation  # noqa: E402
from training.config import Procedure, RegistryConfig, TrainConfig  # noqa: E402
from training.registry import Registry  # noqa: E402
from training.train import train  # noqa: E402

MONITOR = load_config(default_config("monitor"), MonitorConfig)
RULES = load_config(default_config("funnel"), FunnelConfig).rules
# The subject a breach must name for each scenario (configs/simulate.yaml's defaults).
SCENARIOS = {
    "source_conversion_halves": "source=organic_search",
    "new_source": "source=tiktok",
    "event_type_stops": "pricing_view",
}


def registry_in(folder: Path) -> Registry:
    return Registry(RegistryConfig(tracking_uri=f"sqlite:///{folder}/mlflow.db"))


def train_champion(data: LeadData, features: FeatureConfig, config: TrainConfig, where: Path):
    procedure = Procedure(features=features, train=config, params=config.conversion)
    registry = registry_in(where)
    train(data, procedure, POLICY, registry)
    return load_monitored(registry)


def month_starts(first: datetime, last: datetime) -> list[datetime]:
    out, moment = [], datetime(first.year, first.month, 1, tzinfo=UTC)
    while moment <= last:
        out.append(moment)
        moment = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return out


def summary(findings: Findings) -> dict[str, object]:
    judged = next((f for f in reversed(findings.periods) if f.matured), None)
    cal = judged.calibration if judged is not None else None
    return {
        "as_of": f"{findings.as_of:%Y-%m-%d}",
        "judged_period": f"{judged.start:%Y-%m-%d}" if judged else None,
        "predicted": round(cal.predicted, 4) if cal else None,
        "observed": round(cal.observed.rate, 4) if cal else None,
        "interval": [round(cal.observed.low, 4), round(cal.observed.high, 4)] if cal else None,
        "auc": round(judged.auc, 4) if judged else None,
        "score_psi": round(findings.periods[-1].score_psi, 4) if findings.periods else None,
        "breaches": [b.line() for b in findings.breaches],
    }


def bank(work: Path) -> dict[str, object]:
    folder = work / "bank"
    import_export(
        mapping_path("bank-marketing"), DATA / "uci_bank_marketing", folder, (), "bank-marketing"
    )
    data = load_data(folder)
    created = data.leads[c.CREATED_AT].sort()
    cut = created[int(len(created) * CUT_SHARE)]
    features = load_config(folder / "features.yaml", FeatureConfig)
    config = load_config(folder / "train.yaml", TrainConfig).model_copy(
        update={"tuned_params": None}
    )
    champion = train_champion(data.known_at(cut), features, config, work / "bank-registry")
    judging = Judging(MONITOR.model_copy(update={"period": "month"}), POLICY, RULES)
    runs = []
    for as_of in month_starts(cut + timedelta(days=31), data.end + timedelta(days=31)):
        runs.append(summary(monitor(data, as_of, champion, judging)))
        print(json.dumps(runs[-1]), flush=True)
    flagged = next(
        (r for r in runs if any(b.startswith("calibration: all leads") for b in r["breaches"])),
        None,
    )
    return {"cut": f"{cut:%Y-%m-%d}", "runs": runs, "first_calibration_breach": flagged}


def simulate(folder: Path, months: int, leads: int, seed: int, drift: DriftChoice | None) -> None:
    config = load_config(default_config("simulate"), SimulationConfig)
    run_simulation(config, folder, months, leads, seed, drift)


def drift(work: Path, months: int, leads: int, train_month: int, drift_month: int) -> dict:
    seed = 11
    base = work / "sim-none"
    simulate(base, months, leads, seed, None)
    data = load_data(base)
    start = data.leads[c.CREATED_AT].min()
    first = datetime(start.year, start.month, 1, tzinfo=UTC)
    cut = month_starts(first, data.end)[train_month]
    features = load_config(default_config("features"), FeatureConfig)
    config = load_config(default_config("train"), TrainConfig).model_copy(
        update={"tuned_params": None}
    )
    began = time.perf_counter()
    champion = train_champion(data.known_at(cut), features, config, work / "sim-registry")
    out: dict[str, object] = {"trained_until": f"{cut:%Y-%m-%d}", "train_seconds": 0.0}
    out["train_seconds"] = round(time.perf_counter() - began, 1)
    judging = Judging(MONITOR, POLICY, RULES)
    checks = []
    for as_of in month_starts(cut + timedelta(days=31), data.end + timedelta(days=1))[:12]:
        checks.append(summary(monitor(data, as_of, champion, judging)))
        print(json.dumps(checks[-1]), flush=True)
    alarms = sum(bool(r["breaches"]) for r in checks)
    out["undrifted"] = {"checks": checks, "alarms": alarms, "false_alarm_rate": alarms / 12}
    drift_at = month_starts(first, data.end)[drift_month]
    matured = drift_at + timedelta(days=features.horizon_days)
    for name, subject in SCENARIOS.items():
        folder = work / f"sim-{name}"
        simulate(folder, months, leads, seed, DriftChoice(name, drift_month))
        drifted = load_data(folder)
        monday = drift_at + timedelta(days=(7 - drift_at.weekday()) % 7)
        weekly = []
        for k in range(12):
            as_of = monday + timedelta(weeks=k)
            if as_of > drifted.end:
                break
            weekly.append(summary(monitor(drifted, as_of, champion, judging)))
            print(name, json.dumps(weekly[-1]), flush=True)
        hit = next((r for r in weekly if any(subject in b for b in r["breaches"])), None)
        weeks_after = (
            (datetime.fromisoformat(hit["as_of"]).replace(tzinfo=UTC) - matured).days / 7
            if hit
            else None
        )
        out[name] = {
            "drift_from": f"{drift_at:%Y-%m-%d}",
            "labels_mature": f"{matured:%Y-%m-%d}",
            "first_flag": hit,
            "weeks_after_labels_mature": weeks_after,
            "checks": weekly,
        }
    return out


def timing(work: Path, months: int, leads: int, champion_store: Path) -> dict[str, object]:
    folder = work / "sim-timing"
    simulate(folder, months, leads, 0, None)
    env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{champion_store}/mlflow.db"}
    seconds = []
    for _ in range(3):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "leadscore.cli", "monitor", "--data", str(folder)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds.append(round(time.perf_counter() - began, 1))
        if done.returncode not in (0, 2):
            raise SystemExit(done.stderr)
    leads_total = pl.scan_parquet(folder / "leads.parquet").select(pl.len()).collect().item()
    return {"leads": leads_total, "seconds": seconds, "exit_code": done.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("bank", "drift", "timing"), action="append")
    parser.add_argument("--months", type=int, default=30)
    parser.add_argument("--leads-per-month", type=int, default=3000)
    parser.add_argument("--train-month", type=int, default=18)
    parser.add_argument("--drift-month", type=int, default=21)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    parts = args.only or ["bank", "drift", "timing"]
    results: dict[str, object] = {"date": datetime.now(UTC).isoformat(timespec="minutes")}
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        work = Path(tmp)
        if "bank" in parts:
            results["bank"] = bank(work)
        if "drift" in parts or "timing" in parts:
            results["drift"] = (
                drift(work, args.months, args.leads_per_month, args.train_month, args.drift_month)
                if "drift" in parts
                else None
            )
        if "timing" in parts:
            if results.get("drift") is None:
                raise SystemExit("timing needs the drift part's champion: run it with --only drift")
            results["timing"] = timing(work, 24, 10_000, work / "sim-registry")
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
