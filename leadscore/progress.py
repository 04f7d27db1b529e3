"""Progress on the terminal: a named step at a time, with elapsed seconds, on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def steps(task: str) -> Iterator[Callable[[str], None]]:
    """Yield `step(name)`: each call closes the previous step and prints its duration."""
    started = time.perf_counter()
    current: list[tuple[str, float]] = []

    def step(name: str) -> None:
        now = time.perf_counter()
        if current:
            prev, since = current.pop()
            print(f"  {task}: {prev} done in {now - since:.1f}s", file=sys.stderr)
        print(f"  {task}: {name} …", file=sys.stderr, flush=True)
        current.append((name, now))

    yield step
    if current:
        prev, since = current.pop()
        print(f"  {task}: {prev} done in {time.perf_counter() - since:.1f}s", file=sys.stderr)
    print(f"  {task}: finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)


@contextmanager
def bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """Yield `update(done, total)` driving a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = (description, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
