"""Fixtures of the service tests: models trained once a session, and one running server.

The store gets two trainings of the simulated folder: v1 (champion) and v2 (challenger), so
that a test can promote while a service runs (tests/integration/harness.py has the helpers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import POLICY, TOKEN, TRAINING, Server, Store, procedure, start_server

from features.tables import LeadData, load_data
from training.train import train


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory, sim_dir: Path) -> Store:
    """v1 (champion) and v2 (challenger) of both models, trained with different seeds."""
    trained = Store(tmp_path_factory.mktemp("registry"))
    data = load_data(sim_dir)
    registry = trained.registry()
    for seed in (0, 1):
        train(data, procedure(TRAINING.model_copy(update={"seed": seed})), POLICY, registry)
    return trained


@pytest.fixture(scope="session")
def data(sim_dir: Path) -> LeadData:
    return load_data(sim_dir)


@pytest.fixture(scope="session")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service on v1 with auth on, small limits and room for every lead of the tests."""
    running = start_server(
        store,
        tmp_path_factory.mktemp("server"),
        token=TOKEN,
        # One worker: /metrics then counts every request of the tests (with two, a scrape can
        # miss a count still on its way from the other worker).
        serve={
            "max_body_bytes": 2 * 2**20,
            "max_batch_leads": 100,
            "max_events_per_request": 12_000,
            "max_concurrency": 2,
            "max_waiting": 3,
            "workers": 1,
        },
        routing={"capacity": {"reps": 100, "leads_per_rep_per_day": 1000}},
    )
    yield running
    running.stop()
