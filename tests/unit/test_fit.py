"""Boosting, the linear base and calibration, on small hand-made data.

`max_depth` bounds every tree, because serving explains every answer with exact TreeSHAP,
whose cost grows with depth squared; the linear base's contributions are exact too; a
calibrator never reverses a ranking.
"""

from __future__ import annotations

from datetime import UTC, datetime

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from features.config import FeatureConfig
from features.spec import FeatureSpec
from training import linear
from training.config import BoosterParams, TrainConfig
from training.fit import Rows, best_rounds, boost
from training.linear import LinearBase
from training.models import Calibrator, ConversionModel


def _depth(node: dict) -> int:
    if "left_child" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _spec() -> FeatureSpec:
    leads = pl.DataFrame(
        {
            "lead_id": ["a", "b"],
            "created_at": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
            "source": ["paid", "webinar"],
        }
    )
    return FeatureSpec.fit(FeatureConfig(min_category_count=1), leads)


def _rows(spec: FeatureSpec, rng: np.random.Generator, n: int) -> Rows:
    X = rng.normal(size=(n, len(spec.feature_names)))
    for j in spec.categorical_indices:
        X[:, j] = rng.integers(0, 2, n)
    # An interaction of four features: unbounded trees grow deep to follow it.
    signal = X[:, 0] * X[:, 1] + X[:, 2] * X[:, 3]
    return Rows(X, (signal + rng.normal(0, 0.5, n) > 0.5).astype(float))


def _tree_depths(params: BoosterParams) -> list[int]:
    spec = _spec()
    booster, _ = boost(
        params,
        params.max_rounds,
        _rows(spec, np.random.default_rng(0), 4000),
        spec,
        TrainConfig(threads=1),
    )
    return [_depth(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"]]


def test_max_depth_bounds_every_tree() -> None:
    bounded = _tree_depths(BoosterParams(num_leaves=8, max_depth=3, max_rounds=30))
    unbounded = _tree_depths(BoosterParams(num_leaves=31, min_child_samples=5, max_rounds=30))
    assert max(bounded) == 3
    assert max(unbounded) > 3


def test_the_watched_curve_is_the_log_loss_after_each_round() -> None:
    spec, rng = _spec(), np.random.default_rng(1)
    train, watch = _rows(spec, rng, 3000), _rows(spec, rng, 1000)
    params = BoosterParams(num_leaves=8, max_depth=3, max_rounds=25)
    booster, curve = boost(params, 25, train, spec, TrainConfig(threads=1), watch)
    assert len(curve) == 25
    for rounds in (1, 12, 25):
        p = np.clip(booster.predict(watch.X, num_iteration=rounds), 1e-15, 1 - 1e-15)
        loss = -np.mean(watch.y * np.log(p) + (1 - watch.y) * np.log(1 - p))
        assert curve[rounds - 1] == pytest.approx(loss, rel=1e-6)
    assert best_rounds([curve, curve], [1.0, 3.0]) == int(np.argmin(curve)) + 1


def _linear_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two numbers (one with gaps), a category of three codes (and missing) and a constant."""
    X = np.column_stack(
        [
            rng.normal(size=n),
            np.where(rng.random(n) < 0.2, np.nan, rng.exponential(3, n)),
            rng.integers(0, 3, n).astype(float),
            np.ones(n),
        ]
    )
    X[rng.random(n) < 0.1, 2] = np.nan
    logit = 0.8 * X[:, 0] - 0.5 * (X[:, 2] == 1) + 0.7 * np.isnan(X[:, 1])
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)


def test_the_linear_base_is_a_logistic_regression_with_exact_contributions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = _linear_data(np.random.default_rng(2), 5000)
    base = LinearBase.fit(X, y, categorical=[2])
    contributions = base.contributions(X)
    # Each row's contributions plus the bias column add up to its logit.
    np.testing.assert_allclose(contributions.sum(axis=1), base.logit(X), atol=1e-9)
    # A constant column carries no term, so it never explains anything.
    assert np.all(contributions[:, 3] == 0)
    # The same design through scikit-learn gives the same probabilities.
    z = np.sign(X[:, :2]) * np.log1p(np.abs(X[:, :2]))
    z = (z - np.nanmean(z, axis=0)) / np.nanstd(z, axis=0)
    design = np.column_stack(
        [
            np.nan_to_num(z),
            np.isnan(z),
            *(np.nan_to_num(X[:, 2], nan=-1) == k for k in (-1, 0, 1, 2)),
        ]
    )
    reference = LogisticRegression(max_iter=1000).fit(design, y)
    np.testing.assert_allclose(
        base.probability(X), reference.predict_proba(design)[:, 1], atol=1e-3
    )
    # A code the fit never saw scores like a missing value; and the model survives JSON.
    unseen = X[:3].copy()
    unseen[:, 2] = 7
    missing = X[:3].copy()
    missing[:, 2] = np.nan
    np.testing.assert_allclose(base.logit(unseen), base.logit(missing))
    again = LinearBase.from_dict(base.to_dict())
    np.testing.assert_array_equal(again.logit(X), base.logit(X))
    # In chunks on threads (the batch's 200,000 rows) the logits are the same, in order.
    whole = base.logit(X)
    monkeypatch.setattr(linear, "LOGIT_ROWS", 300)
    np.testing.assert_array_equal(base.logit(X), whole)


def test_each_categorical_column_reads_its_own_weights() -> None:
    """The terms of several categorical columns come from one flat table: each column's must
    be its own weight for the code (missing, unseen and negative codes: the missing weight)."""
    rng = np.random.default_rng(5)
    X = np.column_stack(
        [rng.normal(size=4000), rng.integers(0, 3, 4000), rng.integers(0, 6, 4000)]
    ).astype(float)
    X[rng.random(4000) < 0.1, 1] = np.nan
    y = (rng.random(4000) < 1 / (1 + np.exp(-(X[:, 2] - 2.5)))).astype(float)
    base = LinearBase.fit(X, y, categorical=[1, 2])
    rows = np.array(
        [[0.5, 0, 5], [0.1, 2, 0], [-1, np.nan, 3], [2, 3, 6], [0, -1, -4], [1, 1.0, 2]]
    )
    terms = base.terms(rows)
    for column, weights in zip(base.categorical, base.weights, strict=True):
        for row, code in enumerate(rows[:, column]):
            seen = not np.isnan(code) and 0 <= code < len(weights) - 1
            assert terms[row, column] == weights[int(code) + 1 if seen else 0]


def test_a_conversion_model_grown_from_the_linear_base_explains_its_own_logit() -> None:
    spec, rng = _spec(), np.random.default_rng(3)
    rows = _rows(spec, rng, 3000)
    base = LinearBase.fit(rows.X, rows.y, spec.categorical_indices)
    booster, _ = boost(
        BoosterParams(num_leaves=8, max_depth=3, max_rounds=20),
        20,
        Rows(rows.X, rows.y, init=base.logit(rows.X)),
        spec,
        TrainConfig(threads=1),
    )
    model = ConversionModel(booster, Calibrator("sigmoid", (1.0,), (0.0,)), spec, base)
    raw = model.raw(rows.X[:200])
    total = model.contributions(rows.X[:200]).sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-total)), raw, atol=1e-9)
    assert isinstance(booster, lgb.Booster)


def test_calibration_never_reverses_the_ranking() -> None:
    rng = np.random.default_rng(4)
    raw = rng.uniform(0.05, 0.6, 4000)
    backwards = (rng.random(4000) < 0.65 - raw).astype(float)  # higher raw, fewer conversions
    calibrator = Calibrator.fit("sigmoid", raw, backwards)
    assert calibrator.x == (1.0,)  # slope kept at one: the order survives
    calibrated = calibrator.apply(raw)
    assert np.all(np.diff(calibrated[np.argsort(raw)]) >= 0)
    assert calibrated.mean() == pytest.approx(backwards.mean(), abs=1e-6)  # the level is fixed
    forwards = 1 - backwards
    assert Calibrator.fit("sigmoid", raw, forwards).x[0] > 0
