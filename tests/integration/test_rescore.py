"""`leadscore rescore` end to end: real models from the registry, real files, real kills."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from harness import LEADSCORE, Server, Store, lead_payload, using

from features.tables import LeadData
from leadscore.cli import main


def _run(store: Store, data_dir: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"MLFLOW_TRACKING_URI": store.uri}
    return subprocess.Popen(
        [str(LEADSCORE), "rescore", "--data", str(data_dir), "--out", str(out), *extra],
        env=env,
        cwd=store.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _killed_while_writing(store: Store, data_dir: Path, out: Path, name: str, first: bytes) -> None:
    """Run rescore with a pipe where it writes `name`, and kill it once the first bytes come:
    the run is caught in the middle of publishing."""
    pipe = out.parent / f".{out.name}.partial" / name
    pipe.parent.mkdir(exist_ok=True)
    os.mkfifo(pipe)
    doomed = _run(store, data_dir, out)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    deadline = time.monotonic() + 300
    seen = b""
    while not seen and time.monotonic() < deadline and doomed.poll() is None:
        with contextlib.suppress(BlockingIOError):  # nothing written yet
            seen = os.read(reader, len(first))
        time.sleep(0.05)
    assert seen == first, f"the run never started writing {name}"
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    os.close(reader)
    pipe.unlink()


def _pair(out: Path) -> tuple[bytes, bytes]:
    return (out / "scores.parquet").read_bytes(), (out / "summary.json").read_bytes()


def test_a_run_killed_while_publishing_leaves_the_previous_pair_whole(
    store: Store, sim_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rescored"
    _killed_while_writing(store, sim_dir, out, "scores.parquet", b"PAR1")
    assert not out.exists()  # nothing published yet: no output at all

    first = _run(store, sim_dir, out)
    assert first.wait(timeout=600) == 0, first.stderr.read().decode()
    published = _pair(out)
    for name, start in (("scores.parquet", b"PAR1"), ("summary.json", b"{")):
        _killed_while_writing(store, sim_dir, out, name, start)
        assert _pair(out) == published, f"killed while writing {name}"

    again = _run(store, sim_dir, out)
    assert again.wait(timeout=600) == 0, again.stderr.read().decode()
    frame = pl.read_parquet(out / "scores.parquet")
    assert frame.height > 1000 and frame["lead_id"].n_unique() == frame.height
    assert frame.equals(pl.read_parquet(io.BytesIO(published[0])))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["leads"] == frame.height
    # Only the published version is left beside the link.
    assert {p.name for p in tmp_path.iterdir()} == {"rescored", out.resolve().name}


def test_scores_equal_the_endpoint(
    store: Store, server: Server, data: LeadData, sim_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    with using(store):
        assert main(["rescore", "--data", str(sim_dir), "--out", str(out), "--pool", "open"]) == 0
    frame = pl.read_parquet(out / "scores.parquet")
    sample = frame.sample(25, seed=3)
    with server.client() as client:
        for row in sample.iter_rows(named=True):
            answer = client.post(
                "/score", json=lead_payload(data, row["lead_id"], row["as_of"])
            ).json()
            assert answer["probability"] == pytest.approx(row["probability"], abs=1e-12)
            assert answer["score"] == row["score"] and answer["tier"] == row["tier"]
            assert answer["expected_value_pln"] == row["expected_value_pln"]
            velocity = answer["velocity"]
            assert velocity["expected_days_to_contract"] == row["expected_days_to_contract"]
            assert velocity["p_contract_30d"] == row["p_contract_30d"]
            assert answer["model"]["conversion"]["version"] == row["conversion_version"]
    active = frame.filter(pl.col("route") == "active_sales")
    assert active.height > 0 and active["reasons"].null_count() == 0
    assert (
        frame.filter(pl.col("route") == "nurturing")["reasons"].null_count()
        == frame.filter(pl.col("route") == "nurturing").height
    )


def test_previous_marks_exactly_the_leads_that_moved_to_sales(
    store: Store, sim_dir: Path, tmp_path: Path
) -> None:
    now = tmp_path / "now"
    with using(store):
        assert main(["rescore", "--data", str(sim_dir), "--out", str(now), "--pool", "all"]) == 0
    current = pl.read_parquet(now / "scores.parquet")
    # Yesterday's file: flip some routes so that we know which leads moved, and which did not.
    flipped = current.with_columns(
        route=pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.lit("nurturing"))
        .otherwise(pl.lit("active_sales"))
    )
    before = tmp_path / "before.parquet"
    flipped.write_parquet(before)
    again = tmp_path / "again"
    with using(store):
        assert (
            main(
                [
                    "rescore",
                    "--data",
                    str(sim_dir),
                    "--out",
                    str(again),
                    "--pool",
                    "all",
                    "--previous",
                    str(before),
                ]
            )
            == 0
        )
    result = pl.read_parquet(again / "scores.parquet").join(
        flipped.select("lead_id", "route"), on="lead_id", suffix="_before"
    )
    expected = (result["route_before"] == "nurturing") & (result["route"] == "active_sales")
    assert result["recycled"].to_list() == expected.to_list()
    assert result["recycled"].sum() > 0
    assert (result["previous_route"] == result["route_before"]).all()


def test_bad_data_is_refused_with_the_validate_message(
    store: Store, sim_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sim_dir, broken)
    leads = pl.read_parquet(broken / "leads.parquet")
    leads = leads.with_columns(pl.col("lead_id").cast(pl.String))
    pl.concat([leads, leads.head(4)]).write_parquet(broken / "leads.parquet")
    out = tmp_path / "scores"
    with using(store):
        assert main(["rescore", "--data", str(broken), "--out", str(out)]) == 1
        assert (
            main(
                [
                    "rescore",
                    "--data",
                    str(sim_dir),
                    "--out",
                    str(out),
                    "--previous",
                    str(tmp_path / "missing.parquet"),
                ]
            )
            == 1
        )
    err = capsys.readouterr().err
    assert "leads.lead_id: 4 duplicates" in err
    assert "--previous" in err and "Traceback" not in err
    assert not out.exists()
