"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.settings import default_config, load_config
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.simulate import run_simulation


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated data folder, 12 months × 1,500 leads a month (seed 7), made once a session.

    Every test that needs realistic data shares it, so treat it as read-only.
    """
    folder = tmp_path_factory.mktemp("sim") / "data"
    config = load_config(default_config("simulate"), SimulationConfig)
    run_simulation(config, folder, months=12, leads_per_month=1_500, seed=7)
    return folder
