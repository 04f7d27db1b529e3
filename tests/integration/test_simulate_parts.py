"""`leadscore simulate --partitions N`: hash partitions drawn in blocks, every lead where
features/partition.py puts it with all its rows, the same funnel as a run in one piece, and a
folder that appears only when complete."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features import contract as c
from features.errors import LeadscoreError
from features.partition import part_folders, partition_of
from features.tables import check_folder, load_data
from leadscore.cli import main
from leadscore.engine.config import EngineConfig
from leadscore.engine.parts import partitions
from leadscore.settings import default_config, load_config
from leadscore.simulator import blocks
from leadscore.simulator.blocks import PartitionedRun, simulate_partitioned
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.simulate import DriftChoice

CONFIG = load_config(default_config("simulate"), SimulationConfig)
SMALL = CONFIG.model_copy(update={"block_leads": 250})  # 3 blocks of 200 leads a month
MONTHS, PER_MONTH, SEED, PARTS = 3, 600, 4, 4
TABLES = (*c.TABLES, c.TRUTH)
Tables = dict[str, pl.DataFrame]


def _simulate(out: Path, parts: int, config: SimulationConfig = SMALL, **drift: str) -> None:
    choice = DriftChoice(drift["name"], 1) if drift else None
    simulate_partitioned(config, out, PartitionedRun(MONTHS, PER_MONTH, SEED, parts), choice)


def _together(out: Path) -> Tables:
    """Every partition's tables, concatenated, each row once; rows in a canonical order."""
    keys = {c.LEADS: [c.LEAD_ID], c.TRUTH: [c.LEAD_ID]}
    together = {}
    for name in TABLES:
        frames = [pl.read_parquet(folder / f"{name}.parquet") for folder in part_folders(out)]
        order = keys.get(name, [c.LEAD_ID, c.TS, c.EVENT_TYPE if name == c.EVENTS else c.STAGE])
        together[name] = pl.concat(frames).sort(order, maintain_order=True)
    return together


@pytest.fixture(scope="module")
def parted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parted") / "data"
    _simulate(out, PARTS)
    return out


def test_every_lead_and_its_rows_lie_in_the_partition_of_its_id(parted: Path) -> None:
    folders = part_folders(parted)
    assert [f.name for f in folders] == [f"part-{k:05d}" for k in range(PARTS)]
    for k, folder in enumerate(folders):
        problems, data = check_folder(folder)
        assert problems == [] and data is not None
        for frame in (data.leads, data.events, data.stages):
            assert frame.select(partition_of(PARTS)).to_series().eq(k).all()
        truth = pl.read_parquet(folder / f"{c.TRUTH}.parquet")
        assert truth[c.LEAD_ID].to_list() == data.leads[c.LEAD_ID].to_list()
    with partitions(str(parted), EngineConfig(engine="dask")) as found:  # read where it lies
        assert found == [str(folder) for folder in folders]


def test_no_lead_or_row_is_lost_or_doubled_at_any_partition_count(
    parted: Path, tmp_path: Path
) -> None:
    t = _together(parted)
    n = MONTHS * PER_MONTH
    assert t[c.LEADS][c.LEAD_ID].to_list() == [f"L{i:07d}" for i in range(1, n + 1)]
    created = t[c.LEADS][c.CREATED_AT]
    assert created.is_sorted()  # numbers follow creation time across blocks and months
    months = created.dt.month().value_counts().sort(c.CREATED_AT)["count"].to_list()
    assert months == [PER_MONTH] * MONTHS
    mql = t[c.STAGES].filter(pl.col(c.STAGE) == c.MQL)
    assert mql[c.LEAD_ID].is_unique().all() and mql.height == n
    for name in (c.EVENTS, c.STAGES):
        assert t[name][c.LEAD_ID].is_in(t[c.LEADS][c.LEAD_ID].implode()).all()
    _simulate(tmp_path / "seven", 7)  # the same blocks, cut another way
    seven = _together(tmp_path / "seven")
    for name in TABLES:
        assert seven[name].equals(t[name]), name


def test_the_funnel_is_the_one_piece_runs_within_sampling_error(
    sim_dir: Path, tmp_path: Path
) -> None:
    """sim_dir is 12 months × 1,500 leads drawn in one piece; the same sizes in blocks of
    500 leads. Each share within 4 binomial standard errors of the other run's."""
    config = CONFIG.model_copy(update={"block_leads": 500})
    run = PartitionedRun(12, 1_500, 8, 3)
    summary = simulate_partitioned(config, tmp_path / "parted", run)
    whole = load_data(sim_dir)
    parts = [load_data(folder) for folder in part_folders(tmp_path / "parted")]
    blocked = [pl.concat([getattr(p, name) for p in parts]) for name in ("leads", "events")]
    assert summary["leads"] == blocked[0].height == whole.leads.height
    assert summary["events"] == blocked[1].height

    def shares(leads: pl.DataFrame, events: pl.DataFrame, stages: pl.DataFrame) -> dict:
        n = leads.height
        latest = stages.group_by(c.LEAD_ID).agg(pl.col(c.STAGE).sort_by(c.TS).last())
        reached = stages.group_by(c.STAGE).agg(pl.col(c.LEAD_ID).n_unique())
        out = {f"reached {s}": n_ / n for s, n_ in reached.iter_rows()}
        out |= {f"now {s}": k / n for s, k in latest[c.STAGE].value_counts().iter_rows()}
        out |= {f"source {s}": k / n for s, k in leads[c.SOURCE].value_counts().iter_rows()}
        seen = events.group_by(c.EVENT_TYPE).agg(pl.col(c.LEAD_ID).n_unique())
        return out | {f"any {e}": k / n for e, k in seen.iter_rows()}

    one = shares(whole.leads, whole.events, whole.stages)
    other = shares(*blocked, pl.concat([p.stages for p in parts]))
    assert one.keys() == other.keys()
    n = whole.leads.height
    for name, p in one.items():
        se = np.sqrt(2 * max(p * (1 - p), 1 / n) / n)
        assert abs(other[name] - p) <= 4 * se, f"{name}: {other[name]:.4f} vs {p:.4f}"
    per_lead = [frame.height / n for frame in (whole.events, blocked[1])]
    assert abs(per_lead[1] / per_lead[0] - 1) < 0.05, per_lead


@pytest.mark.parametrize("name", ["source_conversion_halves", "new_source", "event_type_stops"])
def test_drift_changes_only_what_follows_it(parted: Path, tmp_path: Path, name: str) -> None:
    """Each block draws a drift from a side stream, as a run in one piece does: the rows the
    drift leaves alone are the undrifted run's, to the byte."""
    _simulate(tmp_path / name, PARTS, name=name)
    base, drifted = _together(parted), _together(tmp_path / name)
    at = datetime(CONFIG.start.year, CONFIG.start.month + 1, 1, tzinfo=UTC)
    early = pl.col(c.CREATED_AT) < at
    assert drifted[c.LEADS].filter(early).equals(base[c.LEADS].filter(early))
    if name == "new_source":
        newcomer = drifted[c.LEADS][c.SOURCE] == CONFIG.drift.new_source.source
        assert newcomer.any() and not newcomer.filter(drifted[c.LEADS][c.CREATED_AT] < at).any()
    elif name == "source_conversion_halves":
        assert drifted[c.LEADS].equals(base[c.LEADS])  # only outcomes change
        halved = base[c.LEADS].filter(
            pl.col(c.SOURCE) == CONFIG.drift.source_conversion_halves.source
        )
        sqls = [
            t[c.STAGES]
            .filter(pl.col(c.STAGE) == c.SQL, pl.col(c.TS) >= at)
            .join(halved, on=c.LEAD_ID)
            .height
            for t in (base, drifted)
        ]
        assert sqls[1] < 0.8 * sqls[0], sqls
    else:
        stopped = pl.col(c.EVENT_TYPE) == CONFIG.drift.event_type_stops.event_type
        assert drifted[c.EVENTS].equals(base[c.EVENTS].filter(~stopped | (pl.col(c.TS) < at)))
        for table in (c.LEADS, c.STAGES, c.TRUTH):
            assert drifted[table].equals(base[table]), table


def test_a_failed_run_publishes_nothing_and_keeps_the_last_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    calls = []

    def fail_on_second_block(self: blocks.PartFiles, tables: Tables) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        original(self, tables)

    original = blocks.PartFiles.append
    with monkeypatch.context() as patch:
        patch.setattr(blocks.PartFiles, "append", fail_on_second_block)
        with pytest.raises(LeadscoreError, match="No space left"):
            _simulate(out, PARTS)
    assert not out.exists() and part_folders(out) == []
    # A killed run's leftovers (here a partition of an 8-way run) are never published.
    stale = tmp_path / ".data.partial" / "part-00007"
    stale.mkdir(parents=True)
    (stale / f"{c.LEADS}.parquet").write_bytes(b"old")
    _simulate(out, PARTS)
    first = {p: p.read_bytes() for p in sorted(out.rglob("*.parquet"))}
    assert [f.name for f in part_folders(out)] == [f"part-{k:05d}" for k in range(PARTS)]
    calls.clear()
    with monkeypatch.context() as patch:
        patch.setattr(blocks.PartFiles, "append", fail_on_second_block)
        with pytest.raises(LeadscoreError, match="No space left"):
            _simulate(out, PARTS)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*.parquet"))} == first


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_bad_partition_count_is_one_line_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    out = tmp_path / "data"
    assert main(["simulate", "--out", str(out), "--months", "1", "--partitions", value]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--partitions" in err and "Traceback" not in err
    assert not out.exists()


def test_an_unpartitioned_folder_is_not_overwritten(
    sim_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in sim_dir.iterdir())
    argv = ["simulate", "--out", str(sim_dir), "--months", "1", "--partitions", "2"]
    assert main(argv) == 1
    assert "--out" in capsys.readouterr().err
    assert sorted(p.name for p in sim_dir.iterdir()) == before
