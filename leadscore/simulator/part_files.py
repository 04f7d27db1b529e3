"""Hash partitions of simulated tables that grow a block at a time.

Each partition is a data folder `part-NNNNN/` (features/partition.py) holding one Parquet file
per table, so every reader of a data folder reads it unchanged. The files stay open while a
run draws its blocks: each block's rows of a partition are appended as row groups, and only
the block being written is ever in memory. A partition's four files are opened together with
its first leads, so a partition with leads always has every table (an empty one, if need be).
"""

from __future__ import annotations

import resource
from pathlib import Path
from types import TracebackType

import polars as pl
import pyarrow.parquet as pq

from features import contract as c
from features.errors import LeadscoreError
from features.partition import PREFIX, partition_of

TABLES = (c.LEADS, c.EVENTS, c.STAGES, c.TRUTH)
SPARE_FILES = 64  # what the rest of the process may hold open meanwhile


def check_partitions(parts: int) -> None:
    """A partition count that this process can keep open: four files each while writing."""
    if parts < 1:
        raise LeadscoreError(f"--partitions must be at least 1, got {parts}")
    allowed, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if len(TABLES) * parts + SPARE_FILES > allowed:
        most = (allowed - SPARE_FILES) // len(TABLES)
        raise LeadscoreError(
            f"--partitions {parts}: writing keeps {len(TABLES)} files open per partition and "
            f"this process may open {allowed} (ulimit -n); at most {most} here"
        )


def _split(frame: pl.DataFrame, parts: int) -> dict[int, pl.DataFrame]:
    """The frame's rows by the partition of their lead (partitions without rows left out)."""
    grouped = frame.with_columns(_part=partition_of(parts)).partition_by(
        "_part", as_dict=True, include_key=False
    )
    return {int(key[0]): rows for key, rows in grouped.items()}


class PartFiles:
    """The open Parquet files of `parts` hash partitions under `folder`; close them to finish."""

    def __init__(self, folder: Path, parts: int) -> None:
        self.folder = folder
        self.parts = parts
        self._files: dict[int, dict[str, pq.ParquetWriter]] = {}

    def append(self, tables: dict[str, pl.DataFrame]) -> None:
        """One block's tables (each with a lead_id column), cut by partition and appended."""
        pieces = {name: _split(tables[name], self.parts) for name in TABLES}
        for k in pieces[c.LEADS]:
            if k not in self._files:
                self._files[k] = self._open(k, tables)
        for name, split in pieces.items():
            for k, rows in split.items():
                self._files[k][name].write_table(rows.to_arrow())

    def _open(self, k: int, tables: dict[str, pl.DataFrame]) -> dict[str, pq.ParquetWriter]:
        where = self.folder / f"{PREFIX}{k:05d}"
        where.mkdir(parents=True, exist_ok=True)
        return {
            name: pq.ParquetWriter(
                where / f"{name}.parquet",
                tables[name].head(0).to_arrow().schema,
                compression="zstd",
            )
            for name in TABLES
        }

    def close(self) -> None:
        """Finish every file (a Parquet file is readable only once its footer is written)."""
        for files in self._files.values():
            for writer in files.values():
                writer.close()
        self._files.clear()

    def __enter__(self) -> PartFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
