"""The decision log writes behind the answers: everything queued reaches the store, a failing
store keeps the rows for the next try, and the queue stays bounded."""

from __future__ import annotations

import time
from typing import Any

from serving import decision_log
from serving.decision_log import DecisionLog


def test_queued_rows_are_written_in_order_by_the_thread_and_on_close() -> None:
    written: list[dict[str, Any]] = []
    log = DecisionLog(written.extend, flush_seconds=0.05)
    log.add([{"n": 1}, {"n": 2}])
    deadline = time.monotonic() + 5
    while len(written) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert written == [{"n": 1}, {"n": 2}]  # by the thread, without close
    log.add([{"n": 3}])
    log.close()
    assert written == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_a_failing_store_keeps_the_rows_for_the_next_flush() -> None:
    attempts: list[int] = []
    written: list[dict[str, Any]] = []

    def flaky(rows: Any) -> None:
        attempts.append(len(rows))
        if len(attempts) == 1:
            raise ConnectionError("store down")
        written.extend(rows)

    log = DecisionLog(flaky, flush_seconds=3600)  # flushed by hand here
    log.add([{"n": 1}])
    log.flush()
    log.add([{"n": 2}])
    log.flush()
    assert attempts == [1, 2] and written == [{"n": 1}, {"n": 2}]
    log.close()


def test_the_queue_is_bounded_and_drops_the_oldest(monkeypatch: Any) -> None:
    monkeypatch.setattr(decision_log, "MAX_QUEUED", 3)
    written: list[dict[str, Any]] = []
    log = DecisionLog(written.extend, flush_seconds=3600)
    log.add([{"n": n} for n in range(5)])
    assert log.dropped == 2
    log.close()
    assert written == [{"n": 2}, {"n": 3}, {"n": 4}]
