"""The monitor's statistics against independent computations on small hand-built data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from features.profile import PSI_FLOOR, Histogram, psi
from leadscore.monitor.checks import calibration, family_level, miscalibrated


def _psi_by_hand(expected: list[float], actual: list[float]) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_FLOOR), max(a, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def test_number_bins_come_from_the_reference_and_missing_values_have_their_own() -> None:
    # Half zeros, half ones: the deciles are 0 (×4), 0.5 and 1 (×4), so the bins are
    # (-inf, 0], (0, 0.5], (0.5, 1], (1, inf) and missing.
    reference = Histogram.of_numbers(np.array([0.0] * 50 + [1.0] * 50))
    assert reference.edges == (0.0, 0.5, 1.0)
    assert reference.shares == (0.5, 0.0, 0.5, 0.0, 0.0)
    later = np.array([0.0] * 80 + [1.0] * 10 + [np.nan] * 10)
    shares = reference.shares_of(later)
    assert shares == pytest.approx((0.8, 0.0, 0.1, 0.0, 0.1))
    expected = _psi_by_hand([0.5, 0.0, 0.5, 0.0, 0.0], [0.8, 0.0, 0.1, 0.0, 0.1])
    assert psi(reference.shares, shares) == pytest.approx(expected)
    assert expected > 0.25  # a different population by the usual reading


def test_values_beyond_the_reference_fall_in_the_outer_bins() -> None:
    reference = Histogram.of_numbers(np.arange(100, dtype=np.float64))
    shares = reference.shares_of(np.array([-1e9, 1e9, 1e9]))
    assert shares[0] == pytest.approx(1 / 3)
    assert shares[-2] == pytest.approx(2 / 3)  # the last bin before missing
    assert sum(shares) == pytest.approx(1.0)


def test_category_codes_each_get_a_bin_and_unseen_codes_count_as_missing() -> None:
    reference = Histogram.of_codes(np.array([0.0, 0.0, 1.0, 2.0]), categories=3)
    assert reference.shares == pytest.approx((0.5, 0.25, 0.25, 0.0))
    shares = reference.shares_of(np.array([0.0, 1.0, np.nan, 7.0]))
    assert shares == pytest.approx((0.25, 0.25, 0.0, 0.5))


def test_the_same_population_has_no_drift_and_psi_is_symmetric_in_its_terms() -> None:
    rng = np.random.default_rng(0)
    reference = Histogram.of_numbers(rng.normal(size=20_000))
    same = reference.shares_of(rng.normal(size=20_000))
    shifted = reference.shares_of(rng.normal(loc=1.0, size=20_000))
    assert psi(reference.shares, same) < 0.01
    assert psi(reference.shares, shifted) > 0.25
    a, b = {"x": 0.7, "y": 0.3}, {"x": 0.4, "z": 0.6}
    assert psi(a, b) == pytest.approx(_psi_by_hand([0.7, 0.3, 0.0], [0.4, 0.0, 0.6]))
    assert psi(a, b) == pytest.approx(psi(b, a))


def test_calibration_interval_is_wilson_s() -> None:
    y = np.array([1.0] * 3 + [0.0] * 37)
    p = np.full(40, 0.2)
    cal = calibration("all", y, p, level=0.99)
    scipy_ci = binomtest(3, 40).proportion_ci(confidence_level=0.99, method="wilson")
    assert cal.observed.rate == pytest.approx(0.075)
    assert (cal.observed.low, cal.observed.high) == pytest.approx((scipy_ci.low, scipy_ci.high))
    assert cal.predicted == pytest.approx(0.2)
    assert cal.ratio == pytest.approx(0.375)


def test_a_breach_needs_a_significant_and_a_material_gap() -> None:
    many = np.array([1.0] * 1_000 + [0.0] * 9_000)  # observed 0.10 on 10,000 rows

    def flagged(y: np.ndarray, predicted: float, level: float = 0.99) -> bool:
        cal = calibration("a", y, np.full(len(y), predicted), 0.95)
        return miscalibrated(cal, 1.25, level) is not None

    # 0.105 is inside the 99% interval [0.093, 0.108]; 0.115 outside it but only ×1.15 off
    assert not flagged(many, 0.105) and not flagged(many, 0.115)
    assert flagged(many, 0.2) and flagged(many, 0.05)
    few = np.array([1.0] * 1 + [0.0] * 9)  # 0.10 on 10 rows: 0.2 is inside the interval
    assert not flagged(few, 0.2)
    # 41 SQLs in 1,352 rows against 0.019 predicted: a 99% interval misses it, the interval
    # of one of nine groups tested together does not (the undrifted bench's one false alarm)
    some = np.array([1.0] * 41 + [0.0] * 1_311)
    assert flagged(some, 0.019) and not flagged(some, 0.019, family_level(0.99, 9))


def test_family_level_splits_the_false_alarm_chance_over_the_groups() -> None:
    assert family_level(0.99, 1) == pytest.approx(0.99)
    assert family_level(0.99, 10) == pytest.approx(0.999)
    scipy_ci = binomtest(41, 1352).proportion_ci(confidence_level=0.999, method="wilson")
    rate = miscalibrated(
        calibration("a", np.array([1.0] * 41 + [0.0] * 1_311), np.full(1352, 0.01), 0.95),
        1.25,
        0.999,
    )
    assert rate is not None and (rate.low, rate.high) == pytest.approx(
        (scipy_ci.low, scipy_ci.high)
    )
