"""Exact TreeSHAP for shallow trees: tabulated once per model, then lookups for every row.

Every answer carries TreeSHAP reasons, and LightGBM's `pred_contrib` runs each tree's
recursion again for every row: on a 1,000-lead batch that was the largest step of the request.
But a leaf's share of a tree's SHAP values depends on the row only through the way the row
goes at the nodes on that leaf's path (the idea of Fast TreeSHAP v2, Yang 2022). With paths of
at most MAX_PATH nodes that is a handful of cases, so each case is computed here once, when a
model is built or loaded. A row's contributions are then lookups:
- the decision of every split node;
- for each pair of sibling leaves (which share a path), the pattern of decisions on the path;
- that pattern's row of the pair's table, added to the features of the path.

The tables hold the Shapley values of LightGBM's own game, with node data counts as cover and
a feature repeated on a path merged, so they equal `pred_contrib` to rounding
(tests/unit/test_treeshap.py). A model with longer paths has no tables (`of` gives None).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from math import factorial
from typing import Any

import numpy as np
from scipy import sparse

from features.threads import map_rows
from training.lgb import lgb

MAX_PATH = 6  # split nodes on a path: 2^6 decision patterns a leaf pair, depth ≤ 6 trees
ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| ≤ it is zero for the missing type "Zero"
CHUNK_ROWS = 4_096  # rows looked up at once: a chunk's table rows stay in memory
Node = dict[str, Any]  # a node of LightGBM's `dump_model`
Leaf = tuple[float, int, list[tuple[Node, bool, float]]]  # value, count, path (node, left, z)


@dataclass(frozen=True)
class _Splits:
    """Every split node, and which way LightGBM's `Tree::Decision` sends a value there."""

    feature: np.ndarray  # (nodes,) the feature each node splits on
    threshold: np.ndarray  # numeric nodes: left when x ≤ threshold
    nan_left: np.ndarray  # where NaN goes: the default side for missing types NaN and Zero,
    zero: np.ndarray  # else the side of 0; nodes whose missing type is Zero, where
    zero_left: np.ndarray  # |x| ≤ ZERO takes the default side
    categorical: np.ndarray  # categorical nodes, whose
    in_left: np.ndarray  # (categorical nodes, categories) left sets; NaN, < 0, unknown: right

    @classmethod
    def of(cls, nodes: list[Node]) -> _Splits:
        threshold, nan_left = np.zeros(len(nodes)), np.zeros(len(nodes), dtype=bool)
        zero, categorical, sets = [], [], []
        for i, node in enumerate(nodes):
            if node["decision_type"] == "==":
                categorical.append(i)
                sets.append([int(c) for c in str(node["threshold"]).split("||")])
                continue
            threshold[i] = node["threshold"]
            missing = node["missing_type"]
            nan_left[i] = node["default_left"] if missing in ("NaN", "Zero") else threshold[i] >= 0
            if missing == "Zero":
                zero.append(i)
        in_left = np.zeros((len(sets), max((max(s) for s in sets), default=0) + 1), dtype=bool)
        for row, categories in enumerate(sets):
            in_left[row, categories] = True
        default_left = np.array([bool(node["default_left"]) for node in nodes])
        zero_nodes = np.array(zero, dtype=np.intp)
        return cls(
            np.array([node["split_feature"] for node in nodes], dtype=np.intp),
            threshold,
            nan_left,
            zero_nodes,
            default_left[zero_nodes],
            np.array(categorical, dtype=np.intp),
            in_left,
        )

    def left(self, X: np.ndarray) -> np.ndarray:
        """(nodes + 1, rows) as uint8: 1 where the row goes left. Node-major, so that a path's
        nodes are whole rows to gather; the last node, always 1, pads shorter paths."""
        values = np.ascontiguousarray(X.T)[self.feature]
        left = values <= self.threshold[:, None]  # False for NaN, which goes where nan_left says
        left |= np.isnan(values) & self.nan_left[:, None]
        if len(self.zero):
            at_zero = np.abs(values[self.zero]) <= ZERO
            left[self.zero] = np.where(at_zero, self.zero_left[:, None], left[self.zero])
        if len(self.categorical):
            codes = np.trunc(np.nan_to_num(values[self.categorical], nan=-1.0))
            known = (codes >= 0) & (codes < self.in_left.shape[1])
            index = np.where(known, codes, 0).astype(np.intp)
            left[self.categorical] = known & np.take_along_axis(self.in_left, index, axis=1)
        return np.vstack([left, np.ones((1, len(X)), dtype=bool)]).view(np.uint8)


def _leaves(node: Node, path: list[tuple[Node, bool, float]]) -> Iterator[Leaf]:
    """Every leaf under `node` with its path: each node, the side taken and the share of the
    node's data that went that side (the zero fraction of TreeSHAP)."""
    if "leaf_value" in node:
        yield node["leaf_value"], node["leaf_count"], list(path)
        return
    for side, left in (("left_child", True), ("right_child", False)):
        child = node[side]
        count = child.get("internal_count", child.get("leaf_count"))
        path.append((node, left, count / node["internal_count"]))
        yield from _leaves(child, path)
        path.pop()


def _shapley(value: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(leaves, 2^n, n): the Shapley value of each of a leaf's n path features, for every
    mask of features whose conditions the row meets. A leaf's game: value × Π_{j ∈ S} o_j ×
    Π_{j ∉ S} z_j, o_j = 1 when the row meets feature j's conditions, z_j its data share."""
    leaves, n = z.shape
    met = (np.arange(1 << n)[:, None] >> np.arange(n)) & 1  # (masks, n)
    phi = np.zeros((leaves, 1 << n, n))
    for k in range(n):
        others = [j for j in range(n) if j != k]
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for present in combinations(others, size):
                absent = [j for j in others if j not in present]
                reached = met[:, list(present)].all(axis=1)  # (masks,)
                phi[:, :, k] += weight * np.prod(z[:, absent], axis=1)[:, None] * reached
        phi[:, :, k] *= value[:, None] * (met[None, :, k] - z[:, k, None])
    return phi


@dataclass(frozen=True)
class _LeafGame:
    """One leaf, ready for its Shapley values: its pair, value and each path feature's data
    share, and for every decision pattern of the pair's path, the mask of features met."""

    pair: int
    value: float
    z: np.ndarray  # (features,)
    mask: np.ndarray  # (2^path,)


def _by_feature_count(
    pairs: list[list[Leaf]], features: list[list[int]], length: int
) -> dict[int, list[_LeafGame]]:
    """The leaves' games grouped by how many features their path has, each group's Shapley
    values computed at once."""
    patterns = np.arange(1 << length)
    games: dict[int, list[_LeafGame]] = {}
    for p, leaves in enumerate(pairs):
        for value, _, path in leaves:
            slot = [features[p].index(node["split_feature"]) for node, _, _ in path]
            z, unmet = np.ones(len(features[p])), np.zeros(len(patterns), dtype=np.intp)
            for position, ((_, left, share), s) in enumerate(zip(path, slot, strict=True)):
                z[s] *= share
                unmet |= (((patterns >> position) & 1 == 1) != left).astype(np.intp) << s
            mask = ((1 << len(z)) - 1) & ~unmet
            games.setdefault(len(z), []).append(_LeafGame(p, value, z, mask))
    return games


@dataclass(frozen=True)
class TreeShap:
    """A model's TreeSHAP tables; `contributions` gives what `pred_contrib` gives."""

    splits: _Splits
    paths: np.ndarray  # (pairs, longest path) the split nodes of each pair's path, padded
    offsets: np.ndarray  # (pairs, 1) where each pair's patterns start in the table
    table: np.ndarray  # (features on a path, pairs × 2^longest path) contributions by pattern
    adds: sparse.csr_array  # (features + 1, slots × pairs): 1 where a value adds to a feature
    bias: float  # Σ trees' expected values: the bias column
    n_features: int

    @classmethod
    def of(cls, booster: lgb.Booster) -> TreeShap | None:
        """The tables of a booster, or None when it has no split or a path longer than
        MAX_PATH."""
        nodes: dict[int, Node] = {}
        pairs: dict[tuple[int, ...], list[Leaf]] = {}
        bias = 0.0
        for tree in booster.dump_model()["tree_info"]:
            root = tree["tree_structure"]
            if "leaf_value" in root:  # a stump: its value is all bias
                bias += root["leaf_value"]
                continue
            for leaf in _leaves(root, []):
                value, count, path = leaf
                bias += value * count / root["internal_count"]
                for node, _, _ in path:
                    nodes.setdefault(id(node), node)
                pairs.setdefault(tuple(id(node) for node, _, _ in path), []).append(leaf)
        if not pairs or max(len(key) for key in pairs) > MAX_PATH:
            return None
        position = {key: i for i, key in enumerate(nodes)}
        paths = [[position[n] for n in key] for key in pairs]
        return cls._tabulate(
            _Splits.of(list(nodes.values())),
            paths,
            list(pairs.values()),
            bias,
            booster.num_feature(),
        )

    @classmethod
    def _tabulate(
        cls,
        splits: _Splits,
        paths: list[list[int]],
        pairs: list[list[Leaf]],
        bias: float,
        n_features: int,
    ) -> TreeShap:
        length = max(len(path) for path in paths)
        features = [list(dict.fromkeys(splits.feature[path])) for path in paths]
        slots = max(len(f) for f in features)
        padded = np.full((len(paths), length), len(splits.feature), dtype=np.intp)
        feature_of = np.full((len(paths), slots), n_features, dtype=np.intp)
        for p, path in enumerate(paths):
            padded[p, : len(path)] = path
            feature_of[p, : len(features[p])] = features[p]
        table = np.zeros((len(paths), 1 << length, slots))
        for n, leaves in _by_feature_count(pairs, features, length).items():
            phi = _shapley(
                np.array([leaf.value for leaf in leaves]), np.array([leaf.z for leaf in leaves])
            )
            for leaf, leaf_phi in zip(leaves, phi, strict=True):
                table[leaf.pair, :, :n] += leaf_phi[leaf.mask]
        adds_to = feature_of.T.ravel()  # slot-major, as `_lookup` stacks the values; padding
        adds = sparse.csr_array(  # adds to the bias column, which is set afterwards
            (np.ones(len(adds_to)), (adds_to, np.arange(len(adds_to)))),
            shape=(n_features + 1, len(adds_to)),
        )
        return cls(
            splits,
            padded,
            (np.arange(len(paths), dtype=np.intp) << length)[:, None],
            np.ascontiguousarray(table.reshape(-1, slots).T),
            adds,
            bias,
            n_features,
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, features + 1): each feature's contribution in log-odds, then the bias."""
        chunks = map_rows(lambda rows: self._lookup(X[rows]), len(X), CHUNK_ROWS)
        return chunks[0] if len(chunks) == 1 else np.vstack(chunks)

    def _lookup(self, X: np.ndarray) -> np.ndarray:
        """Pair-major throughout: every gather takes whole rows of rows-long vectors."""
        left = self.splits.left(X)
        pattern = left[self.paths[:, 0]].copy()  # (pairs, rows): bit k, the path's k-th node
        for position in range(1, self.paths.shape[1]):
            pattern |= left[self.paths[:, position]] << position
        index = pattern + self.offsets
        pairs = len(self.paths)
        values = np.empty((len(self.table) * pairs, len(X)))
        for slot, column in enumerate(self.table):
            np.take(column, index, out=values[slot * pairs : (slot + 1) * pairs])
        out = np.ascontiguousarray((self.adds @ values).T)  # (rows, features + 1)
        out[:, self.n_features] = self.bias
        return out
