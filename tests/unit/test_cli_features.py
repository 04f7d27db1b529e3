"""`leadscore features`: one row per lead open at --as-of, lead_id first, nothing half-written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.tables import load_data
from leadscore.cli import main
from leadscore.settings import default_config, load_config

AS_OF = "2026-03-01T00:00:00Z"


def lead(lead_id: str, created_at: str, source: str = "web") -> dict[str, object]:
    return {"lead_id": lead_id, "created_at": created_at, "source": source, "industry": "saas"}


def stage(lead_id: str, ts: str, name: str, mrr: float | None = None) -> dict[str, object]:
    return {"lead_id": lead_id, "ts": ts, "stage": name, "mrr": mrr}


def event(lead_id: str, ts: str, kind: str) -> dict[str, object]:
    return {"lead_id": lead_id, "ts": ts, "event_type": kind}


LEADS = [
    lead("A", "2026-01-10"),  # no stage at all: open
    lead("B", "2026-02-01", "paid"),  # WON before as_of: closed
    lead("C", "2026-01-05"),  # LOST before as_of: closed
    lead("D", "2026-01-05", "partner"),  # LOST, then back to NURTURE: open again
    lead("E", "2026-01-15"),  # SQL; its WON at exactly as_of is not known yet: open
    lead("F", AS_OF),  # created at as_of: not yet a lead
    lead("G", "2026-03-05"),  # created after as_of
    lead("H", "2026-02-20", "paid"),  # LOST only after as_of: open
    lead("I", "2026-02-28T23:59:59"),  # created a second before as_of: open
]
STAGES = [
    stage("B", "2026-02-02", "MQL"),
    stage("B", "2026-02-05", "SQL"),
    stage("B", "2026-02-20", "WON", 1500.0),
    stage("C", "2026-01-06", "MQL"),
    stage("C", "2026-02-10", "LOST"),
    stage("D", "2026-01-06", "MQL"),
    stage("D", "2026-01-20", "LOST"),
    stage("D", "2026-02-15", "NURTURE"),
    stage("E", "2026-01-16", "MQL"),
    stage("E", "2026-02-01", "SQL"),
    stage("E", AS_OF, "WON", 800.0),
    stage("H", "2026-02-21", "MQL"),
    stage("H", "2026-03-10", "LOST"),
]
EVENTS = [
    event("A", "2026-02-20T10:00:00", "page_view"),
    event("A", "2026-02-27T00:00:00", "page_view"),
    event("A", AS_OF, "page_view"),  # at as_of: not yet known
    event("A", "2026-03-02", "page_view"),
    event("D", "2026-02-16", "webinar_attended"),
    event("G", "2026-03-06", "demo_request"),
]
OPEN = ["A", "D", "E", "H", "I"]


@pytest.fixture
def folder(make_folder: Callable[..., Path]) -> Path:
    return make_folder(LEADS, EVENTS, STAGES)


def run_features(folder: Path, out: Path, as_of: str = AS_OF) -> int:
    return main(["features", "--data", str(folder), "--as-of", as_of, "--out", str(out)])


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if "partial" in p.name]


def test_one_row_per_open_lead(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "features.parquet"
    assert run_features(folder, out) == 0
    stdout = capsys.readouterr().out
    frame = pl.read_parquet(out)
    assert sorted(frame["lead_id"].to_list()) == OPEN
    assert frame["lead_id"].n_unique() == frame.height
    assert frame.columns[0] == "lead_id"
    spec = FeatureSpec.fit(
        load_config(default_config("features"), FeatureConfig), load_data(folder).leads
    )
    assert frame.columns == ["lead_id", "as_of", *spec.feature_names]
    assert frame["as_of"].to_list() == [datetime(2026, 3, 1, tzinfo=UTC)] * len(OPEN)
    assert leftovers(tmp_path) == []
    assert f"{out}: {len(OPEN)} open leads × {len(spec.feature_names)} features" in stdout
    assert spec.hash in stdout


def test_values_use_only_what_was_known(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    assert run_features(folder, out) == 0
    rows = {row["lead_id"]: row for row in pl.read_parquet(out).iter_rows(named=True)}
    a, d = rows["A"], rows["D"]
    # A: page views on Feb 20 and Feb 27 count; the one at as_of and the one after do not.
    assert a["page_view_count_all"] == 2.0
    assert a["page_view_count_7d"] == 1.0
    assert a["any_days_since_last"] == 2.0
    assert a["lead_age_days"] == 50.0
    assert a["source"] == "web" and a["industry"] == "saas"
    assert d["webinar_attended_flag_all"] == 1.0 and a["webinar_attended_flag_all"] == 0.0
    assert d["source"] == "partner"


def test_csv_output(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.csv"
    assert run_features(folder, out) == 0
    frame = pl.read_csv(out)
    assert frame.columns[0] == "lead_id"
    assert sorted(frame["lead_id"].to_list()) == OPEN
    assert leftovers(tmp_path) == []


def test_overwrites_an_old_file(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    out.write_bytes(b"stale")
    assert run_features(folder, out) == 0
    assert pl.read_parquet(out).height == len(OPEN)
    assert leftovers(tmp_path) == []


def test_no_open_leads_writes_an_empty_table(folder: Path, tmp_path: Path) -> None:
    empty, usual = tmp_path / "empty.parquet", tmp_path / "usual.parquet"
    assert run_features(folder, empty, as_of="2025-06-01") == 0
    assert run_features(folder, usual) == 0
    frame = pl.read_parquet(empty)
    assert frame.height == 0
    assert frame.schema == pl.read_parquet(usual).schema


@pytest.mark.parametrize(
    ("out_name", "as_of", "message"),
    [
        ("features.txt", AS_OF, "features.txt: output must end in .parquet or .csv"),
        ("features.parquet", "March 1st", "'March 1st' is not a timestamp"),
    ],
)
def test_bad_arguments(
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    out_name: str,
    as_of: str,
    message: str,
) -> None:
    out = tmp_path / "out" / out_name
    assert run_features(folder, out, as_of=as_of) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []
