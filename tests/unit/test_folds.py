"""Backtest folds: no fold trains on a label that was unknown when its test period began."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import BacktestConfig
from training.folds import backtest_folds, unit_hash

START = datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def snapshot_rows(draw: st.DrawFn) -> pl.DataFrame:
    """Weekly-ish snapshots of a few leads over a year, some at the same instant."""
    leads = draw(st.integers(2, 12))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, leads - 1), st.integers(0, 365 * 24)),
            min_size=6,
            max_size=120,
        )
    )
    return pl.DataFrame(
        {
            "lead_id": [f"L{lead}" for lead, _ in rows],
            "as_of": [START + timedelta(hours=h) for _, h in rows],
        }
    )


@settings(max_examples=150, deadline=None)
@given(
    rows=snapshot_rows(),
    folds=st.integers(2, 5),
    share=st.floats(0.1, 0.6),
    horizon=st.integers(1, 60),
)
def test_no_fold_trains_on_a_label_window_reaching_into_its_test_period(
    rows: pl.DataFrame, folds: int, share: float, horizon: int
) -> None:
    config = BacktestConfig(folds=folds, test_share=share)
    as_of = rows["as_of"].to_list()
    tested = np.zeros(rows.height, dtype=int)
    for fold in backtest_folds(rows, config, horizon):
        assert fold.start is not None
        assert not set(fold.train) & set(fold.test)
        tested[fold.test] += 1
        for i in fold.test:
            assert as_of[i] >= fold.start
        for i in fold.train:
            # The label window [as_of, as_of + horizon) closed by the period's start ...
            assert as_of[i] + timedelta(days=horizon) <= fold.start
        # ... so a lead's snapshots from the period on are never on the training side.
        later = {i for i, t in enumerate(as_of) if t >= fold.start}
        assert not later & set(fold.train)
    assert tested.max() <= 1  # the test periods do not overlap


def test_time_folds_are_consecutive_periods_of_the_newest_rows() -> None:
    days = [START + timedelta(days=d) for d in range(100)]
    rows = pl.DataFrame({"lead_id": [f"L{d % 7}" for d in range(100)], "as_of": days})
    folds = backtest_folds(rows, BacktestConfig(folds=3, test_share=0.3), horizon_days=10)
    assert [len(f.test) for f in folds] == [10, 10, 10]
    assert [f.start for f in folds] == [days[70], days[80], days[90]]
    assert list(folds[0].train) == list(range(61))  # day 60 + 10 days closes on day 70
    assert list(folds[2].train) == list(range(81))


@settings(max_examples=60, deadline=None)
@given(rows=snapshot_rows(), folds=st.integers(2, 5), seed=st.integers(0, 5))
def test_random_folds_test_every_row_once_and_keep_a_lead_together(
    rows: pl.DataFrame, folds: int, seed: int
) -> None:
    config = BacktestConfig(mode="random", folds=folds, seed=seed)
    leads = rows["lead_id"].to_list()
    tested = np.zeros(rows.height, dtype=int)
    for fold in backtest_folds(rows, config, horizon_days=30):
        assert fold.start is None
        tested[fold.test] += 1
        assert sorted([*fold.train, *fold.test]) == list(range(rows.height))
        assert not {leads[i] for i in fold.test} & {leads[i] for i in fold.train}
    assert (tested == 1).all()


def test_the_lead_hash_is_blake2b_of_seed_and_id_over_two_to_the_64() -> None:
    """Splits and the routing holdout stay where stored decisions and models put them."""
    ids = ["L1", "lead-0000042", "ż", ""] + [f"x{i}" for i in range(1000)]
    expected = [
        int.from_bytes(hashlib.blake2b(f"7:{i}".encode(), digest_size=8).digest(), "big") / 2**64
        for i in ids
    ]
    assert unit_hash(ids, 7).tolist() == expected
    assert len(unit_hash([], 7)) == 0
