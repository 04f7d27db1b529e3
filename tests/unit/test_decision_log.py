"""The decision log writes behind the answers: everything queued reaches the store, in order
and in one set of columns, a failing store keeps the decisions for the next try, and the queue
stays bounded."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from features.store.records import Columns
from serving import decision_log
from serving.decision_log import DecisionLog


def _decisions(*numbers: int) -> Columns:
    return {"n": list(numbers), "twice": [2 * n for n in numbers]}


def test_queued_decisions_are_written_in_order_by_the_thread_and_on_close() -> None:
    written: list[Columns] = []
    log = DecisionLog(written.append, flush_seconds=0.05)
    log.add(_decisions(1, 2))
    deadline = time.monotonic() + 5
    while not written and time.monotonic() < deadline:
        time.sleep(0.01)
    assert written == [_decisions(1, 2)]  # by the thread, without close
    log.add(_decisions(3))
    log.add(_decisions(4, 5))
    log.close()
    assert written == [_decisions(1, 2), _decisions(3, 4, 5)]  # two requests, one write


def test_a_failing_store_keeps_the_decisions_for_the_next_flush() -> None:
    attempts: list[int] = []
    written: list[Columns] = []

    def flaky(columns: Columns) -> None:
        attempts.append(len(columns["n"]))
        if len(attempts) == 1:
            raise ConnectionError("store down")
        written.append(columns)

    log = DecisionLog(flaky, flush_seconds=3600)  # flushed by hand here
    log.add(_decisions(1))
    log.flush()
    log.add(_decisions(2))
    log.flush()
    assert attempts == [1, 2] and written == [_decisions(1, 2)]
    log.close()


def test_the_queue_is_bounded_and_drops_the_oldest_requests(monkeypatch: Any) -> None:
    monkeypatch.setattr(decision_log, "MAX_QUEUED", 3)
    written: list[Columns] = []
    log = DecisionLog(written.append, flush_seconds=3600)
    log.add(_decisions(0, 1))
    log.add(_decisions(2))
    log.add(_decisions(3, 4))
    assert log.dropped == 2
    log.close()
    assert written == [_decisions(2, 3, 4)]


def test_the_writer_runs_at_the_lowest_priority_and_the_caller_keeps_its_own() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    log = DecisionLog(lambda columns: None, flush_seconds=0.01)
    deadline = time.monotonic() + 5
    writer = log._thread.native_id
    while time.monotonic() < deadline and os.getpriority(os.PRIO_PROCESS, writer) == before:
        time.sleep(0.01)
    assert os.getpriority(os.PRIO_PROCESS, writer) == decision_log.WRITER_NICE
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    log.close()
