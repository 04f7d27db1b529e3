"""Differential tests: the request path gives exactly the data-folder path's vectors.

`record_features` (a LeadRecord built from a lead's table rows, the way a caller would send it)
and `table_features` (the tables themselves) must agree on every column, value and category
code for many leads and moments. A few features are also recomputed from the raw files with
pandas, outside the searchsorted kernel, so that both paths cannot be wrong together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from features import behaviour, vectors
from features.config import FeatureConfig
from features.contract import KNOWN_EVENT_TYPES
from features.spec import FeatureSpec
from features.tables import LeadData, load_data, table_path
from features.vectors import (
    LeadRecord,
    block_frame,
    record_features,
    table_features,
    to_matrix,
    to_ms,
)

UTC_US = pl.Datetime("us", "UTC")
DAY_US = 86_400_000_000
ROWS = 600


def generate_folder(folder: Path, n_leads: int = 800, seed: int = 7) -> Path:
    """A funnel with events before creation, unknown event types, blanks, a CSV table."""
    rng = np.random.default_rng(seed)
    start = to_ms(datetime(2025, 1, 1, tzinfo=UTC)) * 1000
    created = start + rng.integers(0, 180 * DAY_US, n_leads)
    ids = [f"G{i:05d}" for i in range(n_leads)]
    sources = rng.choice(
        ["web", "paid", "partner", "events", "rare"], n_leads, p=[0.4, 0.3, 0.2, 0.09, 0.01]
    )
    industry = rng.choice(["saas", "retail", "health", ""], n_leads)
    size = np.where(rng.random(n_leads) < 0.1, np.nan, rng.integers(1, 500, n_leads))
    leads = pl.DataFrame(
        {
            "lead_id": ids,
            "created_at": pl.Series(created).cast(UTC_US),
            "source": sources,
            "partner_id": pl.Series(
                np.where(sources == "partner", rng.choice(["P1", "P2"], n_leads), None).tolist(),
                dtype=pl.String,
            ),
            "industry": pl.Series(industry).replace("", None),
            "company_size": pl.Series(size).fill_nan(None),
        }
    )
    per_lead = rng.poisson(30, n_leads)
    owner = np.repeat(np.arange(n_leads), per_lead)
    # Mostly after creation, some before (a cookie seen before the form), microsecond times.
    ts = created[owner] + rng.integers(-5 * DAY_US, 200 * DAY_US, len(owner))
    kinds = rng.choice([*KNOWN_EVENT_TYPES, "chat_started"], len(owner))
    events = pl.DataFrame(
        {
            "lead_id": np.array(ids)[owner],
            "ts": pl.Series(ts).cast(UTC_US),
            "event_type": kinds,
        }
    )
    stage_rows = []
    for i in range(n_leads):
        t = int(created[i])
        stage_rows.append((ids[i], t, "MQL", None))
        if rng.random() < 0.3:
            t += int(rng.integers(1, 60 * DAY_US))
            stage_rows.append((ids[i], t, "SQL", None))
            t += int(rng.integers(1, 60 * DAY_US))
            won = rng.random() < 0.4
            stage_rows.append((ids[i], t, "WON" if won else "LOST", 900.0 if won else None))
        elif rng.random() < 0.5:
            stage_rows.append((ids[i], t + int(rng.integers(1, 90 * DAY_US)), "NURTURE", None))
    stages = pl.DataFrame(
        stage_rows,
        schema={"lead_id": pl.String, "ts": pl.Int64, "stage": pl.String, "mrr": pl.Float64},
        orient="row",
    ).with_columns(pl.col("ts").cast(UTC_US))
    folder.mkdir(parents=True, exist_ok=True)
    leads.write_parquet(folder / "leads.parquet")
    events.write_parquet(folder / "events.parquet")
    stages.write_csv(folder / "stages.csv")
    return folder


@pytest.fixture(scope="module", params=["simulated", "generated"])
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's simulated funnel, and one of ours with what the simulator never writes."""
    if request.param == "simulated":
        return Path(request.getfixturevalue("sim_dir"))
    return generate_folder(tmp_path_factory.mktemp("parity") / "data")


@pytest.fixture(scope="module")
def data(folder: Path) -> LeadData:
    return load_data(folder)


@pytest.fixture(scope="module")
def spec(data: LeadData) -> FeatureSpec:
    return FeatureSpec.fit(FeatureConfig(), data.leads)


@pytest.fixture(scope="module")
def records(data: LeadData) -> dict[str, LeadRecord]:
    """Each lead as a caller would send it: its row's values and all its events, newest first."""
    events = (
        data.events.sort("ts", descending=True)
        .group_by("lead_id")
        .agg(pl.struct("ts", "event_type").alias("events"))
    )
    rows = data.leads.join(events, on="lead_id", how="left")
    attributes = data.attribute_columns
    return {
        row["lead_id"]: LeadRecord(
            lead_id=row["lead_id"],
            created_at=row["created_at"],
            source=row["source"],
            partner_id=row.get("partner_id"),
            attributes={name: row[name] for name in attributes},
            events=[(e["ts"], e["event_type"]) for e in row["events"] or []],
        )
        for row in rows.iter_rows(named=True)
    }


def sample_rows(data: LeadData, n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Random (lead, as_of in µs): around its life, exactly at or a µs beside one of its events."""
    rng = np.random.default_rng(seed)
    leads = data.leads.select("lead_id", pl.col("created_at").dt.epoch("us").alias("c"))
    pick = rng.integers(0, leads.height, n)
    ids = leads["lead_id"].gather(pick).to_list()
    as_of = leads["c"].to_numpy()[pick] + rng.integers(-3 * DAY_US, 150 * DAY_US, n)
    ts_of = data.events.group_by("lead_id").agg(pl.col("ts").dt.epoch("us"))
    ts_of = dict(zip(ts_of["lead_id"].to_list(), ts_of["ts"].to_list(), strict=True))
    for k in range(0, n, 3):
        if ts_of.get(ids[k]):
            as_of[k] = rng.choice(ts_of[ids[k]]) + rng.choice([-1, 0, 1, 1000])
    end_us = to_ms(data.end) * 1000
    as_of[n - 10 :] = end_us
    return ids, as_of


def as_datetimes(as_of_us: np.ndarray) -> list[datetime]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [epoch + timedelta(microseconds=int(us)) for us in as_of_us]


def test_record_path_equals_table_path(
    data: LeadData, spec: FeatureSpec, records: dict[str, LeadRecord]
) -> None:
    ids, as_of_us = sample_rows(data, ROWS)
    moments = as_datetimes(as_of_us)
    table = table_features(data, spec, ids, np.array([to_ms(t) for t in moments]))
    record = record_features(spec, [records[i] for i in ids], moments)
    assert table.lead_ids == record.lead_ids
    assert np.array_equal(table.as_of_ms, record.as_of_ms)
    table_matrix, record_matrix = to_matrix(spec, table), to_matrix(spec, record)
    assert table_matrix.shape == (ROWS, len(spec.feature_names))
    mismatch = ~(
        (table_matrix == record_matrix) | (np.isnan(table_matrix) & np.isnan(record_matrix))
    )
    assert not mismatch.any(), [spec.feature_names[j] for j in np.flatnonzero(mismatch.any(axis=0))]
    assert block_frame(spec, table).equals(block_frame(spec, record))
    # The sample is not trivial: events were counted, and categories were coded and missed.
    assert (table_matrix[:, spec.feature_names.index("any_count_all")] > 0).mean() > 0.5
    codes = table_matrix[:, spec.categorical_indices]
    assert np.isfinite(codes).any() and np.isnan(codes).any()


def test_one_lead_at_a_time_equals_the_batch(
    data: LeadData, spec: FeatureSpec, records: dict[str, LeadRecord]
) -> None:
    ids, as_of_us = sample_rows(data, 60, seed=1)
    moments = as_datetimes(as_of_us)
    batch = to_matrix(spec, record_features(spec, [records[i] for i in ids], moments))
    single = np.vstack(
        [
            to_matrix(spec, record_features(spec, [records[i]], [t]))
            for i, t in zip(ids, moments, strict=True)
        ]
    )
    assert np.array_equal(batch, single, equal_nan=True)


def test_table_features_on_threads_equal_one_pass(
    data: LeadData, spec: FeatureSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's features are computed in row chunks on a thread pool and its event index
    sorted by two threads at once; neither may change a value or the row order."""
    ids, as_of_us = sample_rows(data, ROWS, seed=2)
    as_of_ms = as_of_us // 1000
    whole = to_matrix(spec, table_features(data, spec, ids, as_of_ms))
    monkeypatch.setattr(vectors, "CHUNK_ROWS", 37)  # 17 chunks of the 600 rows
    monkeypatch.setattr(behaviour, "PARALLEL_SORT", 0)  # any index sorts on two threads
    chunked = table_features(data, spec, ids, as_of_ms)
    assert chunked.lead_ids == list(ids)
    assert np.array_equal(to_matrix(spec, chunked), whole, equal_nan=True)


def read_raw(folder: Path, table: str) -> pd.DataFrame:
    path = table_path(folder, table)
    assert path is not None
    raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    column = "created_at" if table == "leads" else "ts"
    raw[column] = pd.to_datetime(raw[column], utc=True, format="ISO8601").dt.floor("ms")
    return raw


@pytest.mark.parametrize("moment", ["at an event", "between events", "data end"])
def test_features_match_a_direct_pandas_computation(
    folder: Path, data: LeadData, spec: FeatureSpec, moment: str
) -> None:
    events, leads = read_raw(folder, "events"), read_raw(folder, "leads")
    busiest = events["lead_id"].value_counts().index[0]
    mine = events[events["lead_id"] == busiest].sort_values("ts")
    middle = mine["ts"].iloc[len(mine) // 2]
    as_of = {
        "at an event": middle,
        "between events": middle + pd.Timedelta(days=3, hours=5),
        "data end": pd.Timestamp(data.end).floor("ms"),
    }[moment]
    known = mine[mine["ts"] < as_of]
    day = pd.Timedelta(days=1)

    def within(days: int, kind: str | None = None) -> int:
        rows = known[known["ts"] >= as_of - days * day]
        return int(len(rows) if kind is None else (rows["event_type"] == kind).sum())

    created = leads.loc[leads["lead_id"] == busiest, "created_at"].iloc[0]
    pricing = known[known["event_type"] == "pricing_view"]["ts"]
    recent, baseline = within(7), within(37) - within(7)
    expected = {
        "page_view_count_7d": within(7, "page_view"),
        "email_open_count_90d": within(90, "email_open"),
        "any_count_30d": within(30),
        "any_count_all": len(known),
        "other_count_all": int((~known["event_type"].isin(KNOWN_EVENT_TYPES)).sum()),
        "any_days_since_last": (as_of - known["ts"].max()) / day,
        "pricing_view_days_since_first": (as_of - pricing.min()) / day if len(pricing) else np.nan,
        "any_active_days_all": known["ts"].dt.normalize().nunique(),
        "lead_age_days": (as_of - created) / day,
        "any_trend_7d_vs_30d": (recent + 1) / (baseline * 7 / 30 + 1),
        "webinar_attended_flag_all": float((known["event_type"] == "webinar_attended").any()),
    }
    assert len(known) > 5  # a lead with a real history at that moment
    as_of_ms = np.array([int(as_of.value // 1_000_000)])
    row = to_matrix(spec, table_features(data, spec, [busiest], as_of_ms))[0]
    got = {name: row[spec.feature_names.index(name)] for name in expected}
    assert got == pytest.approx(expected, rel=1e-12, nan_ok=True)
