"""The behaviour feature table: what a model reads must not move when the code around it does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.catalog import Behaviour, behaviour_table
from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.tables import load_data
from features.vectors import (
    FeatureBlock,
    LeadRecord,
    block_frame,
    record_features,
    table_features,
    to_ms,
)


def test_the_spec_hash_of_unchanged_definitions_is_unchanged() -> None:
    """Hashes recorded on the code of issue 14: a model trained then still reads its input."""
    default = FeatureSpec(FeatureConfig(), {"source": ("web", "paid")}, ("company_size",))
    assert default.hash == "2d01f9f3f1ac"
    assert len(default.behaviour_names) == 109
    other = FeatureSpec(
        FeatureConfig(windows_days=(7, 30), intent_onset_days=14), {"source": ("web",)}, ()
    )
    assert other.hash == "82fd0a06b21b"


BASE = datetime(2026, 3, 1, tzinfo=UTC)
AS_OF = BASE + timedelta(days=30)
# Days after BASE: demo requests 10, 20 and 27 days in (one more after as_of), pricing views.
EVENTS = [
    (BASE + timedelta(days=d), kind)
    for d, kind in (
        (2, "pricing_view"),
        (10, "demo_request"),
        (20, "demo_request"),
        (24, "pricing_view"),
        (27, "demo_request"),
        (31, "demo_request"),
    )
]
LEAD = LeadRecord("A", BASE, "web", events=EVENTS)
# (declaration, what it must read for LEAD at AS_OF)
EXTRA = [
    (Behaviour("demo_request_count_14d", "count", ("demo_request",), 14), 2.0),
    (Behaviour("pricing_view_days_since_last_7d", "days_since_last", ("pricing_view",), 7), 6.0),
    (Behaviour("pricing_view_days_since_last_3d", "days_since_last", ("pricing_view",), 3), None),
    (
        Behaviour(
            "demo_or_pricing_days_since_first_25d",
            "days_since_first",
            ("demo_request", "pricing_view"),
            25,
        ),
        20.0,
    ),
    (Behaviour("demo_request_flag_5d", "flag", ("demo_request",), 5), 1.0),
    (Behaviour("demo_request_trend_7d_vs_28d", "trend", ("demo_request",), 7, 28), 2.0 / 1.5),
]


@pytest.mark.parametrize(("extra", "expected"), EXTRA, ids=[e.name for e, _ in EXTRA])
def test_adding_a_behaviour_feature_is_one_declaration(
    extra: Behaviour, expected: float | None, make_folder: Callable[..., Path]
) -> None:
    """One line added to the table gives the feature its name, its column in both entry
    points, and its place in the frame `leadscore features` writes."""
    config = FeatureConfig(min_category_count=1)
    standard = FeatureSpec(config, {"source": ("web",)}, ())
    spec = FeatureSpec(config, {"source": ("web",)}, (), (*behaviour_table(config), extra))
    assert spec.behaviour_names == [*standard.behaviour_names, extra.name]
    assert spec.feature_names.index(extra.name) == len(standard.behaviour_names)
    assert spec.hash != standard.hash  # a model trained without it does not read it
    from_request = record_features(spec, [LEAD], [AS_OF])
    value = from_request.behaviour[0, -1]
    assert np.isnan(value) if expected is None else value == pytest.approx(expected)
    # The other columns are what the standard table computes.
    assert np.array_equal(
        from_request.behaviour[:, :-1],
        record_features(standard, [LEAD], [AS_OF]).behaviour,
        equal_nan=True,
    )
    folder = make_folder(
        [{"lead_id": "A", "created_at": BASE.isoformat(), "source": "web"}],
        [{"lead_id": "A", "ts": ts.isoformat(), "event_type": kind} for ts, kind in EVENTS],
        [],
    )
    from_table = table_features(load_data(folder), spec, ["A"], np.array([to_ms(AS_OF)]))
    assert np.array_equal(from_table.behaviour, from_request.behaviour, equal_nan=True)
    written = block_frame(spec, from_table)
    assert written.columns[2 + len(standard.behaviour_names)] == extra.name


@pytest.mark.parametrize(
    ("declare", "problem"),
    [
        (lambda: Behaviour("x", "count", ("demo_request",), 0), "at least 1"),
        (lambda: Behaviour("x", "trend", None, 7), "a trend needs baseline_days"),
        (lambda: Behaviour("x", "count", None, 7, 30), "a trend needs baseline_days"),
        (lambda: Behaviour("x", "age", ("demo_request",)), "takes no events or window"),
    ],
)
def test_a_declaration_that_cannot_be_computed_is_refused(
    declare: Callable[[], Behaviour], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        declare()


def test_a_feature_on_an_event_type_the_config_does_not_know_is_refused() -> None:
    config = FeatureConfig()
    spec = FeatureSpec(
        config, {}, (), (*behaviour_table(config), Behaviour("x", "count", ("fax_sent",)))
    )
    with pytest.raises(ValueError, match="unknown event types.*fax_sent"):
        record_features(spec, [LEAD], [AS_OF])


def test_epoch_milliseconds_are_floored_as_polars_floors_them() -> None:
    """Requests and data files must put an event in the same millisecond: `to_ms` (requests)
    against polars' `dt.epoch("ms")` (files), before and after 1970, at every offset."""
    rng = np.random.default_rng(7)
    moments = [datetime(1, 1, 1, 0, 0, 0, 1), datetime(9999, 12, 31, 23, 59, 59, 999_999)]
    for micros, minutes in zip(
        rng.integers(-2 * 10**15, 4 * 10**15, 300), rng.integers(-1439, 1440, 300), strict=True
    ):
        zone = timezone(timedelta(minutes=int(minutes)))
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
        moments += [moment.astimezone(zone), moment.replace(tzinfo=None)]
    utc = [m if m.tzinfo else m.replace(tzinfo=UTC) for m in moments]
    expected = pl.Series(utc, dtype=pl.Datetime("us", "UTC")).dt.epoch("ms").to_list()
    assert [to_ms(m) for m in moments] == expected


def test_a_block_s_rows_taken_by_slice_are_those_taken_by_position() -> None:
    """The nightly batch takes its chunks as slices; any other caller by positions."""
    block = FeatureBlock(
        [f"L{i}" for i in range(10)],
        np.arange(10, dtype=np.int64),
        np.arange(30, dtype=np.float64).reshape(10, 3),
        {"source": [f"s{i}" for i in range(10)], "employees": [float(i) for i in range(10)]},
    )
    by_slice, by_position = block.take(slice(3, 7)), block.take(np.arange(3, 7))
    assert by_slice.lead_ids == by_position.lead_ids == ["L3", "L4", "L5", "L6"]
    assert by_slice.static == by_position.static and by_slice.static["source"][0] == "s3"
    assert np.array_equal(by_slice.behaviour, by_position.behaviour)
    assert np.array_equal(by_slice.as_of_ms, [3, 4, 5, 6])
    assert block.take(np.array([9, 0])).lead_ids == ["L9", "L0"]
