"""`leadscore monitor` end to end: a real champion in a real MLflow store, the command's exit
codes, its outputs, a folder and a store URL, and drift it must name on known truth."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from harness import POLICY, Store, procedure

from features.tables import load_data
from leadscore.cli import main
from leadscore.settings import default_config, load_config, read_yaml
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.simulate import DriftChoice, run_simulation
from training.train import train

TRAINED_UNTIL = datetime(2024, 10, 1, tzinfo=UTC)  # sim_dir runs from 2024-01 to 2024-12


@pytest.fixture(scope="module")
def champion(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A champion trained on the simulated folder as it stood on TRAINED_UNTIL."""
    store = Store(tmp_path_factory.mktemp("monitor-registry"))
    train(load_data(sim_dir).known_at(TRAINED_UNTIL), procedure(), POLICY, store.registry())
    return store


def _config(tmp_path: Path, **changes: dict[str, float]) -> Path:
    """configs/monitor.yaml with some thresholds changed."""
    raw = read_yaml(default_config("monitor"))
    for section, values in changes.items():
        raw[section] |= values
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


LENIENT = {
    "drift": {"max_feature_psi": 1e9, "max_score_psi": 1e9},
    "calibration": {"max_ratio": 1e9, "max_auc_drop": 0.99},
    "data_health": {"max_source_psi": 1e9, "max_unseen_share": 1.0, "max_missing_increase": 1.0},
    "model_vs_rule": {"min_routed": 10**9},
}


def _monitor(store: Store, data: str | Path, config: Path, *extra: str) -> int:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store.uri)
        code = main(["monitor", "--data", str(data), "--config", str(config), *extra])
    return code


def test_healthy_exits_0_and_writes_json_html_and_a_run(
    champion: Store, sim_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = _monitor(
        champion,
        sim_dir,
        _config(tmp_path, **LENIENT),
        "--json",
        str(out / "monitor.json"),
        "--html",
        str(out / "monitor.html"),
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "healthy" in printed and "BREACH" not in printed
    figures = json.loads((out / "monitor.json").read_text())
    assert figures["healthy"] is True and figures["breaches"] == []
    periods = figures["periods"]
    assert len(periods) == 12  # the default look-back: 12 weeks, all after the training data
    assert all(p["start"] >= TRAINED_UNTIL.isoformat()[:10] for p in periods)
    assert any(p["matured"] and p["labelled"] > 0 for p in periods)
    page = (out / "monitor.html").read_text()
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    run_id = re.search(r"logged: run (\w+)", printed).group(1)
    assert champion.registry().run_metrics(run_id)["breaches"] == 0


def test_each_breach_is_one_line_exit_2_and_counted_in_the_run(
    champion: Store, sim_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = _config(tmp_path, drift={"max_feature_psi": 1e-6, "max_score_psi": 1e-6})
    code = _monitor(champion, sim_dir, strict)
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith("BREACH ")]
    assert code == 2
    assert any(line.startswith("BREACH drift: score (") for line in lines)
    assert sum(line.startswith("BREACH drift: ") for line in lines) == 6  # score + top five
    run_id = re.search(r"logged: run (\w+)", printed).group(1)
    assert champion.registry().run_metrics(run_id)["breaches"] == len(lines)


@pytest.mark.parametrize(
    ("extra", "config_change", "named"),
    [
        (["--as-of", "2024-09-01"], {}, "--as-of 2024-09-01"),
        ([], {"period": "fortnight"}, "period"),
        ([], {"drift": {"max_feature_psi": -1}}, "drift.max_feature_psi"),
    ],
)
def test_a_user_error_is_one_line_and_exit_1(
    champion: Store,
    sim_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    config_change: dict,
    named: str,
) -> None:
    raw = read_yaml(default_config("monitor"))
    for key, value in config_change.items():
        raw[key] = raw[key] | value if isinstance(value, dict) else value
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = _monitor(champion, sim_dir, path, *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error: ") and named in err[0]


def test_a_store_url_and_its_folder_give_the_same_findings(
    champion: Store, sim_dir: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEADSCORE_STORE_URL", url)
        assert main(["store", "init"]) == 0
        assert main(["store", "load", str(sim_dir)]) == 0
    config = _config(tmp_path, **LENIENT)
    for name, data in (("folder", sim_dir), ("store", url)):
        _monitor(champion, data, config, "--json", str(tmp_path / f"{name}.json"))
    folder = json.loads((tmp_path / "folder.json").read_text())
    store = json.loads((tmp_path / "store.json").read_text())
    assert folder["periods"] and folder == store


@pytest.mark.parametrize(
    ("scenario", "subject"),
    [("new_source", "data_health: source=tiktok"), ("event_type_stops", "event_type=pricing_view")],
)
def test_known_drift_is_named(
    champion: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scenario: str,
    subject: str,
) -> None:
    """The folder the champion came from, simulated again with a drift from month 10: the
    monitor names the new source or the vanished event type."""
    config = load_config(default_config("simulate"), SimulationConfig)
    drifted = tmp_path / scenario
    run_simulation(config, drifted, 12, 1_500, 7, DriftChoice(scenario, 10))
    code = _monitor(champion, drifted, default_config("monitor"))
    breaches = [line for line in capsys.readouterr().out.splitlines() if "BREACH" in line]
    assert code == 2
    assert any(subject in line for line in breaches), breaches
