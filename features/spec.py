"""The feature spec: the one list of features, their types and (once fitted) category lists.

A model records the spec it was trained with (`to_dict`, `hash`); whoever loads the model
rebuilds exactly its input with `FeatureSpec.from_dict(...)`. Categories are encoded by the
spec's own lists, so a category order that differs between training and serving cannot shift
codes, and an unseen (or too rare) category becomes missing — never a new code, and plain
strings never reach LightGBM.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from typing import Any

import numpy as np
import polars as pl

from features import contract as c
from features.behaviour import BehaviourPlan, event_type_codes
from features.catalog import Behaviour, behaviour_table
from features.config import FeatureConfig
from features.errors import LeadscoreError

SPEC_FORMAT = 1


@dataclass(frozen=True)
class FeatureSpec:
    """Feature config plus what was learned from training data: attribute kinds, categories.

    `behaviour` is the behaviour feature table (features/catalog.py); empty means the table of
    `config`, which is what every stored model reads.
    """

    config: FeatureConfig
    categories: dict[str, tuple[str, ...]]
    numeric: tuple[str, ...]
    behaviour: tuple[Behaviour, ...] = ()
    _lookup: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.behaviour:
            object.__setattr__(self, "behaviour", behaviour_table(self.config))
        lookup = {
            name: {v: i for i, v in enumerate(cats)} for name, cats in self.categories.items()
        }
        object.__setattr__(self, "_lookup", lookup)

    @classmethod
    def fit(cls, config: FeatureConfig, leads: pl.DataFrame) -> FeatureSpec:
        """Learn attribute kinds and category lists (most frequent first) from training leads."""
        categorical, numeric = static_columns(config, leads)
        categories: dict[str, tuple[str, ...]] = {}
        for name in categorical:
            values = leads[name]
            if values.dtype != pl.String:  # spelled as encode_static will look them up
                values = pl.Series(name, [_text(v) for v in values.to_list()], dtype=pl.String)
            counts = (
                values.drop_nulls()
                .value_counts(sort=True, name="n")
                .filter(pl.col("n") >= config.min_category_count)
                .sort(["n", name], descending=[True, False])
            )
            categories[name] = tuple(counts[name].to_list())
        return cls(config, categories, tuple(numeric))

    @cached_property
    def behaviour_names(self) -> list[str]:
        return [feature.name for feature in self.behaviour]

    @cached_property
    def behaviour_plan(self) -> BehaviourPlan:
        """How the behaviour columns are computed, worked out once per spec."""
        return BehaviourPlan.build(self.behaviour, event_type_codes(self.config))

    @cached_property
    def static_names(self) -> list[str]:
        return [*self.categories, *self.numeric]

    @cached_property
    def feature_names(self) -> list[str]:
        return [*self.behaviour_names, *self.static_names]

    @cached_property
    def categorical_indices(self) -> list[int]:
        start = len(self.behaviour_names)
        return list(range(start, start + len(self.categories)))

    def encode_static(self, static: Mapping[str, Sequence[Any]], rows: int) -> np.ndarray:
        """Raw static values (strings, numbers, None) to float columns; missing → NaN."""
        out = np.full((rows, len(self.static_names)), np.nan)
        for j, name in enumerate(self.categories):
            if name in static:
                out[:, j] = _codes(static[name], self._lookup[name])
        for j, name in enumerate(self.numeric, start=len(self.categories)):
            if name in static:
                out[:, j] = _numbers(static[name])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "numeric": list(self.numeric),
            "feature_names": self.feature_names,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureSpec:
        """Rebuild a stored spec; refuse one whose features this code no longer builds."""
        config = FeatureConfig.model_validate(raw["config"])
        categories = {k: tuple(v) for k, v in raw["categories"].items()}
        spec = cls(config, categories, tuple(raw["numeric"]))
        stored = list(raw["feature_names"])
        if spec.feature_names != stored:
            extra = [n for n in spec.feature_names if n not in stored][:3]
            gone = [n for n in stored if n not in spec.feature_names][:3]
            raise LeadscoreError(
                f"feature spec: the model was trained on {len(stored)} features, this code "
                f"builds {len(spec.feature_names)} (new: {extra}, gone: {gone}); retrain it"
            )
        return spec

    @cached_property
    def hash(self) -> str:
        """Short content hash: two models with the same hash read the same input."""
        canonical = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:12]


def static_columns(config: FeatureConfig, leads: pl.DataFrame) -> tuple[list[str], list[str]]:
    """(categorical, numeric) static feature columns of a leads table, in table order."""
    categorical = [c.SOURCE] + ([c.PARTNER_ID] if c.PARTNER_ID in leads.columns else [])
    numeric: list[str] = []
    for name in leads.columns:
        if name in c.LEAD_NOT_ATTRIBUTES or name in config.exclude_attributes:
            continue
        wanted = config.categorical_attributes
        is_text = leads[name].dtype == pl.String
        if (wanted is None and is_text) or (wanted is not None and name in wanted):
            categorical.append(name)
        elif not is_text:
            numeric.append(name)
    return categorical, numeric


def _codes(values: Sequence[Any], lookup: dict[str, int]) -> np.ndarray:
    """Category codes of raw values, NaN for missing or unknown ones.

    Text and None, what nearly every column holds, are looked up by dict in C (a 203,034-lead
    rescore's seven static columns, numbers included: 0.20 s instead of 0.34 s); anything
    else is spelled by `_text` first.
    """
    if set(map(type, values)) <= {str, type(None)}:
        found = map(lookup.get, values, repeat(math.nan))
        return np.fromiter(found, dtype=np.float64, count=len(values))
    return np.array([lookup.get(_text(v), math.nan) for v in values], dtype=np.float64)


def _numbers(values: Sequence[Any]) -> np.ndarray:
    """Floats of raw values, NaN for missing or unreadable ones.

    numpy converts a column of numbers, booleans and None (→ NaN) as `_number` does each one;
    a column it refuses (text that is no number, an integer past float) goes value by value.
    """
    try:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    except (TypeError, ValueError, OverflowError):
        return np.array([_number(v) for v in values], dtype=np.float64)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
