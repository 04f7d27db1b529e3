"""Serving the champions: load them, check the aliases every N seconds, swap without a gap.

A request reads `ModelHolder.pair` once and scores with that object to the end, and a reload
replaces the reference in one assignment, so a request in flight is scored wholly by the pair
it started with and no request waits for a load. When the registry cannot be read, the last
good pair keeps serving and `/readyz` says since when it is stale.

Promotion moves two aliases one after the other (training/promote.py), so a check can fall
between them. A pair is taken when both versions come from one training run, or when the same
mixed pair is seen at two checks in a row (a run that trained no velocity model).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient

from serving.scorer import ModelPair
from training import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Champions:
    """What the champion aliases point at now, and whether both come from one run."""

    conversion: int
    velocity: int
    same_run: bool


def read_champions() -> Champions:
    client = MlflowClient()
    conversion = client.get_model_version_by_alias(registry.CONVERSION, registry.CHAMPION)
    velocity = client.get_model_version_by_alias(registry.VELOCITY, registry.CHAMPION)
    return Champions(
        int(conversion.version), int(velocity.version), conversion.run_id == velocity.run_id
    )


class ModelHolder:
    """The pair being served, and the thread that keeps it the champion pair."""

    def __init__(
        self,
        every_seconds: float,
        read: Callable[[], Champions] = read_champions,
        load: Callable[[int, int], ModelPair] = ModelPair.load,
        on_check: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.pair: ModelPair | None = None
        self._every = every_seconds
        self._read, self._load, self._on_check = read, load, on_check
        self._seen: Champions | None = None
        self._stale_since: datetime | None = None
        self._error: str | None = None
        self._checked_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> str:
        """One look at the registry; returns what happened (a /metrics label)."""
        now = datetime.now(UTC)
        try:
            champions = self._read()
            outcome = self._take(champions)
        except Exception as exc:  # any registry or load failure: keep serving what we have
            self._error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self._stale_since = self._stale_since or now
            log.warning("model check failed, serving the last good models: %s", self._error)
            outcome = "failed"
        else:
            self._error, self._stale_since = None, None
        self._checked_at = now
        self._on_check(outcome)
        return outcome

    def _take(self, champions: Champions) -> str:
        current = self.pair
        if current and (current.conversion_version, current.velocity_version) == (
            champions.conversion,
            champions.velocity,
        ):
            self._seen = champions
            return "unchanged"
        seen_before, self._seen = self._seen, champions
        if current and not champions.same_run and champions != seen_before:
            return "moving"  # maybe between the two alias moves of a promotion: look again
        self.pair = self._load(champions.conversion, champions.velocity)
        log.info(
            "now serving %s v%d + %s v%d (was %s)",
            registry.CONVERSION,
            champions.conversion,
            registry.VELOCITY,
            champions.velocity,
            f"v{current.conversion_version} + v{current.velocity_version}" if current else "none",
        )
        return "swapped"

    def start(self) -> None:
        """Check now (so a fresh worker is ready at once), then every N seconds in a thread."""
        self.check()
        self._thread = threading.Thread(target=self._loop, name="model-reload", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._every + 5)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """(status, body) of /readyz: 200 while a pair is loaded, even a stale one."""
        pair = self.pair
        body: dict[str, Any] = {
            "ready": pair is not None,
            "models": pair.describe() if pair else None,
            "registry": "failing" if self._error else "ok",
            "stale_since": self._stale_since.isoformat() if self._stale_since else None,
            "last_error": self._error,
            "checked_at": self._checked_at.isoformat() if self._checked_at else None,
            "check_every_seconds": self._every,
        }
        return (200 if pair is not None else 503), body
