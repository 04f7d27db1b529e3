"""Large numpy work split over the machine's cores with threads.

numpy releases the GIL inside its loops (sorts, searches, arithmetic on arrays), so independent
pieces of a large job run on every core from one process: the batch's features and its linear
terms over row chunks, the event index's two sorts side by side. Small inputs (a request's few
rows) run inline, where a thread pool would cost more than it saves. The results are the same
as one thread's: each piece computes exactly what it would alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

THREADS = min(4, os.cpu_count() or 1)
T = TypeVar("T")


def run_all(tasks: Sequence[Callable[[], T]], parallel: bool = True) -> list[T]:
    """Every task's result, in order; in parallel when asked and there are several."""
    if not parallel or len(tasks) < 2 or THREADS == 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(min(THREADS, len(tasks))) as pool:
        return list(pool.map(lambda task: task(), tasks))


def map_rows(work: Callable[[slice], T], rows: int, chunk: int) -> list[T]:
    """`work` over consecutive row slices of at most `chunk` rows (one slice when rows ≤
    chunk, also for 0 rows), in row order."""
    spans = [slice(start, min(start + chunk, rows)) for start in range(0, max(rows, 1), chunk)]
    return run_all([lambda span=span: work(span) for span in spans])


def behind(work: Callable[[], T]) -> Callable[[], T]:
    """`work` begun now on a daemon thread; calling the result waits for it and returns what
    it returned, or raises what it raised. A daemon, so that a caller failing before it waits
    exits at once instead of finishing a read nobody will use."""
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(work())
        except BaseException as exc:  # handed to the caller, who raises it
            done.set_exception(exc)

    threading.Thread(target=run, name="behind", daemon=True).start()
    return done.result
