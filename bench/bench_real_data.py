"""Real data: import each public set, train it as a user would, and judge the deployed model on
leads it never saw, next to a logistic regression fitted on the same rows (BENCHMARKS.md, "Real
data").

Each set goes through `leadscore import` (leaky columns dropped) into a temporary folder and
`train` with the configs the import wrote, in a temporary MLflow store, on part of the data only:

- time sets (bank marketing, CRM opportunities): the data as it stood when 80% of its leads had
  been created (`LeadData.known_at`); the hold-out is every snapshot after that moment whose
  label has matured by the data's end — the deployed model scoring the next months, as in
  production;
- X Education (no time): 15% of the leads held out by a seeded hash of their id, for each of
  `--seeds` seeds; the figures are means over the seeds.

The baseline is training/linear.py's logistic regression (the one every run logs), fitted on
exactly the rows the deployed model was fitted on and scored on the same hold-out. AUCs carry a
95% interval from resampling leads (training/intervals.py).

    .venv/bin/python bench/bench_real_data.py                  # the three sets in ../shared/data
    .venv/bin/python bench/bench_real_data.py --sets bank-marketing --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import contract as c  # noqa: E402
from features.config import FeatureConfig  # noqa: E402
from features.snapshots import build_snapshots  # noqa: E402
from features.tables import LeadData, load_data  # noqa: E402
from features.vectors import table_features, to_matrix  # noqa: E402
from leadscore.importers import import_export, mapping_path  # noqa: E402
from leadscore.settings import (  # noqa: E402
    default_config,
    load_config,
    load_policy,
    registry_config,
    tuned_params,
)
from training.config import Procedure, TrainConfig  # noqa: E402
from training.dataset import build_training_set  # noqa: E402
from training.folds import unit_hash  # noqa: E402
from training.intervals import LeadBootstrap  # noqa: E402
from training.linear import LinearBase  # noqa: E402
from training.metrics import expected_calibration_error  # noqa: E402
from training.registry import Registry  # noqa: E402
from training.train import train  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CUT_SHARE = 0.8  # time sets: trained on the data as it stood when 80% of the leads existed
HOLDOUT_SHARE = 0.15  # X Education: leads held out per seed
POLICY = load_policy(default_config("routing"), default_config("economics"))
# (kind, folder under DATA, leaky columns kept, published figures from the set's SOURCE.md)
SETS = {
    "x-education": (
        "x_education_leads",
        (),
        "honest range 0.85-0.90 (ArnabSaha1 LR 0.88, denis911 XGBoost ~0.88)",
    ),
    "x-education+suspect": (
        "x_education_leads",
        (
            "Asymmetrique Activity Index",
            "Asymmetrique Profile Index",
            "Asymmetrique Activity Score",
            "Asymmetrique Profile Score",
        ),
        "with the Asymmetrique* scores, assigned by the company at an unknown time "
        "(SOURCE.md: suspect): not a lead-time figure",
    ),
    "x-education+leaky": (
        "x_education_leads",
        ("Tags", "Lead Quality"),
        "with Tags + Lead Quality: PyCaret CatBoost 10-fold CV 0.986, LR 0.96",
    ),
    "bank-marketing": (
        "uci_bank_marketing",
        (),
        "Moro et al. 2014 NN 0.80 (rolling window, fuller data)",
    ),
    "crm-opportunities": (
        "crm_sales_opportunities",
        (),
        "Elice99 XGBoost win/loss 0.648 (features unclear); generated data",
    ),
}


@dataclass
class Row:
    """One set's hold-out figures: the deployed model, the baseline, and the run's backtests."""

    name: str
    holdout: str
    rows: int
    base_rate: float
    roc_auc: float
    roc_auc_low: float
    roc_auc_high: float
    lr_roc_auc: float
    difference_low: float
    difference_high: float
    ece: float
    lr_ece: float
    backtest_roc_auc: float
    c_index: float | None
    published: str
    seconds: float


@dataclass(frozen=True)
class Holdout:
    """One training on part of a set and its scores on the part it never saw."""

    y: np.ndarray
    leads: np.ndarray
    p: np.ndarray
    lr: np.ndarray
    metrics: dict[str, float]


def holdout_scores(
    trained_on: LeadData, holdout: pl.DataFrame, data: LeadData, folder: Path, work: Path
) -> Holdout:
    """Train on `trained_on`; score `holdout` snapshot rows with the deployed model and with
    the logistic regression fitted on the same rows."""
    features = load_config(folder / "features.yaml", FeatureConfig)
    config = load_config(folder / "train.yaml", TrainConfig)
    params, source = tuned_params(config)
    procedure = Procedure(features=features, train=config, params=params, params_from=source)
    registry = Registry(registry_config())
    result = train(trained_on, procedure, POLICY, registry)
    model = registry.load_conversion(
        result.conversion.version, work / f"v{result.conversion.version}"
    )
    ts = build_training_set(trained_on, features, config.seed)
    X_fit = ts.matrix(model.spec, np.arange(ts.rows.height))
    linear = LinearBase.fit(X_fit, ts.converted, model.spec.categorical_indices, config.seed)
    block = table_features(
        data, model.spec, holdout[c.LEAD_ID].to_list(), holdout["as_of"].dt.epoch("ms").to_numpy()
    )
    X = to_matrix(model.spec, block)
    return Holdout(
        holdout["converted"].to_numpy().astype(np.float64),
        holdout[c.LEAD_ID].to_numpy(),
        model.predict(X),
        linear.probability(X),
        result.metrics,
    )


def labelled_snapshots(data: LeadData, folder: Path, seed: int) -> pl.DataFrame:
    """Every snapshot of the set whose label is known (no row budget: the hold-out is whole)."""
    features = load_config(folder / "features.yaml", FeatureConfig)
    everything = features.model_copy(update={"snapshot_row_budget": 10**12})
    return build_snapshots(data, everything, seed=seed).filter(pl.col("converted").is_not_null())


def time_holdout(data: LeadData, folder: Path, work: Path) -> tuple[str, list[Holdout]]:
    created = data.leads[c.CREATED_AT].sort()
    cut = created[int(len(created) * CUT_SHARE)]
    rows = labelled_snapshots(data, folder, 0).filter(pl.col("as_of") >= cut)
    return f"after {cut:%Y-%m-%d}", [holdout_scores(data.known_at(cut), rows, data, folder, work)]


def random_holdouts(
    data: LeadData, folder: Path, work: Path, seeds: int
) -> tuple[str, list[Holdout]]:
    rows = labelled_snapshots(data, folder, 0)
    out = []
    for seed in range(1, seeds + 1):
        held = unit_hash(data.leads[c.LEAD_ID].to_list(), seed) < HOLDOUT_SHARE
        ids = data.leads.filter(pl.Series(held))[c.LEAD_ID]
        kept = LeadData(
            data.leads.filter(~pl.col(c.LEAD_ID).is_in(ids.implode())),
            data.events.filter(~pl.col(c.LEAD_ID).is_in(ids.implode())),
            data.stages.filter(~pl.col(c.LEAD_ID).is_in(ids.implode())),
        )
        out.append(
            holdout_scores(
                kept, rows.filter(pl.col(c.LEAD_ID).is_in(ids.implode())), data, folder, work
            )
        )
    return f"15% of leads, {seeds} seeds", out


def bench_set(name: str, data_root: Path, work: Path, seeds: int) -> Row:
    """Import, train on part, score the rest; every file goes under `work`."""
    folder_name, keep, published = SETS[name]
    kind = name.split("+")[0]
    started = time.perf_counter()
    folder = work / name
    import_export(mapping_path(kind), data_root / folder_name, folder, keep, kind)
    data = load_data(folder)
    mode = load_config(folder / "train.yaml", TrainConfig).backtest.mode
    label, runs = (
        random_holdouts(data, folder, work, seeds)
        if mode == "random"
        else time_holdout(data, folder, work)
    )
    aucs, differences = [], []
    for run in runs:
        boot = LeadBootstrap(run.y, run.leads)
        aucs.append((boot.auc(run.p), boot.auc(run.lr)))
        differences.append(boot.auc_difference(run.p, run.lr))
    c_index = [r.metrics.get("velocity_c_index") for r in runs]
    return Row(
        name=name,
        holdout=label,
        rows=int(np.mean([len(r.y) for r in runs])),
        base_rate=float(np.mean([r.y.mean() for r in runs])),
        roc_auc=float(np.mean([a.estimate for a, _ in aucs])),
        roc_auc_low=float(np.mean([a.low for a, _ in aucs])),
        roc_auc_high=float(np.mean([a.high for a, _ in aucs])),
        lr_roc_auc=float(np.mean([b.estimate for _, b in aucs])),
        difference_low=float(np.mean([d.low for d in differences])),
        difference_high=float(np.mean([d.high for d in differences])),
        ece=float(np.mean([expected_calibration_error(r.y, r.p) for r in runs])),
        lr_ece=float(np.mean([expected_calibration_error(r.y, r.lr) for r in runs])),
        backtest_roc_auc=float(np.mean([r.metrics["backtest_roc_auc"] for r in runs])),
        c_index=float(np.mean(c_index)) if all(v is not None for v in c_index) else None,
        published=published,
        seconds=time.perf_counter() - started,
    )


def table(rows: Sequence[Row]) -> str:
    """The markdown table BENCHMARKS.md shows."""
    head = (
        "| set | hold-out | rows | base rate | ROC AUC model [95% CI] | LR "
        "| model − LR [95% CI] | ECE model / LR | backtest AUC (in the run) "
        "| velocity C-index | published (SOURCE.md) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        c_index = f"{r.c_index:.3f}" if r.c_index is not None else "not trainable (no dates)"
        gain = r.roc_auc - r.lr_roc_auc
        lines.append(
            f"| {r.name} | {r.holdout} | {r.rows:,} | {r.base_rate:.3f} "
            f"| {r.roc_auc:.3f} [{r.roc_auc_low:.3f}, {r.roc_auc_high:.3f}] | {r.lr_roc_auc:.3f} "
            f"| {gain:+.3f} [{r.difference_low:+.3f}, {r.difference_high:+.3f}] "
            f"| {r.ece:.3f} / {r.lr_ece:.3f} | {r.backtest_roc_auc:.3f} | {c_index} "
            f"| {r.published} |"
        )
    return head + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding the sets")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--seeds", type=int, default=10, help="X Education hold-out seeds")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    data_root = args.data.resolve()
    if not data_root.is_dir():
        print(f"skipped: no public data sets at {data_root} (use --data DIR)", file=sys.stderr)
        return 0
    out = args.json.resolve() if args.json else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        os.chdir(tmp)  # MLflow's artifacts land in the temporary store, not the checkout
        for name in args.sets:
            row = bench_set(name, data_root, Path(tmp), args.seeds)
            print(f"{name}: {row.seconds:.1f}s", file=sys.stderr)
            rows.append(row)
    print(table(rows))
    if out:
        out.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
