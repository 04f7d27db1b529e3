"""Decisions of the stateless endpoints, written behind their answers.

/score answers in about 3 ms; a commit per answer would cost as much again (and a batch's
1,000 rows more), so each worker queues the decisions of /score and /score_batch (columns the
scores already hold: serving/decisions.py) and one thread writes whatever has queued every
FLUSH_SECONDS, in one transaction. The answer does not wait for the write: a killed worker can
lose the decisions of its last FLUSH_SECONDS, never a caller's data (events, leads and stages
are committed before their 2xx), and the stored endpoints record their decisions before
answering. If the store stays unreachable the queue is bounded: past MAX_QUEUED rows the
oldest requests' decisions are dropped, counted and logged.

The thread runs at the lowest CPU priority (WRITER_NICE, Linux): writing a batch's 1,000 rows
takes about 10 ms of CPU, and on two cores that time came out of TreeSHAP's two threads,
adding 20–30 ms to a batch's answer (BENCHMARKS.md "Service"). Left the idle time between
requests, it writes at no cost to them; a worker busy without pause still gives it a small
share, and the queue's bound holds if even that is not enough.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

from features.store.records import Columns

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
MAX_QUEUED = 200_000
WRITER_NICE = 19


class DecisionLog:
    """A queue of decisions, a request's at a time, and the thread that writes it with
    `write` (the store's `record_decisions`)."""

    def __init__(self, write: Callable[[Columns], None], flush_seconds: float = FLUSH_SECONDS):
        self._write = write
        self._flush_seconds = flush_seconds
        self._queued: list[Columns] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def add(self, columns: Columns) -> None:
        with self._lock:
            self._queued.append(columns)
            self._rows += _rows(columns)
            over = 0
            while self._rows > MAX_QUEUED and len(self._queued) > 1:
                dropped = _rows(self._queued.pop(0))
                self._rows -= dropped
                over += dropped
        if over:
            self.dropped += over
            log.error("decision log: store unreachable, %d oldest decisions dropped", over)

    def flush(self) -> None:
        """Write what has queued, in one transaction; on failure keep it for the next try."""
        with self._lock:
            queued, self._queued, self._rows = self._queued, [], 0
        if not queued:
            return
        try:
            self._write(_joined(queued))
        except Exception:  # the store is down: the decisions wait for the next flush
            log.exception("decision log: %d decisions not written yet", sum(map(_rows, queued)))
            with self._lock:
                self._queued[:0] = queued
                self._rows += sum(map(_rows, queued))

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # a thread's own priority: Linux only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
        while not self._stop.wait(self._flush_seconds):
            self.flush()


def _rows(columns: Columns) -> int:
    return len(next(iter(columns.values()), []))


def _joined(queued: list[Columns]) -> Columns:
    """One set of columns from the requests' (all have the same names)."""
    if len(queued) == 1:
        return queued[0]
    return {name: [value for columns in queued for value in columns[name]] for name in queued[0]}
