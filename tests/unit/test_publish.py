"""serving/publish.py: what a folder publishes is exactly what this run wrote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from serving.publish import clear, publish


def _write(names: list[str], first: Callable[[Path], None] = lambda _: None):
    def write(folder: Path) -> None:
        first(folder)
        for name in names:
            (folder / name).write_text(name)

    return write


def test_a_killed_runs_extra_parts_are_not_published_by_a_writer_that_clears(
    tmp_path: Path,
) -> None:
    """A killed 16-partition run left part-00010; this run writes 2 parts."""
    out = tmp_path / "scores"
    leftover = tmp_path / ".scores.partial"
    (leftover / "part-00003").mkdir(parents=True)
    (leftover / "part-00010.parquet").write_text("from a killed run of 16 partitions")
    publish(out, _write(["part-00000.parquet", "part-00001.parquet"], first=clear))
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]


def test_a_second_run_replaces_the_first_whole(tmp_path: Path) -> None:
    out = tmp_path / "scores"
    publish(out, _write(["a", "b"]))
    publish(out, _write(["c"]))
    assert [p.name for p in out.iterdir()] == ["c"]
    assert len(list(tmp_path.glob(".scores.[0-9]*"))) == 1  # the old version is gone
