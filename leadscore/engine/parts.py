"""The partitions a Dask run reads: data folders every worker can open.

Data already partitioned (`part-*/` folders, each a data folder of some leads and their rows)
is read where it lies, so on a cluster it must sit on storage every worker mounts. Other data
is read here, cut by the hash of the lead id (features/partition.py) and written to a
temporary folder of this machine: enough for a LocalCluster, and refused for a remote
scheduler, whose workers could not see it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.errors import LeadscoreError
from features.partition import part_folders, write_parts
from features.tables import is_store_url, load_data
from leadscore.engine.config import EngineConfig


@contextmanager
def partitions(source: str, config: EngineConfig) -> Iterator[list[str]]:
    """The partition folders of `source` for the run's workers (removed after, if made)."""
    found = [] if is_store_url(source) else part_folders(Path(source))
    if found:
        yield [str(folder) for folder in found]
        return
    if config.scheduler is not None:
        raise LeadscoreError(
            f"--data {source}: a remote Dask scheduler's workers read partitioned data "
            "(part-*/ data folders on storage they all mount); this is not partitioned"
        )
    data = load_data(source)
    with tempfile.TemporaryDirectory(prefix="leadscore-parts-") as tmp:
        yield [str(folder) for folder in write_parts(data, Path(tmp), config.partitions)]
