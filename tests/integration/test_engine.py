"""`--engine dask` against the local engine: the same features and the same rescore, exactly,
on a real distributed.LocalCluster of two worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from harness import Store
from polars.testing import assert_frame_equal

from features.partition import part_folders, split, write_parts
from features.tables import load_data
from leadscore.cli import main
from leadscore.settings import default_config, read_yaml


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
