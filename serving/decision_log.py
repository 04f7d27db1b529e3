"""Decisions of the stateless endpoints, written behind their answers.

/score answers in about 3 ms; a commit per answer would cost as much again (and a batch's
1,000 rows more), so each worker queues the decision rows of /score and /score_batch and one
thread writes whatever has queued every FLUSH_SECONDS, in one transaction. The answer does
not wait for the write: a killed worker can lose the decisions of its last FLUSH_SECONDS,
never a caller's data (events, leads and stages are committed before their 2xx), and the
stored endpoints record their decisions before answering. If the store stays unreachable the
queue is bounded: past MAX_QUEUED rows the oldest are dropped, counted and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
MAX_QUEUED = 200_000
Rows = Sequence[dict[str, Any]]


class DecisionLog:
    """A queue of decision rows and the thread that writes it with `write` (the store's
    `record_decisions`)."""

    def __init__(self, write: Callable[[Rows], None], flush_seconds: float = FLUSH_SECONDS):
        self._write = write
        self._flush_seconds = flush_seconds
        self._queued: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def add(self, rows: Rows) -> None:
        with self._lock:
            self._queued.extend(rows)
            over = len(self._queued) - MAX_QUEUED
            if over > 0:
                del self._queued[:over]
                self.dropped += over
                log.error("decision log: store unreachable, %d oldest decisions dropped", over)

    def flush(self) -> None:
        """Write what has queued, in one transaction; on failure keep it for the next try."""
        with self._lock:
            rows, self._queued = self._queued, []
        if not rows:
            return
        try:
            self._write(rows)
        except Exception:  # the store is down: the rows wait for the next flush
            log.exception("decision log: %d decisions not written yet", len(rows))
            with self._lock:
                self._queued[:0] = rows

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()
