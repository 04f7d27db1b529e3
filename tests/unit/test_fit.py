"""The conversion booster's shape: `max_depth` bounds every tree, because serving explains
every answer with exact TreeSHAP, whose cost grows with depth squared."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from features.config import FeatureConfig
from features.spec import FeatureSpec
from training.config import BoosterParams, TrainConfig
from training.dataset import Split
from training.fit import fit_conversion


def _depth(node: dict) -> int:
    if "left_child" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _split(spec: FeatureSpec, rng: np.random.Generator, n: int) -> Split:
    X = rng.normal(size=(n, len(spec.feature_names)))
    for j in spec.categorical_indices:
        X[:, j] = rng.integers(0, 2, n)
    # An interaction of four features: unbounded trees grow deep to follow it.
    signal = X[:, 0] * X[:, 1] + X[:, 2] * X[:, 3]
    converted = (signal + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return Split(pl.DataFrame({"converted": converted}), X)


def _tree_depths(params: BoosterParams) -> list[int]:
    leads = pl.DataFrame(
        {
            "lead_id": ["a", "b"],
            "created_at": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
            "source": ["paid", "webinar"],
        }
    )
    spec = FeatureSpec.fit(FeatureConfig(min_category_count=1), leads)
    rng = np.random.default_rng(0)
    _, booster = fit_conversion(
        spec, _split(spec, rng, 4000), _split(spec, rng, 1000), params, TrainConfig(threads=1)
    )
    return [_depth(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"]]


def test_max_depth_bounds_every_tree() -> None:
    bounded = _tree_depths(BoosterParams(num_leaves=8, max_depth=3, max_rounds=30))
    unbounded = _tree_depths(BoosterParams(num_leaves=31, min_child_samples=5, max_rounds=30))
    assert max(bounded) == 3
    assert max(unbounded) > 3
