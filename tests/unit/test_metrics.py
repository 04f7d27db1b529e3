"""Metrics against hand computations on arrays small enough to check on paper."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    captured,
    expected_calibration_error,
    kaplan_meier_share,
    lift_at,
    recall_at_capacity,
    velocity_calibration,
    velocity_metrics,
)


def test_ece_is_the_weighted_gap_per_bin() -> None:
    y = np.array([0, 0, 1, 1, 1, 0], dtype=float)
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    # Two equal-count bins: {0.1, 0.2, 0.3} observed 1/3 vs mean 0.2; {0.7, 0.8, 0.9} 2/3 vs 0.8.
    expected = 0.5 * abs(1 / 3 - 0.2) + 0.5 * abs(2 / 3 - 0.8)
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(expected)


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    y = np.array([0, 1, 0, 1], dtype=float)
    p = np.full(4, 0.5)
    assert expected_calibration_error(y, p, bins=1) == pytest.approx(0.0)


def test_lift_in_top_decile() -> None:
    y = np.zeros(20)
    y[[0, 1, 10, 11]] = 1  # base rate 0.2
    p = np.linspace(1.0, 0.0, 20)  # the top 10% are rows 0 and 1, both converted
    assert lift_at(y, p, 0.1) == pytest.approx(1.0 / 0.2)


def test_recall_at_capacity_ranks_within_each_day() -> None:
    y = np.array([1, 0, 1, 1, 0, 1], dtype=float)
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.6])
    day = np.array([1, 1, 1, 2, 2, 2])
    # One lead a day: day 1 takes row 0 (converted), day 2 takes row 4 (not): 1 of 4 found.
    assert recall_at_capacity(y, p, day, 1) == pytest.approx(0.25)
    assert recall_at_capacity(y, p, day, 3) == pytest.approx(1.0)


def test_expected_capture_at_capacity_breaks_ties_at_random() -> None:
    # Day 1, k = 2: 0.9 (y 0) is taken; the tie at 0.5 (y 1, 0) gets one place of two → 0.5.
    # Day 2, k = 2: a three-way tie (y 1, 1, 0) gets two places of three → 2 × 2/3.
    y = np.array([0, 1, 0, 1, 1, 1, 0])
    score = np.array([0.9, 0.5, 0.5, 0.1, 1.0, 1.0, 1.0])
    day = np.array([1, 1, 1, 1, 2, 2, 2])
    assert captured(y, score, day, 2) == pytest.approx(0.5 + 4 / 3)
    # Random order: 2 of 4 places × 2 positives, and 2 of 3 × 2.
    assert captured(y, np.zeros(7), day, 2) == pytest.approx(1 + 4 / 3)
    assert captured(y, score, day, 10) == pytest.approx(y.sum())


def test_recall_at_capacity_counts_a_tie_at_the_last_place_by_its_chance() -> None:
    y = np.array([1, 0, 0], dtype=float)
    p = np.array([0.5, 0.5, 0.1])
    day = np.array([1, 1, 1])
    # One place, two leads tied for it: the converted one is taken half the time.
    assert recall_at_capacity(y, p, day, 1) == pytest.approx(0.5)
    assert recall_at_capacity(y, p, day, 2) == pytest.approx(1.0)


def test_c_index_counts_censored_rows_as_lower_bounds() -> None:
    remaining = np.array([10.0, 20.0, 30.0, 40.0])
    observed = np.array([True, True, False, True])
    # Predict sign-soon chances that invert the order of times exactly: every comparable
    # pair is concordant. Comparable pairs start at an observed shorter time: (0,1), (0,2),
    # (0,3), (1,2), (1,3); (2,3) is not, since row 2 is censored first.
    p_sign = np.array([0.9, 0.7, 0.5, 0.3])
    zeros = np.zeros(4)
    perfect = velocity_metrics(remaining, observed, p_sign, zeros, zeros, 180)["c_index"]
    assert perfect == pytest.approx(1.0)
    swapped = np.array([0.7, 0.9, 0.5, 0.3])  # breaks pair (0,1) only: 4 of 5 concordant
    assert velocity_metrics(remaining, observed, swapped, zeros, zeros, 180)[
        "c_index"
    ] == pytest.approx(4 / 5)


def test_velocity_mae_uses_closed_deals_within_horizon() -> None:
    remaining = np.array([10.0, 50.0, 300.0, 20.0])
    observed = np.array([True, True, True, False])
    expected = np.array([20.0, 40.0, 0.0, 99.0])
    zeros = np.zeros(4)
    got = velocity_metrics(remaining, observed, zeros, expected, zeros, 180)["mae_days_closed"]
    assert got == pytest.approx((10 + 10) / 2)  # the 300-day deal and the open one are out


def test_kaplan_meier_share_matches_lifelines() -> None:
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(5)
    remaining = np.round(rng.exponential(60, 3000), 1)
    observed = rng.random(3000) < 0.4
    km = KaplanMeierFitter().fit(remaining, observed)
    for days in (15.0, 30.0, 90.0):
        expected = 1 - float(km.survival_function_at_times(days).iloc[0])
        assert kaplan_meier_share(remaining, observed, days) == pytest.approx(expected, abs=1e-12)


def test_velocity_calibration_compares_each_tercile_with_its_own_kaplan_meier() -> None:
    remaining = np.array([10.0, 50, 200, 5, 70, 300, 20, 40, 400])
    observed = np.array([True, True, False, True, False, False, True, True, False])
    low, mid, high = np.full(3, 0.1), np.full(3, 0.5), np.full(3, 0.9)
    predicted = {30: np.concatenate([low, mid, high]), 60: np.concatenate([low, mid, high])}
    got = velocity_calibration(remaining, observed, predicted)
    # tercile 1 = rows 0-2: signed on day 10 of three at risk → KM 1/3 by day 30
    assert got["tercile1_30d_kaplan_meier"] == pytest.approx(1 / 3)
    assert got["tercile1_30d_predicted"] == pytest.approx(0.1)
    assert got["tercile3_60d_kaplan_meier"] == pytest.approx(2 / 3)
    gaps = [
        abs(got[f"tercile{g}_{d}d_predicted"] - got[f"tercile{g}_{d}d_kaplan_meier"])
        for g in (1, 2, 3)
        for d in (30, 60)
    ]
    assert got["km_gap_max"] == pytest.approx(max(gaps))
