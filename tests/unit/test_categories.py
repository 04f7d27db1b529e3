"""Category encoding: training codes re-applied at predict time, whatever arrives.

Codes come from the spec's own lists (most frequent first), never from the order values show
up in at serving time; unseen and too-rare categories are missing (NaN), never new codes.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.vectors import LeadRecord, record_features, to_matrix

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, tzinfo=UTC)


def training_leads() -> pl.DataFrame:
    """web 40, paid 30, partner 20 (exactly the minimum), events 5 (too rare); 3 industries."""
    sources = ["web"] * 40 + ["paid"] * 30 + ["partner"] * 20 + ["events"] * 5
    n = len(sources)
    industries = (["saas"] * 25 + ["retail"] * 25 + ["health"] * 45)[:n]
    return pl.DataFrame(
        {
            "lead_id": [f"T{i}" for i in range(n)],
            "created_at": [CREATED] * n,
            "source": sources,
            "industry": industries,
            "employees": [float(i % 7 * 10) for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return FeatureSpec.fit(FeatureConfig(), training_leads())


def lead(source: str | None, industry: str | None = "saas", employees: object = 12.0) -> LeadRecord:
    return LeadRecord(
        lead_id=f"{source}-{industry}",
        created_at=CREATED,
        source=source,  # type: ignore[arg-type]
        attributes={"industry": industry, "employees": employees},
        events=[(datetime(2026, 1, 20, tzinfo=UTC), "page_view")],
    )


def matrix(spec: FeatureSpec, leads: list[LeadRecord]) -> np.ndarray:
    return to_matrix(spec, record_features(spec, leads, [AS_OF] * len(leads)))


def column(spec: FeatureSpec, name: str) -> int:
    return spec.feature_names.index(name)


def test_training_categories_most_frequent_first(spec: FeatureSpec) -> None:
    assert spec.categories == {
        "source": ("web", "paid", "partner"),
        "industry": ("health", "retail", "saas"),
    }
    assert spec.numeric == ("employees",)
    got = matrix(spec, [lead("web"), lead("paid"), lead("partner")])
    assert got[:, column(spec, "source")].tolist() == [0.0, 1.0, 2.0]
    assert got[:, column(spec, "industry")].tolist() == [2.0, 2.0, 2.0]
    assert spec.categorical_indices == [column(spec, "source"), column(spec, "industry")]


def test_unseen_category_is_missing(spec: FeatureSpec) -> None:
    got = matrix(spec, [lead("tiktok", "mining"), lead(None, None)])
    src, ind = column(spec, "source"), column(spec, "industry")
    assert np.isnan(got[:, [src, ind]]).all()
    # Everything else is what it would be for a known value.
    known = matrix(spec, [lead("web", "saas")])
    rest = [j for j in range(got.shape[1]) if j not in (src, ind)]
    assert np.array_equal(got[0, rest], known[0, rest], equal_nan=True)


def test_rare_category_is_missing_like_unseen(spec: FeatureSpec) -> None:
    got = matrix(spec, [lead("events"), lead("never-seen"), lead("partner")])
    src = got[:, column(spec, "source")]
    assert math.isnan(src[0]) and math.isnan(src[1]) and src[2] == 2.0
    # With a lower threshold "events" (5 leads) earns a code of its own.
    loose = FeatureSpec.fit(FeatureConfig(min_category_count=5), training_leads())
    assert loose.categories["source"] == ("web", "paid", "partner", "events")
    assert matrix(loose, [lead("events")])[0, column(loose, "source")] == 3.0


def test_serving_order_does_not_shift_codes(spec: FeatureSpec) -> None:
    """Rows arriving in another order, or with another frequency ranking, keep their codes."""
    leads = [lead(s, i) for s, i in [("web", "saas"), ("paid", "retail"), ("partner", "health")]]
    forward = matrix(spec, leads)
    backward = matrix(spec, leads[::-1])
    assert np.array_equal(backward[::-1], forward, equal_nan=True)
    # A batch dominated by "partner" would rank it first if codes were learned from it.
    batch = [lead("partner")] * 30 + [lead("web")]
    coded = matrix(spec, batch)[:, column(spec, "source")]
    assert set(coded[:30]) == {2.0} and coded[30] == 0.0


def test_pandas_category_order_does_not_shift_codes(spec: FeatureSpec) -> None:
    """The classic bug: a pandas Categorical whose category order differs from training."""
    values = ["partner", "web", "paid", "unseen"]
    reordered = pd.Categorical(values, categories=["unseen", "partner", "paid", "web"])
    as_list = spec.encode_static({"source": values}, len(values))
    as_categorical = spec.encode_static({"source": reordered}, len(values))
    assert np.array_equal(as_list, as_categorical, equal_nan=True)
    assert as_list[:3, 0].tolist() == [2.0, 0.0, 1.0] and math.isnan(as_list[3, 0])


def test_numeric_looking_ids_match_their_text() -> None:
    """A partner id read as a number from one source and as text from another is one code."""
    leads = pl.DataFrame(
        {
            "lead_id": [f"T{i}" for i in range(40)],
            "created_at": [CREATED] * 40,
            "source": ["partner"] * 40,
            "partner_id": ["12"] * 25 + ["7"] * 15,
        }
    )
    spec = FeatureSpec.fit(FeatureConfig(min_category_count=1), leads)
    assert spec.categories["partner_id"] == ("12", "7")
    encoded = spec.encode_static({"partner_id": ["12", 12, 12.0, 7, "7.5", None]}, 6)
    col = spec.static_names.index("partner_id")
    assert encoded[:4, col].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert math.isnan(encoded[4, col]) and math.isnan(encoded[5, col])


def test_numeric_attribute_values(spec: FeatureSpec) -> None:
    got = matrix(spec, [lead("web", employees=v) for v in (12.0, "12", 12, None, "many")])
    employees = got[:, column(spec, "employees")]
    assert employees[:3].tolist() == [12.0, 12.0, 12.0]
    assert np.isnan(employees[3:]).all()


def test_spec_round_trip_keeps_hash_and_encoding(spec: FeatureSpec) -> None:
    raw = json.loads(json.dumps(spec.to_dict()))  # what a model artifact stores
    again = FeatureSpec.from_dict(raw)
    assert again.hash == spec.hash
    assert again == spec
    assert again.feature_names == spec.feature_names
    assert again.categorical_indices == spec.categorical_indices
    leads = [lead("paid", "health"), lead("events", "mining"), lead(None, "retail", None)]
    assert np.array_equal(matrix(again, leads), matrix(spec, leads), equal_nan=True)


def test_category_list_is_part_of_the_hash(spec: FeatureSpec) -> None:
    def with_sources(sources: tuple[str, ...]) -> FeatureSpec:
        return FeatureSpec(spec.config, {**spec.categories, "source": sources}, spec.numeric)

    same = with_sources(("web", "paid", "partner"))
    assert same.hash == spec.hash
    hashes = {
        spec.hash,
        with_sources(("paid", "web", "partner")).hash,  # another order
        with_sources(("web", "paid", "partner", "events")).hash,  # one more
        with_sources(("web", "paid")).hash,  # one fewer
        FeatureSpec(FeatureConfig(windows_days=(7, 30)), spec.categories, spec.numeric).hash,
        FeatureSpec(spec.config, spec.categories, ()).hash,
    }
    assert len(hashes) == 6
    # A reordered list really encodes differently: the hash is not just cosmetic.
    swapped = with_sources(("paid", "web", "partner"))
    assert matrix(swapped, [lead("web")])[0, column(spec, "source")] == 1.0


def test_numeric_looking_categories_are_learned_as_they_are_looked_up() -> None:
    leads = pl.DataFrame(
        {"lead_id": ["a", "b", "c"], "source": ["x", "x", "y"], "tier": [1.0, 2.0, 1.0]}
    )
    spec = FeatureSpec.fit(
        FeatureConfig(categorical_attributes=("tier",), min_category_count=1), leads
    )
    assert spec.categories["tier"] == ("1", "2")
    encoded = spec.encode_static({"source": ["x", "y"], "tier": [1.0, 2]}, 2)
    tier = spec.static_names.index("tier")
    assert encoded[:, tier].tolist() == [0.0, 1.0]


def test_a_column_of_text_encodes_as_a_column_of_anything(spec: FeatureSpec) -> None:
    """Text-and-None columns (looked up in C) and numeric columns (converted by numpy) give what
    the value-by-value spelling gives: one odd value sends its whole column that way."""
    sources = ["web", None, "events", "partner", "unseen", "paid", ""] * 300
    industries = ["health", "retail", None, "saas"] * 525
    employees = [12, 3.5, None, True, False, -0.0, 1e300] * 300
    source, employee = spec.static_names.index("source"), spec.static_names.index("employees")
    plain = spec.encode_static(
        {"source": sources, "industry": industries, "employees": employees}, 2100
    )
    odd = spec.encode_static(
        {"source": [*sources, 7], "industry": [*industries, 7], "employees": [*employees, "x"]},
        2101,
    )
    assert np.array_equal(plain, odd[:-1], equal_nan=True)
    nan = math.nan
    assert np.array_equal(plain[:7, source], [0.0, nan, nan, 2.0, nan, 1.0, nan], equal_nan=True)
    assert np.array_equal(
        plain[:7, employee], [12.0, 3.5, nan, 1.0, 0.0, -0.0, 1e300], equal_nan=True
    )
