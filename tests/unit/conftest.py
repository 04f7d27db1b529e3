"""Small hand-made data folders, written as CSV and read back through the real contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

Rows = list[dict[str, object]]
LEADS_COLUMNS = {"lead_id": pl.String, "created_at": pl.String, "source": pl.String}
EVENTS_COLUMNS = {"lead_id": pl.String, "ts": pl.String, "event_type": pl.String}
STAGES_COLUMNS = {"lead_id": pl.String, "ts": pl.String, "stage": pl.String, "mrr": pl.Float64}


def write_folder(folder: Path, leads: Rows, events: Rows, stages: Rows) -> Path:
    """Write the three tables as CSV (empty tables keep their header)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, columns in (
        ("leads", leads, LEADS_COLUMNS),
        ("events", events, EVENTS_COLUMNS),
        ("stages", stages, STAGES_COLUMNS),
    ):
        frame = (
            pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(schema=columns)
        )
        frame.write_csv(folder / f"{name}.csv")
    return folder


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    """Factory: make_folder(leads, events, stages, name="data") -> folder path."""

    def make(leads: Rows, events: Rows, stages: Rows, name: str = "data") -> Path:
        return write_folder(tmp_path / name, leads, events, stages)

    return make
