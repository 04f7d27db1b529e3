"""Start the scoring service: check the champions and the address, then run BentoML's server.

Checking here, before any worker starts, turns "no model to serve" or "port taken" into one
line and exit 1, instead of workers that crash and restart or a traceback. The resolved
settings travel to every worker as the service's arguments, relative paths made absolute.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from features.errors import LeadscoreError
from features.store.config import StoreConfig
from features.store.lead_store import LeadStore
from serving.config import ServiceSettings
from serving.example import curl_command
from serving.guard import TOKEN_ENV, api_token
from training.pair import CONVERSION, VELOCITY
from training.registry import Registry

SERVICE = "serving.service:LeadScoring"


def check_champions(settings: ServiceSettings) -> tuple[int, int]:
    """Versions of both champions; LeadscoreError (one clear line) when either is missing."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no "creating tables" chatter
    return Registry(settings.registry).champion_versions()


def check_address(host: str, port: int) -> None:
    """LeadscoreError when the server could not listen there (taken, or not this machine's)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise LeadscoreError(
                f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port or --host"
            ) from None


def open_store(config: StoreConfig) -> StoreConfig:
    """The store every worker opens: a relative SQLite path made absolute, and its schema
    brought up to date (the embedded store needs nothing from the user); a PostgreSQL store
    must be at this code's schema already (`leadscore store init`), or it is one line."""
    url = config.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    store = LeadStore(url)
    if store.engine.dialect.name == "sqlite":
        store.upgrade()
    else:
        store.check()
    store.close()
    return config.model_copy(update={"url": url})


def serve(settings: ServiceSettings) -> None:
    """Serve until interrupted (blocking)."""
    token = api_token()  # a blank token is refused here, before anything starts
    conversion, velocity = check_champions(settings)
    check_address(settings.serve.host, settings.serve.port)
    settings = settings.model_copy(update={"store": open_store(settings.store)})
    # A fresh connection at every alias check: a pooled SQLite connection would keep reading a
    # moved or deleted registry file and never notice that the registry is gone.
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    url = f"http://{settings.serve.host}:{settings.serve.port}"
    token_env = TOKEN_ENV if token else None
    print(
        f"serving {CONVERSION} v{conversion} + {VELOCITY} v{velocity} "
        f"on {url} with {settings.serve.workers} workers; ready when {url}/readyz says so "
        f"(about 10 s). Docs: {url}/ — try:\n\n  {curl_command(url, token_env)}\n",
        flush=True,
    )
    import bentoml  # heavy: only once there is something to serve

    bentoml.serve(
        SERVICE,
        host=settings.serve.host,
        port=settings.serve.port,
        working_dir=os.getcwd(),
        blocking=True,
        args=settings.model_dump(mode="json"),
    )
