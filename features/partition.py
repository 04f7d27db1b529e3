"""Lead data cut into hash partitions: a lead, its events and its stages always together.

A partition is itself a data folder (`part-00003/` with leads, events and stages), so every
job that reads a data folder reads one partition unchanged — the feature code runs per
partition as it runs on the whole, and a lead's history never straddles two. The hash is
polars' (seeded, stable for the locked polars version every worker runs).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from features import contract as c
from features.tables import LeadData, write_frame

SEED = 20_261_202
PREFIX = "part-"


def partition_of(parts: int) -> pl.Expr:
    """The partition (0..parts-1) of each row's lead."""
    return (pl.col(c.LEAD_ID).hash(seed=SEED) % parts).cast(pl.Int64)


def split(data: LeadData, parts: int) -> list[LeadData]:
    """The data's leads in `parts` partitions by the hash of their id, with their rows."""
    tables = []
    for frame in (data.leads, data.events, data.stages):
        grouped = frame.with_columns(_part=partition_of(parts)).partition_by(
            "_part", as_dict=True, include_key=False
        )
        tables.append([grouped.get((k,), frame.clear()) for k in range(parts)])
    return [LeadData(*(table[k] for table in tables)) for k in range(parts)]


def write_parts(data: LeadData, folder: Path, parts: int) -> list[Path]:
    """Write the partitions as data folders `folder/part-NNNNN/`; their paths, in order (an
    empty partition is not written: a data folder has leads)."""
    out = []
    for k, part in enumerate(split(data, parts)):
        if part.leads.height == 0:
            continue
        where = folder / f"{PREFIX}{k:05d}"
        where.mkdir(parents=True, exist_ok=True)
        for name, frame in (
            (c.LEADS, part.leads),
            (c.EVENTS, part.events),
            (c.STAGES, part.stages),
        ):
            write_frame(frame, where / f"{name}.parquet")
        out.append(where)
    return out


def part_folders(folder: Path) -> list[Path]:
    """The partitions of a partitioned data folder, in order (none: not partitioned)."""
    return sorted(p for p in folder.glob(f"{PREFIX}*") if p.is_dir()) if folder.is_dir() else []
