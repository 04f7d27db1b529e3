"""Commands on a store URL give what they give on the folder the store exports: the same
tables, the same training run, the same rescore and funnel; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import new_database
from harness import FEATURES, POLICY, TRAINING, Store, procedure, using
from polars.testing import assert_frame_equal
from scipy.stats import binom
from sqlalchemy import func, select

from features.store import schema
from features.store.lead_store import LeadStore
from features.tables import load_data
from leadscore.cli import main
from training.dataset import build_training_set, fingerprint
from training.train import train


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, sim_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The simulated folder loaded into a fresh store with `leadscore store`, and the folder
    the store exports."""
    folder = tmp_path_factory.mktemp(f"loaded_{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder}/store.db"
    else:
        url = new_database(request.getfixturevalue("postgres"), folder.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEADSCORE_STORE_URL", url)
        assert main(["store", "init"]) == 0
        assert main(["store", "load", str(sim_dir)]) == 0
        assert main(["store", "load", str(sim_dir)]) == 0  # idempotent: nothing new
        assert main(["store", "export", "--out", str(folder / "exported")]) == 0
    return url, folder / "exported"


def test_the_store_holds_the_folder_s_tables_once(loaded: tuple[str, Path], sim_dir: Path) -> None:
    url, exported = loaded
    original, stored, written = load_data(sim_dir), load_data(url), load_data(exported)
    for name in ("leads", "events", "stages"):
        key = ["lead_id", "ts", "event_type"] if name == "events" else ["lead_id"]
        if name == "stages":
            key = ["lead_id", "ts", "stage"]
        sort = [k for k in key if k in getattr(original, name).columns]
        expected = getattr(original, name).sort(sort)
        assert_frame_equal(getattr(stored, name).sort(sort), expected, check_column_order=False)
        assert_frame_equal(getattr(written, name).sort(sort), expected, check_column_order=False)


def test_training_on_a_store_url_gives_the_folder_s_run(
    loaded: tuple[str, Path], tmp_path: Path
) -> None:
    url, exported = loaded
    from_store = build_training_set(load_data(url), FEATURES, TRAINING.seed)
    from_folder = build_training_set(load_data(exported), FEATURES, TRAINING.seed)
    assert fingerprint(from_store) == fingerprint(from_folder)
    if not url.startswith("sqlite"):
        return  # the same training set trains the same run: once (on SQLite) is enough
    runs = Store(tmp_path)
    registry = runs.registry()
    first = train(load_data(url), procedure(), POLICY, registry)
    second = train(load_data(exported), procedure(), POLICY, registry)
    assert first.metrics == second.metrics


def test_rescore_and_funnel_on_a_store_url_give_the_folder_s_figures(
    loaded: tuple[str, Path], store: Store, tmp_path: Path
) -> None:
    url, exported = loaded
    with using(store):
        for name, source in (("store", url), ("folder", str(exported))):
            out = tmp_path / name
            assert main(["rescore", "--data", source, "--out", str(out), "--pool", "all"]) == 0
            assert main(["funnel", "--data", source, "--json", str(tmp_path / f"{name}.json")]) == 0
    scores = {
        name: pl.read_parquet(tmp_path / name / "scores.parquet") for name in ("store", "folder")
    }
    assert_frame_equal(scores["store"], scores["folder"])
    summaries = [
        json.loads((tmp_path / name / "summary.json").read_text()) for name in ("store", "folder")
    ]
    for summary in summaries:
        assert summary.pop("run")["engine"] == "local"  # how the run went: times, memory
    assert summaries[0] == summaries[1]
    funnels = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("store", "folder")]
    assert _without_paths(funnels[0]) == _without_paths(funnels[1])
    trail = LeadStore(url)
    assert trail.count("decisions") == scores["store"].height >= 10_000  # one per lead
    with trail.engine.connect() as connection:
        held = connection.execute(
            select(func.count()).where(schema.decisions.c.holdout)
        ).scalar_one()
    share = POLICY.routing.holdout.share
    low, high = binom.interval(0.999, scores["store"].height, share)
    assert share > 0 and low <= held <= high  # the routing holdout, as recorded


def _without_paths(report: dict) -> dict:
    """A funnel report less where it was read from and when it ran."""
    return {k: v for k, v in report.items() if k not in {"data", "generated_at", "run_id"}}


def test_a_store_that_is_not_there_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/none.db"
    assert main(["train", "--data", url]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "leadscore store init" in errors[0]
