"""Model reload in a running service: promotion under load, and a registry that disappears.

The module's server checks the champion aliases every 2 s on its own copy of the registry.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import TRAINING, Server, Store, sample_payloads, start_server

from features.tables import LeadData
from serving.example import EXAMPLE_LEAD
from serving.reload import ModelHolder
from training.pair import Champions
from training.promote import promote

READYZ_FIELDS = {
    "ready",
    "models",
    "registry",
    "stale_since",
    "checked_at",
    "check_every_seconds",
    "check_timeout_seconds",
}
CHECK_SECONDS = 2
CHECK_TIMEOUT = 3
LOAD_THREADS = 6
BATCH_THREADS = 2


@pytest.fixture(scope="module")
def registry_copy(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return store.copy(tmp_path_factory.mktemp("registry-copy"))


@pytest.fixture(scope="module")
def reloading(registry_copy: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        registry_copy,
        tmp_path_factory.mktemp("reloading"),
        serve={"reload_seconds": CHECK_SECONDS, "registry_timeout_seconds": CHECK_TIMEOUT},
    )
    yield running
    running.stop()


def _pair(model: dict[str, Any]) -> tuple[int, int]:
    return model["conversion"]["version"], model["velocity"]["version"]


def _served(answer: httpx.Response) -> tuple[int, int]:
    return _pair(answer.json()["model"])


def test_a_promotion_under_load_is_served_within_the_check_period_without_a_failure(
    reloading: Server, registry_copy: Store, data: LeadData, sim_dir: Path
) -> None:
    payloads = sample_payloads(data, 30, seed=1)
    batch = {"leads": payloads}
    stop = threading.Event()
    answers: list[tuple[float, int, tuple[int, int] | None]] = []
    batches: list[tuple[int, set[tuple[int, int]]]] = []

    def load(offset: int) -> None:
        with reloading.client() as client:
            i = offset
            while not stop.is_set():
                started = time.monotonic()
                answer = client.post("/score", json=payloads[i % len(payloads)])
                ok = answer.status_code == 200
                answers.append((started, answer.status_code, _served(answer) if ok else None))
                i += 1

    def load_batches() -> None:
        with reloading.client() as client:
            while not stop.is_set():
                answer = client.post("/score_batch", json=batch)
                ok = answer.status_code == 200
                served = {_pair(lead["model"]) for lead in answer.json()["leads"]} if ok else set()
                batches.append((answer.status_code, served))

    threads = [threading.Thread(target=load, args=(k,)) for k in range(LOAD_THREADS)]
    threads += [threading.Thread(target=load_batches) for _ in range(BATCH_THREADS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        decision = promote(data, TRAINING, registry_copy.registry(), force=True)
        promoted = time.monotonic()
        assert decision.promoted and decision.challenger == 2
        time.sleep(2 * CHECK_SECONDS + 3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(answers) > 100
    assert {status for _, status, _ in answers} == {200}
    assert {pair for _, _, pair in answers} == {(1, 1), (2, 2)}  # never a mixed pair
    # Both workers check every CHECK_SECONDS; loading the new pair takes about a second.
    late = [pair for started, _, pair in answers if started > promoted + CHECK_SECONDS + 2.5]
    assert late and set(late) == {(2, 2)}
    # Batches in flight while the pair moved: every one answered, each by one pair whole.
    assert len(batches) > 4 and {status for status, _ in batches} == {200}
    assert all(len(served) == 1 for _, served in batches)
    assert set().union(*(served for _, served in batches)) == {(1, 1), (2, 2)}
    ready = httpx.get(f"{reloading.url}/readyz").json()
    assert ready["models"]["conversion"]["version"] == 2


def test_a_vanished_registry_keeps_the_models_serving_and_readyz_says_stale(
    reloading: Server, registry_copy: Store
) -> None:
    database = registry_copy.folder / "mlflow.db"
    hidden = database.with_name("mlflow.db.hidden")
    database.rename(hidden)
    try:
        body = _wait_for_readyz(reloading, lambda b: b["registry"] == "unreachable")
        assert body["ready"] is True and body["stale_since"] is not None
        assert set(body) == READYZ_FIELDS  # what failed is in the log, not in the body
        answer = httpx.post(f"{reloading.url}/score", json=EXAMPLE_LEAD)
        assert answer.status_code == 200
    finally:
        database.unlink(missing_ok=True)  # SQLite may have created an empty one meanwhile
        hidden.rename(database)
    body = _wait_for_readyz(reloading, lambda b: b["registry"] == "ok")
    assert body["stale_since"] is None
    assert "model check failed" in reloading.log_text()


def test_a_hanging_registry_check_makes_readyz_stale_within_its_timeout(
    reloading: Server, registry_copy: Store
) -> None:
    """A registry that never answers never fails either: the check in flight is timed."""
    # Both workers answer /readyz: wait until neither remembers the test before.
    _wait_for_readyz(reloading, lambda b: b["registry"] == "ok", steady=CHECK_SECONDS + 1)
    failures = reloading.log_text().count("model check failed")
    lock = sqlite3.connect(registry_copy.folder / "mlflow.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # MLflow's reads now wait (busy_timeout: 20 s)
    try:
        locked_at = time.monotonic()
        body = _wait_for_readyz(reloading, lambda b: b["registry"] == "unreachable")
        assert time.monotonic() - locked_at > CHECK_TIMEOUT
        # Stale while the check still waits: no check has failed yet.
        assert reloading.log_text().count("model check failed") == failures
        assert body["ready"] is True and body["stale_since"] is not None
        assert httpx.post(f"{reloading.url}/score", json=EXAMPLE_LEAD).status_code == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    body = _wait_for_readyz(reloading, lambda b: b["registry"] == "ok")
    assert body["stale_since"] is None


def _wait_for_readyz(
    server: Server,
    condition: Callable[[dict[str, Any]], bool],
    seconds: float = 30,
    steady: float = 0,
) -> dict[str, Any]:
    """The /readyz body once `condition` holds, and has held for `steady` seconds of polls."""
    deadline = time.monotonic() + seconds
    since: float | None = None
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/readyz").json()
        if not condition(body):
            since = None
        elif since is None:
            since = time.monotonic()
        if since is not None and time.monotonic() - since >= steady:
            return body
        time.sleep(0.3)
    raise AssertionError(f"/readyz never changed as expected; last: {body}")


class _Registry:
    """A scripted registry for ModelHolder: what the aliases say at each check."""

    def __init__(self, *answers: Champions | Exception) -> None:
        self.answers = list(answers)
        self.loaded: list[tuple[int, int]] = []

    def read(self) -> Champions:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def load(self, conversion: int, velocity: int) -> object:
        self.loaded.append((conversion, velocity))
        return _FakePair(conversion, velocity)


class _FakePair:
    def __init__(self, conversion: int, velocity: int) -> None:
        self.conversion_version, self.velocity_version = conversion, velocity

    def describe(self) -> dict[str, int]:
        return {"conversion": self.conversion_version, "velocity": self.velocity_version}


def test_holder_waits_out_a_half_moved_pair_and_keeps_serving_through_failures() -> None:
    registry = _Registry(
        Champions(1, 1, same_run=True),
        Champions(2, 1, same_run=False),  # conversion moved, velocity not yet
        Champions(2, 2, same_run=True),
        OSError("registry gone"),
        Champions(3, 2, same_run=False),  # a run without a velocity model: stable, so taken
        Champions(3, 2, same_run=False),
    )
    holder = ModelHolder(60, 10, read=registry.read, load=registry.load)  # type: ignore[arg-type]
    outcomes = [holder.check() for _ in range(6)]
    assert outcomes == ["swapped", "moving", "swapped", "failed", "moving", "swapped"]
    assert registry.loaded == [(1, 1), (2, 2), (3, 2)]


def test_holder_readiness_reports_stale_models_and_recovers() -> None:
    registry = _Registry(Champions(1, 1, True), OSError("disk gone"), Champions(1, 1, True))
    holder = ModelHolder(60, 10, read=registry.read, load=registry.load)  # type: ignore[arg-type]
    assert holder.readiness()[0] == 503
    holder.check()
    holder.check()
    status, body = holder.readiness()
    assert status == 200 and body["registry"] == "unreachable" and body["stale_since"]
    assert "disk gone" not in str(body)
    holder.check()
    assert holder.readiness()[1]["stale_since"] is None


def test_holder_times_a_check_still_in_flight() -> None:
    release = threading.Event()
    registry = _Registry(Champions(1, 1, True), Champions(1, 1, True))

    def hanging() -> Champions:
        if registry.loaded:  # after the first, good check
            release.wait()
        return registry.read()

    holder = ModelHolder(60, 0.2, read=hanging, load=registry.load)  # type: ignore[arg-type]
    holder.check()
    checking = threading.Thread(target=holder.check)
    checking.start()
    try:
        assert holder.readiness()[1]["registry"] == "ok"  # in flight, not yet past its timeout
        time.sleep(0.4)
        status, body = holder.readiness()
        assert status == 200 and body["registry"] == "unreachable" and body["stale_since"]
    finally:
        release.set()
        checking.join()
    assert holder.readiness()[1]["registry"] == "ok"
