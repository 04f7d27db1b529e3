"""Training, tracking and promotion end to end: real LightGBM, a real MLflow store on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest

from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.tables import load_data
from leadscore.cli import main
from leadscore.settings import default_config, load_policy, tuned_params, write_config
from leadscore.simulator.oracle import oracle_for
from training.config import BoosterParams, Procedure, RegistryConfig, TrainConfig
from training.pair import CONVERSION, VELOCITY
from training.promote import promote, rollback
from training.pyfunc import frame_to_matrix
from training.registry import CHAMPION, Registry
from training.train import TrainResult, train

FEATURES = FeatureConfig(snapshot_row_budget=100_000)
CONFIG = TrainConfig(tuned_params=None)
POLICY = load_policy(default_config("routing"), default_config("economics"))
# Stumps without the linear base: far behind its own logistic baseline and the champion.
WEAK = CONFIG.model_copy(
    update={
        "conversion": BoosterParams(num_leaves=2, max_rounds=2, learning_rate=0.01),
        "linear_base": False,
    }
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh MLflow store for this module, selected the way users select one."""
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
        patch.chdir(folder)
        yield folder


@pytest.fixture(scope="module")
def registry(store: Path) -> Registry:
    return Registry(RegistryConfig(tracking_uri=f"sqlite:///{store}/mlflow.db"))


def procedure(config: TrainConfig) -> Procedure:
    return Procedure(features=FEATURES, train=config, params=config.conversion)


@pytest.fixture(scope="module")
def trained(registry: Registry, sim_dir: Path) -> list[TrainResult]:
    """Two trainings with identical inputs (v1, v2), then a deliberately weak one (v3); the
    simulator's oracle beside them, as `leadscore train` hands it over for simulated data."""
    data = load_data(sim_dir)
    oracle = oracle_for(sim_dir, FEATURES.horizon_days)
    assert oracle is not None
    return [train(data, procedure(cfg), POLICY, registry, oracle) for cfg in (CONFIG, CONFIG, WEAK)]


def test_the_deployed_model_trains_on_snapshots_up_to_the_data_end(
    trained: list[TrainResult], sim_dir: Path
) -> None:
    """Backtests judge; the registered model then sees every labelled snapshot, the newest
    ones included (those whose 30-day outcome is known by the data's end)."""
    data = load_data(sim_dir)
    run = mlflow.get_run(trained[0].run_id)
    facts = mlflow.artifacts.load_dict(f"runs:/{trained[0].run_id}/data_fingerprint.json")
    newest = datetime.fromisoformat(facts["last_labelled_as_of"])
    latest_possible = data.end - timedelta(days=FEATURES.horizon_days)
    assert latest_possible - timedelta(days=FEATURES.snapshot_every_days) < newest
    assert newest <= latest_possible
    backtested = sum(
        int(run.data.metrics[f"fold{k}_rows"]) for k in range(1, CONFIG.backtest.folds + 1)
    )
    assert facts["snapshot_rows"] > backtested  # the deployed model fits on more than any fold
    assert run.data.params["backtest.folds"] == str(CONFIG.backtest.folds)


def test_metrics_are_logged_and_sensible(trained: list[TrainResult]) -> None:
    metrics = trained[0].metrics
    run = mlflow.get_run(trained[0].run_id)
    for name in (
        "backtest_roc_auc",
        "backtest_roc_auc_low",
        "backtest_roc_auc_high",
        "backtest_pr_auc",
        "backtest_log_loss",
        "backtest_brier",
        "backtest_ece",
        "backtest_lift_top_decile",
        "backtest_recall_at_capacity",
        "backtest_oracle_roc_auc",
        "fold1_roc_auc",
        "fold3_roc_auc",
        "velocity_c_index",
        "velocity_mae_days_closed",
        "velocity_km_gap_max",
    ):
        assert run.data.metrics[name] == pytest.approx(metrics[name])
    assert metrics["backtest_roc_auc"] > 0.7
    assert metrics["backtest_roc_auc_low"] < metrics["backtest_roc_auc"]
    assert metrics["backtest_roc_auc"] < metrics["backtest_roc_auc_high"]
    assert metrics["velocity_c_index"] > 0.6
    assert metrics["backtest_oracle_roc_auc"] > metrics["backtest_roc_auc"] * 0.9
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(trained[0].run_id)}
    assert {
        "model_report.html",
        "data_fingerprint.json",
        "feature_spec.json",
        "train_config.json",
        "features_config.json",
        "booster_params.json",
        "backtest_predictions.parquet",
        "plots",
    } <= artifacts
    plots = {
        Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(trained[0].run_id, "plots")
    }
    assert {
        "roc.png",
        "calibration.png",
        "shap_summary.png",
        "velocity_vs_kaplan_meier.png",
        "cumulative_gains.png",
        "precision_recall.png",
        "feature_importance.png",
    } <= plots


def test_the_logistic_baseline_is_logged_beside_the_model_in_every_run(
    trained: list[TrainResult],
) -> None:
    """The same folds, the same rows: the model's AUC, the baseline's, and their paired
    difference with its interval, for every run — the weak one included."""
    for result in trained:
        logged = mlflow.get_run(result.run_id).data.metrics
        for name in ("baseline_roc_auc", "baseline_ece", "model_minus_baseline_auc"):
            assert logged[name] == pytest.approx(result.metrics[name])
        gain = logged["backtest_roc_auc"] - logged["baseline_roc_auc"]
        assert logged["model_minus_baseline_auc"] == pytest.approx(gain)
        low, high = logged["model_minus_baseline_auc_low"], logged["model_minus_baseline_auc_high"]
        assert low <= gain <= high
    strong, weak = trained[0].metrics, trained[2].metrics
    assert strong["baseline_roc_auc"] > 0.7
    assert weak["model_minus_baseline_auc_high"] < 0  # stumps lose to the linear model
    assert strong["model_minus_baseline_auc_low"] > weak["model_minus_baseline_auc_high"]


def test_cross_fitted_calibration_does_not_worsen_log_loss(trained: list[TrainResult]) -> None:
    metrics = trained[0].metrics
    assert metrics["backtest_log_loss"] <= metrics["backtest_log_loss_uncalibrated"]
    assert metrics["backtest_ece"] < 0.01


def test_same_data_config_and_seed_give_the_same_metrics(trained: list[TrainResult]) -> None:
    first, second = trained[0].metrics, trained[1].metrics
    assert first == second


def test_first_version_is_champion_and_later_ones_challengers(
    trained: list[TrainResult],
) -> None:
    assert [r.conversion.version for r in trained] == [1, 2, 3]
    assert "champion" in trained[0].conversion.aliases
    assert trained[2].conversion.aliases == ("challenger",)
    assert trained[2].velocity is not None and trained[2].velocity.version == 3


def test_pyfunc_in_a_new_process_returns_the_in_process_probabilities(
    trained: list[TrainResult], sim_dir: Path, store: Path, registry: Registry
) -> None:
    frame_path = store / "features.parquet"
    assert (
        main(
            ["features", "--data", str(sim_dir), "--as-of", "2024-10-01", "--out", str(frame_path)]
        )
        == 0
    )
    frame = pl.read_parquet(frame_path)
    model = registry.load_conversion(1, store / "dl")
    expected = model.predict(frame_to_matrix(model.spec, frame.to_pandas()))
    script = (
        "import sys, json, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model('models:/lead-conversion@champion')\n"
        "frame = pd.read_parquet(sys.argv[1])\n"
        "print(json.dumps([float(p) for p in model.predict(frame)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(frame_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=store,
    )
    got = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    assert len(got) == frame.height > 100
    assert ((got > 0) & (got < 1)).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_promotion_gate_refuses_a_weak_challenger_then_rollback_restores(
    trained: list[TrainResult], sim_dir: Path, registry: Registry
) -> None:
    data = load_data(sim_dir)
    decision = promote(data, CONFIG, registry)  # challenger = v3, the weak one
    assert (decision.champion, decision.challenger) == (1, 3)
    assert not decision.promoted and "logistic regression" in decision.reason
    assert registry.version_of(CONVERSION, CHAMPION) == 1
    champion_auc, challenger_auc = (m["roc_auc"] for m in decision.table.values())
    assert challenger_auc < champion_auc - 0.01  # backtested on the same rows

    forced = promote(data, CONFIG, registry, force=True)
    assert forced.promoted
    assert registry.version_of(CONVERSION, CHAMPION) == 3
    assert registry.version_of(VELOCITY, CHAMPION) == 3

    assert rollback(registry) == (3, 1)
    assert registry.version_of(CONVERSION, CHAMPION) == 1
    assert registry.version_of(VELOCITY, CHAMPION) == 1
    recorded = mlflow.search_runs(filter_string="attributes.run_name = 'promote'")
    assert len(recorded) == 2


def test_too_little_data_is_refused_with_the_counts(
    tmp_path: Path, capsys, registry: Registry
) -> None:
    small = tmp_path / "small"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(small),
                "--months",
                "3",
                "--leads-per-month",
                "40",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    with pytest.raises(LeadscoreError, match=r"too few converted leads .*: \d+ leads .*need 100"):
        train(load_data(small), procedure(CONFIG), POLICY, registry)
    capsys.readouterr()
    assert main(["train", "--data", str(small)]) == 1
    err = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
    assert err[-1].startswith("error: too few converted leads") and "need 100" in err[-1]
    assert sum(line.startswith("error:") for line in err) == 1 and "Traceback" not in err


def test_three_trial_tune_writes_parameters_the_next_train_uses(store: Path, sim_dir: Path) -> None:
    target = store / "tuned.yaml"
    config = CONFIG.model_copy(update={"tuned_params": str(target)})
    write_config(store / "train.yaml", config)
    write_config(store / "features.yaml", FEATURES)
    args = ["tune", "--data", str(sim_dir), "--trials", "3", "--config", str(store / "train.yaml")]
    assert main([*args, "--features-config", str(store / "features.yaml")]) == 0
    assert target.exists()
    assert (store / "optuna.db").exists()  # the study lives beside the parameters
    (tuned,) = mlflow.search_runs(
        filter_string="attributes.run_name = 'tune'", output_format="list"
    )
    children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{tuned.info.run_id}'")
    assert len(children) == 3
    params, source = tuned_params(config)
    assert source == str(target) and params != config.conversion
    best = {
        k.removeprefix("best."): v for k, v in tuned.data.params.items() if k.startswith("best.")
    }
    assert best and all(best[k] == str(getattr(params, k)) for k in best)  # the study's best
    assert 2 <= params.max_depth <= 5 and params.num_leaves == 2**params.max_depth
