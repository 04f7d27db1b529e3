"""A Dask client: on the scheduler the config names, or on a LocalCluster of this machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from features.errors import LeadscoreError
from leadscore.engine.config import EngineConfig

if TYPE_CHECKING:
    from distributed import Client


@contextmanager
def dask_client(config: EngineConfig) -> Iterator[Client]:
    """The client of the run; a LocalCluster started here is closed with it."""
    from distributed import Client, LocalCluster

    if config.scheduler is not None:
        try:
            client = Client(config.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise LeadscoreError(
                f"--scheduler {config.scheduler}: cannot reach a Dask scheduler ({exc})"
            ) from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=config.workers,
        threads_per_worker=config.threads_per_worker,
        memory_limit=config.memory_limit,
        processes=True,
        dashboard_address=None,
    )
    with cluster, Client(cluster) as client:
        yield client
