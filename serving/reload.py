"""Serving the champions: load them, check the aliases every N seconds, swap without a gap.

A request reads `ModelHolder.pair` once and scores with that object to the end, and a reload
replaces the reference in one assignment, so a request in flight is scored wholly by the pair
it started with and no request waits for a load. When the registry cannot be read — a check
fails, or one has run past its timeout without an answer (a registry that hangs never fails) —
the last good pair keeps serving and `/readyz` says since when it is stale. What went wrong is
logged; /readyz, open to anyone, says only "unreachable".

Promotion moves two aliases one after the other (training/promote.py), so a check can fall
between them. A pair is taken when both versions come from one training run, or when the same
mixed pair is seen at two checks in a row (a run that trained no velocity model).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from training.pair import CONVERSION, VELOCITY, Champions, ModelPair

log = logging.getLogger(__name__)


class ModelHolder:
    """The pair being served, and the thread that keeps it the champion pair.

    `read` says what the champion aliases point at and `load` fetches a pair (the registry
    gateway's `champions` and `load_pair`; tests script them).
    """

    def __init__(
        self,
        every_seconds: float,
        timeout_seconds: float,
        read: Callable[[], Champions],
        load: Callable[[int, int], ModelPair],
        on_check: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.pair: ModelPair | None = None
        self._every = every_seconds
        self._timeout = timedelta(seconds=timeout_seconds)
        self._read, self._load, self._on_check = read, load, on_check
        self._seen: Champions | None = None
        self._failed_since: datetime | None = None
        self._started_at: datetime | None = None  # of the check in flight, if any
        self._checked_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> str:
        """One look at the registry; returns what happened (a /metrics label)."""
        now = self._started_at = datetime.now(UTC)
        try:
            champions = self._read()
            outcome = self._take(champions)
        except Exception as exc:  # any registry or load failure: keep serving what we have
            self._failed_since = self._failed_since or now
            first = str(exc).splitlines()[0] if str(exc) else ""
            log.warning(
                "model check failed, serving the last good models: %s: %s",
                type(exc).__name__,
                first,
            )
            outcome = "failed"
        else:
            self._failed_since = None
        self._started_at, self._checked_at = None, now
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
            CONVERSION,
            champions.conversion,
            VELOCITY,
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

    def stale_since(self, now: datetime) -> datetime | None:
        """Since when the registry is unreachable: the first failed check, or the start of a
        check still running past its timeout; None while it answers."""
        started = self._started_at
        hanging = started if started is not None and now - started > self._timeout else None
        return self._failed_since or hanging

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """(status, body) of /readyz: 200 while a pair is loaded, even a stale one."""
        pair = self.pair
        stale = self.stale_since(datetime.now(UTC))
        body: dict[str, Any] = {
            "ready": pair is not None,
            "models": pair.describe() if pair else None,
            "registry": "unreachable" if stale else "ok",
            "stale_since": stale.isoformat() if stale else None,
            "checked_at": self._checked_at.isoformat() if self._checked_at else None,
            "check_every_seconds": self._every,
            "check_timeout_seconds": self._timeout.total_seconds(),
        }
        return (200 if pair is not None else 503), body
