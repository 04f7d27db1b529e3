"""The TreeSHAP tables give what LightGBM's own `pred_contrib` gives, for every way a value can
reach a split: numeric thresholds, NaN and zero under each missing type, categorical sets with
negative, fractional, unseen and missing codes, a feature repeated on a path."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.treeshap import MAX_PATH, TreeShap

ROWS = 3_000


def _data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Columns: two numeric with NaN, one with many exact zeros, two categorical codes."""
    X = rng.normal(size=(ROWS, 5))
    X[rng.random(ROWS) < 0.2, 0] = np.nan
    X[rng.random(ROWS) < 0.1, 1] = np.nan
    X[rng.random(ROWS) < 0.4, 2] = 0.0
    X[:, 3] = rng.integers(0, 12, ROWS)
    X[:, 4] = rng.integers(0, 4, ROWS)
    signal = np.nan_to_num(X[:, 0]) + X[:, 2] + (X[:, 3] % 3 == 0) - 0.5 * X[:, 4]
    return X, (signal + rng.normal(0, 1, ROWS) > 0.5).astype(float)


def _booster(params: dict[str, object], X: np.ndarray, y: np.ndarray) -> lgb.Booster:
    data = lgb.Dataset(X, y, categorical_feature=[3, 4], params={"verbose": -1})
    settings = {"objective": "binary", "verbose": -1, "seed": 0, "min_data_per_group": 5}
    return lgb.train(settings | params, data, num_boost_round=40)


def _hostile(rng: np.random.Generator) -> np.ndarray:
    """Rows that take every odd branch: NaN and zero everywhere, codes LightGBM truncates
    (2.7, −0.5), negative, unseen and huge codes."""
    X, _ = _data(rng)
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.15] = 0.0
    codes = np.array([-3.0, -1.0, -0.5, 0.0, 2.7, 5.0, 11.0, 40.0, 1e12, np.nan])
    X[:, 3:] = rng.choice(codes, size=(ROWS, 2))
    return X


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 8, "max_depth": 3},  # the default shape (configs/train.yaml)
        {"num_leaves": 32, "max_depth": 5},  # the deepest that tuning tries
        {"num_leaves": 7, "max_depth": 6, "use_missing": True, "zero_as_missing": True},
        {"num_leaves": 4, "max_depth": 2, "use_missing": False},
    ],
)
def test_tables_equal_lightgbm_pred_contrib(params: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    booster = _booster(params, *_data(rng))
    shap = TreeShap.of(booster)
    assert shap is not None
    X = _hostile(rng)
    expected = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(shap.contributions(X), expected, rtol=0, atol=1e-12)
    one = shap.contributions(X[:1])
    np.testing.assert_allclose(one, expected[:1], rtol=0, atol=1e-12)


def test_a_feature_repeated_on_a_path_is_one_player() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(ROWS, 1))  # one feature: every split of a path is on it
    y = (np.abs(X[:, 0]) < 0.7).astype(float)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 8, "max_depth": 3, "verbose": -1},
        lgb.Dataset(X, y),
        num_boost_round=20,
    )
    shap = TreeShap.of(booster)
    assert shap is not None and shap.table.shape[0] == 1  # one feature per path
    np.testing.assert_allclose(
        shap.contributions(X), booster.predict(X, pred_contrib=True), rtol=0, atol=1e-12
    )


def test_chunks_and_one_pass_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    booster = _booster({"num_leaves": 8, "max_depth": 3}, *_data(rng))
    shap = TreeShap.of(booster)
    assert shap is not None
    X = _hostile(rng)
    whole = shap.contributions(X)
    monkeypatch.setattr("training.treeshap.CHUNK_ROWS", 257)
    np.testing.assert_array_equal(shap.contributions(X), whole)


def test_paths_too_long_to_tabulate_have_no_tables() -> None:
    rng = np.random.default_rng(3)
    X, y = _data(rng)
    deep = _booster({"num_leaves": 63, "min_data_in_leaf": 2}, X, y)
    depth = max(_depth(tree["tree_structure"]) for tree in deep.dump_model()["tree_info"])
    assert depth > MAX_PATH
    assert TreeShap.of(deep) is None


def _depth(node: dict) -> int:
    if "leaf_value" in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))
