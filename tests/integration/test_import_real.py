"""The whole pipeline on three public data sets: import, validate, train, promote, score.

The sets live outside the repository (../shared/data, each with a SOURCE.md); they are read in
place, never copied. Each test gets its own MLflow store, selected the way users select one.
The AUC floors are the honest ones measured here (BENCHMARKS.md, "Real data"), with a margin;
bank marketing is also judged as the benchmark judges it: trained on the calls of its oldest
80%, scored on the newest 20%, next to the logistic regression fitted on the same rows.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from features.config import FeatureConfig
from features.tables import LeadData, load_data
from features.vectors import table_features, to_matrix
from leadscore.cli import main
from leadscore.settings import (
    default_config,
    load_config,
    load_policy,
    registry_config,
    tuned_params,
)
from training.config import Procedure, TrainConfig
from training.dataset import build_training_set
from training.folds import backtest_folds
from training.linear import LinearBase
from training.registry import Registry
from training.train import TrainResult, train

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SETS = {
    "x-education": "x_education_leads",
    "bank-marketing": "uci_bank_marketing",
    "crm-opportunities": "crm_sales_opportunities",
}
# CI lays shared/ beside the clone: a missing data set is a failure, never a silent skip.
POLICY = load_policy(default_config("routing"), default_config("economics"))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLflow store for one data set (one set's models never meet another's)."""
    folder = tmp_path / "mlflow"
    folder.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.chdir(folder)
    return folder


def import_set(kind: str, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """`leadscore import` then `leadscore validate`; returns what the import printed."""
    assert main(["import", kind, str(DATA / SETS[kind]), "--out", str(out), *extra]) == 0
    printed = capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    return printed.out + printed.err


def train_set(
    out: Path, data: LeadData | None = None
) -> tuple[TrainResult, FeatureConfig, TrainConfig]:
    """`train` on the folder (or `data`) with the configs the import wrote (one thread: the
    machine is shared)."""
    features = load_config(out / "features.yaml", FeatureConfig)
    config = load_config(out / "train.yaml", TrainConfig).model_copy(update={"threads": 1})
    params, source = tuned_params(config)
    procedure = Procedure(features=features, train=config, params=params, params_from=source)
    registry = Registry(registry_config())  # the store the environment names, as users do
    return train(data or load_data(out), procedure, POLICY, registry), features, config


def promote_and_score(out: Path, tmp_path: Path, as_of: str) -> None:
    """promote, then the served model (pyfunc champion) on `leadscore features`, then funnel."""
    assert main(["promote", "--data", str(out), "--config", str(out / "train.yaml")]) == 0
    frame_path = tmp_path / "features.parquet"
    assert (
        main(
            ["features", "--data", str(out), "--as-of", as_of, "--out", str(frame_path)]
            + ["--config", str(out / "features.yaml")]
        )
        == 0
    )
    frame = pl.read_parquet(frame_path)
    model = mlflow.pyfunc.load_model("models:/lead-conversion@champion")
    if frame.height:
        p = np.asarray(model.predict(frame.drop("lead_id", "as_of").to_pandas()))
        assert p.shape == (frame.height,) and ((p > 0) & (p < 1)).all()
    funnel = ["funnel", "--data", str(out)]
    assert main([*funnel, "--json", str(tmp_path / "funnel.json")]) == 0
    assert (tmp_path / "funnel.json").exists()


def test_x_education_without_leaky_columns(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x-education"
    printed = import_set("x-education", out, capsys)
    assert "  - Tags: " in printed and "  - Lead Quality: " in printed
    data = load_data(out)
    assert data.leads.height == 9_240
    assert not {"tags", "lead_quality", "last_activity"} & set(data.leads.columns)
    assert (data.stages["stage"] == "SQL").sum() == 3_561
    assert data.leads["created_at"].n_unique() == 1  # no time order is invented

    result, features, config = train_set(out)
    metrics = result.metrics
    assert metrics["backtest_roc_auc"] >= 0.85  # honest range 0.85-0.90 (BENCHMARKS.md)
    assert metrics["model_minus_baseline_auc_high"] > 0  # not behind its logistic regression
    assert metrics["backtest_ece"] < 0.05
    assert result.velocity is None
    assert any("deal-velocity not trained" in note for note in result.notes)
    ts = build_training_set(data, features, config.seed)
    assert ts.rows["lead_id"].is_unique().all() and ts.rows.height == data.leads.height
    folds = backtest_folds(ts.rows, config.backtest, features.horizon_days)
    assert sorted(i for fold in folds for i in fold.test) == list(range(ts.rows.height))
    promote_and_score(out, tmp_path, "2020-01-01T12:00:00Z")
    capsys.readouterr()
    # Without contract dates there is no velocity model: rescoring says why, in one line.
    assert main(["rescore", "--data", str(out), "--out", str(tmp_path / "rescored")]) == 1
    err = capsys.readouterr().err
    assert "no deal-velocity@champion: training could not fit a velocity model" in err
    assert "Traceback" not in err


def test_x_education_keeps_a_leaky_column_only_by_flag_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "leaky"
    printed = import_set("x-education", out, capsys, "--keep-leaky", "Tags")
    assert "warning: keeping leaky column 'Tags'" in printed
    assert "tags" in load_data(out).leads.columns


def test_bank_marketing_without_duration_split_by_time(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bank"
    printed = import_set("bank-marketing", out, capsys)
    assert "  - duration: " in printed
    data = load_data(out)
    assert "call_duration_seconds" not in data.leads.columns
    created = data.leads.sort("lead_id")["created_at"]  # ids follow the file's row order
    assert created.is_sorted() and created[0].isoformat().startswith("2008-05")
    assert created[-1].isoformat().startswith("2010-11")

    assert {"euribor3m", "euribor3m_change_30d"} <= set(data.leads.columns)
    # The deployed model as of the moment 80% of the calls had been placed, on the rest.
    cut = created[int(len(created) * 0.8)]
    result, features, config = train_set(out, data.known_at(cut))
    assert result.velocity is None
    assert np.isfinite(result.metrics["backtest_ece"])
    later = build_training_set(data, features, config.seed).rows.filter(pl.col("as_of") >= cut)
    assert later.height == len(created) - int(len(created) * 0.8)
    assert abs(later["converted"].mean() - 0.308) < 0.002  # SOURCE.md: 30.8% in the last 20%
    model = Registry(registry_config()).load_conversion(
        result.conversion.version, tmp_path / "model"
    )
    fitted = build_training_set(data.known_at(cut), features, config.seed)
    baseline = LinearBase.fit(
        fitted.matrix(model.spec, np.arange(fitted.rows.height)),
        fitted.converted,
        model.spec.categorical_indices,
    )
    X = to_matrix(
        model.spec,
        table_features(
            data, model.spec, later["lead_id"].to_list(), later["as_of"].dt.epoch("ms").to_numpy()
        ),
    )
    y = later["converted"].to_numpy()
    auc, lr_auc = roc_auc_score(y, model.predict(X)), roc_auc_score(y, baseline.probability(X))
    assert auc >= 0.72 and auc >= lr_auc - 0.01  # measured 0.733 and 0.733 (BENCHMARKS.md)
    promote_and_score(out, tmp_path, "2010-11-26T12:00:00Z")
    capsys.readouterr()


def test_crm_opportunities_with_velocity_and_open_deals(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "crm"
    printed = import_set("crm-opportunities", out, capsys)
    assert "  - account: " in printed and "  - sector: looked up by account" in printed
    data = load_data(out)
    stages = data.stages
    assert (stages["stage"] == "WON").sum() == 4_238 and (stages["stage"] == "LOST").sum() == 2_473
    latest = stages.sort("ts").group_by("lead_id").agg(pl.col("stage").last())
    assert (latest["stage"] == "MQL").sum() == 1_589 + 500  # Engaging + Prospecting: open

    result, _, _ = train_set(out)
    metrics = result.metrics
    assert result.velocity is not None
    assert metrics["velocity_c_index"] > 0.5  # open deals censored
    assert metrics["backtest_roc_auc"] > 0.6 and np.isfinite(metrics["backtest_ece"])
    promote_and_score(out, tmp_path, "2017-12-31")
    scores = tmp_path / "scores"
    rescore = ["rescore", "--data", str(out), "--out", str(scores), "--pool", "open"]
    assert main([*rescore, "--as-of", "2018-01-01"]) == 0
    scored = pl.read_parquet(scores / "scores.parquet")
    assert scored.height == 1_589 + 500  # every open deal, Prospecting ones included
    capsys.readouterr()
