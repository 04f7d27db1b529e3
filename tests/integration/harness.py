"""Helpers of the service tests: a model store, leads as payloads, `leadscore serve` processes.

Servers run on free ports of 127.0.0.1 with their own configs, each in its own process group,
and are stopped by whoever started them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import yaml

from features.config import FeatureConfig
from features.tables import LeadData
from leadscore.settings import default_config, load_policy
from training.config import Procedure, RegistryConfig, TrainConfig
from training.registry import Registry

LEADSCORE = Path(sys.executable).parent / "leadscore"
FEATURES = FeatureConfig(snapshot_row_budget=100_000)
# One thread: on a shared 2-core machine LightGBM's two OpenMP threads can run 10x slower.
TRAINING = TrainConfig(tuned_params=None, threads=1)
POLICY = load_policy(default_config("routing"), default_config("economics"))
TOKEN = "test-token-7f3a"
READY_SECONDS = 120


@dataclass(frozen=True)
class Store:
    folder: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.folder}/mlflow.db"

    def copy(self, folder: Path) -> Store:
        """The same registry in another file (artifacts stay shared, read-only)."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.folder / "mlflow.db", folder / "mlflow.db")
        return Store(folder)

    def registry(self) -> Registry:
        """The gateway to this store, as a command builds it."""
        return Registry(RegistryConfig(tracking_uri=self.uri))


def procedure(config: TrainConfig = TRAINING, features: FeatureConfig = FEATURES) -> Procedure:
    """The training procedure of these configs, with the train config's booster parameters."""
    return Procedure(features=features, train=config, params=config.conversion)


@contextmanager
def using(store: Store) -> Iterator[None]:
    """Point this process's MLflow at `store` (the way users do) and work from its folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store.uri)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        patch.chdir(store.folder)
        yield


def lead_payload(data: LeadData, lead_id: str, as_of: datetime | None) -> dict[str, Any]:
    """A lead as marketing automation would send it: every event it has, late ones included."""
    lead = data.leads.filter(pl.col("lead_id") == lead_id).row(0, named=True)
    events = data.events.filter(pl.col("lead_id") == lead_id)
    reserved = {"lead_id", "created_at", "source", "partner_id", "owner_id"}
    payload: dict[str, Any] = {
        "lead_id": lead_id,
        "created_at": lead["created_at"].isoformat(),
        "source": lead["source"],
        "partner_id": lead.get("partner_id"),
        "attributes": {k: v for k, v in lead.items() if k not in reserved},
        "events": [
            {"ts": ts.isoformat(), "event_type": kind}
            | ({"value": value} if value is not None else {})
            for ts, kind, value in events.select("ts", "event_type", "value").iter_rows()
        ],
    }
    if as_of is not None:
        payload["as_of"] = as_of.isoformat()
    return payload


def sample_payloads(data: LeadData, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n leads, each as of a moment between 1 and 60 days after its creation."""
    leads = data.leads.sample(n, seed=seed)
    return [
        lead_payload(data, lead_id, created + timedelta(days=1 + (i * 7) % 60, hours=i % 24))
        for i, (lead_id, created) in enumerate(leads.select("lead_id", "created_at").iter_rows())
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running `leadscore serve`; `client()` sends the bearer token when it has one."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    token: str | None

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(
    store: Store,
    folder: Path,
    *,
    token: str | None = None,
    serve: dict[str, Any] | None = None,
    routing: dict[str, Any] | None = None,
) -> Server:
    """`leadscore serve` on a free port with configs written to `folder`; waits for /readyz."""
    folder.mkdir(parents=True, exist_ok=True)
    configs = Path(__file__).resolve().parents[2] / "configs"
    settings = {
        "serve": yaml.safe_load((configs / "serve.yaml").read_text()) | (serve or {}),
        "routing": yaml.safe_load((configs / "routing.yaml").read_text()) | (routing or {}),
    }
    settings["serve"]["capacity_ledger"] = str(folder / "ledger.sqlite")
    for name, values in settings.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(values))
    port = free_port()
    env = os.environ | {
        "MLFLOW_TRACKING_URI": store.uri,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "BENTOML_DO_NOT_TRACK": "true",
        # BentoML keeps the workers' Prometheus files under BENTOML_HOME and clears them when a
        # server starts: servers that share it wipe each other's counts.
        "BENTOML_HOME": str(folder / "bentoml"),
    }
    env.pop("LEADSCORE_API_TOKEN", None)
    if token:
        env["LEADSCORE_API_TOKEN"] = token
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(LEADSCORE),
                "serve",
                "--port",
                str(port),
                "--config",
                str(folder / "serve.yaml"),
                "--routing-config",
                str(folder / "routing.yaml"),
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, token)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"leadscore serve exited {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"not ready in {READY_SECONDS} s:\n{server.log_text()}")
