"""The discrete-time hazard: person-period expansion, censoring, forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from training.config import VelocityConfig
from training.velocity import Survival, person_periods


def _periods(remaining: list[float], observed: list[bool]) -> list[tuple[int, int, float, float]]:
    surv = Survival(np.array(remaining), np.array(observed), np.zeros(len(remaining)))
    config = VelocityConfig(period_days=10, periods=3, negative_rate=1.0)
    rows, periods, label, weight = person_periods(surv, config, seed=0)
    return sorted(
        zip(rows.tolist(), periods.tolist(), label.tolist(), weight.tolist(), strict=True)
    )


def test_signed_deal_contributes_at_risk_periods_then_the_event() -> None:
    # Signed on day 25: at risk in [0,10) and [10,20), signs in [20,30).
    assert _periods([25.0], [True]) == [(0, 0, 0.0, 1.0), (0, 1, 0.0, 1.0), (0, 2, 1.0, 1.0)]


def test_open_deal_is_censored_not_a_never() -> None:
    # Open for 25 days at the data's end: two whole periods seen without signing, the third
    # half seen — at risk for half of it, never counted as a whole "did not sign".
    assert _periods([25.0], [False]) == [(0, 0, 0.0, 1.0), (0, 1, 0.0, 1.0), (0, 2, 0.0, 0.5)]
    # Censored exactly at a period's start: that period was not seen at all.
    assert _periods([20.0], [False]) == [(0, 0, 0.0, 1.0), (0, 1, 0.0, 1.0)]


def test_deal_beyond_the_horizon_is_all_no_sign_periods() -> None:
    assert _periods([45.0], [True]) == [(0, 0, 0.0, 1.0), (0, 1, 0.0, 1.0), (0, 2, 0.0, 1.0)]


def test_thinning_keeps_every_event_and_reweights_the_rest() -> None:
    n = 4000
    surv = Survival(np.full(n, 100.0), np.zeros(n, dtype=bool), np.zeros(n))
    surv_events = Survival(np.array([5.0]), np.array([True]), np.zeros(1))
    config = VelocityConfig(period_days=10, periods=3, negative_rate=0.25)
    rows, _, label, weight = person_periods(surv, config, seed=1)
    assert weight.sum() == pytest.approx(3 * n, rel=0.05)  # the at-risk mass is kept
    assert set(weight.tolist()) == {4.0}
    rows, _, label, weight = person_periods(surv_events, config, seed=1)
    assert label.tolist() == [1.0] and weight.tolist() == [1.0]
