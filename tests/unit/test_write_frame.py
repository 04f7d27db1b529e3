"""Outputs are written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from features.errors import LeadscoreError
from features.tables import write_frame


def test_a_write_that_dies_half_way_leaves_the_old_file_and_no_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "scores.parquet"
    old = pl.DataFrame({"lead_id": ["A"], "score": [1.0]})
    write_frame(old, path)

    def dies_half_way(self: pl.DataFrame, file: Path, **_: object) -> None:
        Path(file).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.DataFrame, "write_parquet", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_frame(pl.DataFrame({"lead_id": ["B", "C"], "score": [2.0, 3.0]}), path)
    monkeypatch.undo()
    assert pl.read_parquet(path).equals(old)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_csv_and_parquet_by_suffix_and_nothing_else(tmp_path: Path) -> None:
    frame = pl.DataFrame({"lead_id": ["A", "B"], "score": [1.5, 2.5]})
    assert pl.read_csv(write_frame(frame, tmp_path / "a.csv")).equals(frame)
    assert pl.read_parquet(write_frame(frame, tmp_path / "sub" / "a.parquet")).equals(frame)
    with pytest.raises(LeadscoreError, match="must end in .parquet or .csv"):
        write_frame(frame, tmp_path / "a.json")
