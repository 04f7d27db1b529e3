"""serving/publish.py: what a folder publishes is exactly what this run wrote."""

from __future__ import annotations

from pathlib import Path

from serving.publish import publish


def _write(names: list[str]):
    def write(folder: Path) -> None:
        for name in names:
            (folder / name).write_text(name)

    return write


def test_a_killed_runs_leftovers_are_not_published_with_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "scores"
    leftover = tmp_path / ".scores.partial"
    leftover.mkdir()
    (leftover / "part-00010.parquet").write_text("from a killed run of 16 partitions")
    publish(out, _write(["part-00000.parquet", "part-00001.parquet"]))
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]


def test_a_second_run_replaces_the_first_whole(tmp_path: Path) -> None:
    out = tmp_path / "scores"
    publish(out, _write(["a", "b"]))
    publish(out, _write(["c"]))
    assert [p.name for p in out.iterdir()] == ["c"]
    assert len(list(tmp_path.glob(".scores.[0-9]*"))) == 1  # the old version is gone
