"""`--engine dask` against the local engine: the same features and the same rescore, exactly,
on a real distributed.LocalCluster of two worker processes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from harness import FEATURES, TRAINING, Store
from polars.testing import assert_frame_equal

from features.config import FeatureConfig
from features.partition import part_folders, split, write_parts
from features.tables import load_data
from leadscore.cli import main
from leadscore.engine.cluster import dask_client
from leadscore.engine.config import EngineConfig
from leadscore.engine.parts import partitions
from leadscore.engine.train_set import training_set_on_dask
from leadscore.settings import default_config, load_config, read_yaml
from training.dataset import build_training_set, fingerprint
from training.pair import CONVERSION


@pytest.fixture(scope="module")
def engine_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/engine.yaml with 3 partitions (so a partition holds several days of leads)."""
    raw = read_yaml(default_config("engine")) | {"partitions": 3, "memory_limit": "3GiB"}
    path = tmp_path_factory.mktemp("engine") / "engine.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _result(summary: dict) -> dict:
    """A rescore summary without how the run went (engine, seconds, memory)."""
    return {k: v for k, v in summary.items() if k != "run"}


def _cli(store: Store, *args: str) -> int:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store.uri)
        return main(list(args))


def test_partitions_keep_each_lead_with_all_its_rows(sim_dir: Path) -> None:
    data = load_data(sim_dir)
    parts = split(data, 4)
    assert sum(p.leads.height for p in parts) == data.leads.height
    assert sum(p.events.height for p in parts) == data.events.height
    for k, part in enumerate(parts):
        ids = part.leads["lead_id"].implode()
        assert part.events["lead_id"].is_in(ids).all() and part.stages["lead_id"].is_in(ids).all()
        others = pl.concat([p.leads for j, p in enumerate(parts) if j != k])
        assert not others["lead_id"].is_in(ids).any()


def test_a_partitioned_folder_reads_as_the_whole_or_for_some_leads(
    sim_dir: Path, tmp_path: Path
) -> None:
    """What the local engine reads of `simulate --partitions` output: every table, whole."""
    data = load_data(sim_dir)
    write_parts(data, tmp_path / "parts", 3)
    whole = load_data(tmp_path / "parts")
    for name in ("leads", "events", "stages"):
        got, expected = getattr(whole, name), getattr(data, name)
        assert_frame_equal(got.sort(got.columns), expected.sort(expected.columns))
    some = data.leads["lead_id"].sample(7, seed=0).to_list()  # what the reasons read on Dask
    few = load_data(tmp_path / "parts", some)
    for name in ("leads", "events", "stages"):
        got, expected = getattr(few, name), getattr(data, name)
        expected = expected.filter(pl.col("lead_id").is_in(some))
        assert_frame_equal(got.sort(got.columns), expected.sort(expected.columns))
    assert few.leads.height == 7 and few.events.height > 0


def test_rescore_on_dask_is_the_local_rescore(
    store: Store, sim_dir: Path, tmp_path: Path, engine_config: Path
) -> None:
    """The data's end as as_of, the 300-a-day capacity over the whole pool, reasons for the
    leads sent to sales: every column of every row, and the summary, as one process makes them."""
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert _cli(store, "rescore", "--data", str(sim_dir), "--out", str(local)) == 0
    engine = ["--engine", "dask", "--engine-config", str(engine_config)]
    assert _cli(store, "rescore", "--data", str(sim_dir), "--out", str(dask), *engine) == 0
    expected = pl.read_parquet(local / "scores.parquet").sort("lead_id")
    got = pl.read_parquet(dask / "scores.parquet").sort("lead_id")
    assert_frame_equal(got, expected)
    assert (got["route"] == "active_sales").sum() > 0 and got["reasons"].drop_nulls().len() > 0
    summary = json.loads((dask / "summary.json").read_text())
    run = summary.pop("run")
    assert summary == _result(json.loads((local / "summary.json").read_text()))
    assert run["engine"] == "dask" and run["partitions"] == 3 and run["workers"] == 2
    assert len(run["peak_rss_mib_per_worker"]) == 2
    assert all(mib > 50 for mib in run["peak_rss_mib_per_worker"].values())


def test_features_on_dask_from_a_partitioned_folder_are_the_local_features(
    store: Store, sim_dir: Path, tmp_path: Path, engine_config: Path
) -> None:
    parts = write_parts(load_data(sim_dir), tmp_path / "parts", 3)
    assert part_folders(tmp_path / "parts") == parts
    as_of = ["--as-of", "2024-11-15"]
    local = tmp_path / "local.parquet"
    assert _cli(store, "features", "--data", str(sim_dir), "--out", str(local), *as_of) == 0
    out = tmp_path / "dask"
    engine = ["--engine", "dask", "--engine-config", str(engine_config)]
    data = str(tmp_path / "parts")
    assert _cli(store, "features", "--data", data, "--out", str(out), *as_of, *engine) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"part-{k:05d}.parquet" for k in range(3)]
    got = pl.read_parquet(out / "*.parquet").sort("lead_id")
    assert_frame_equal(got, pl.read_parquet(local).sort("lead_id"))


def test_a_remote_scheduler_is_refused_data_its_workers_cannot_see(
    store: Store, sim_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(sim_dir), "--out", str(tmp_path / "o"), "--scheduler", "tcp://x:1"]
    assert _cli(store, "rescore", *args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "part-*/" in err[0] and "--data" in err[0]


def test_an_unreachable_scheduler_is_one_line(
    store: Store, sim_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_parts(load_data(sim_dir), tmp_path / "parts", 2)
    data, out = str(tmp_path / "parts"), str(tmp_path / "o")
    code = _cli(store, "rescore", "--data", data, "--out", out, "--scheduler", "tcp://127.0.0.1:9")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "cannot reach a Dask scheduler" in err[0]


def test_the_training_set_on_dask_is_the_local_one(sim_dir: Path, engine_config: Path) -> None:
    """Past a row budget that samples (20,000 of ~350,000 snapshots): the same rows, the
    same features, the same fingerprint and the same reference event mix."""
    features = FeatureConfig(snapshot_row_budget=20_000)
    local = build_training_set(load_data(sim_dir), features, seed=3)
    engine = load_config(engine_config, EngineConfig)
    with partitions(str(sim_dir), engine) as folders, dask_client(engine) as client:
        dask = training_set_on_dask(client, folders, features, seed=3)
        since = local.rows["as_of"].max() - timedelta(days=90)
        assert dask.event_mix(since) == pytest.approx(local.event_mix(since))
    assert 0.04 < local.sample_rate < 0.1 and dask.sample_rate == local.sample_rate
    assert_frame_equal(dask.rows, local.rows)
    assert dask.block.lead_ids == local.block.lead_ids
    assert np.array_equal(dask.block.as_of_ms, local.block.as_of_ms)
    assert np.array_equal(dask.block.behaviour, local.block.behaviour, equal_nan=True)
    assert dask.block.static == local.block.static
    assert fingerprint(dask) == fingerprint(local) and dask.facts == local.facts
    assert_frame_equal(dask.leads.sort("lead_id"), local.leads.sort("lead_id"))


def test_train_on_dask_trains_the_model_one_process_trains(
    store: Store, sim_dir: Path, tmp_path: Path, engine_config: Path
) -> None:
    """`leadscore train --engine dask` with the configs the session's v1 was trained with in
    one process (tests/integration/conftest.py): the same backtest AUC."""
    mine = store.copy(tmp_path / "registry")
    configs = {"--config": TRAINING, "--features-config": FEATURES}
    train = ["train", "--data", str(sim_dir), "--engine-config", str(engine_config)]
    for option, config in configs.items():
        path = tmp_path / f"{option.strip('-')}.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        train += [option, str(path)]
    assert _cli(mine, *train, "--engine", "dask", "--seed", "0") == 0
    registry = mine.registry()
    local, dask = (registry.run_metrics(registry.run_of(CONVERSION, version)) for version in (1, 3))
    assert abs(dask["backtest_roc_auc"] - local["backtest_roc_auc"]) <= 0.002
    assert local["backtest_roc_auc"] > 0.6
