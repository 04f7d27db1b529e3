"""Routing policy: tiers by score, the shared daily capacity, and the config's own checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from leadscore.settings import default_config, load_config
from serving.config import ServeConfig
from serving.routing import CapacityLedger, apply_capacity, assign_tiers
from training.policy import EconomicsConfig, RoutingConfig

ROUTING = RoutingConfig.model_validate(
    {
        "tiers": [
            {"tier": "A", "min_score": 50, "route": "active_sales"},
            {"tier": "B", "min_score": 20, "route": "active_sales"},
            {"tier": "C", "min_score": 5, "route": "nurturing"},
            {"tier": "D", "min_score": 0, "route": "nurturing"},
        ]
    }
)
DAY = date(2026, 11, 28)
NEXT = date(2026, 11, 29)


def test_the_shipped_configs_load() -> None:
    load_config(default_config("routing"), RoutingConfig)
    load_config(default_config("economics"), EconomicsConfig)
    load_config(default_config("serve"), ServeConfig)


def test_a_score_gets_the_first_tier_whose_floor_it_reaches() -> None:
    tiers, routes, reasons = assign_tiers(
        np.array([100.0, 50.0, 49.9, 20.0, 5.0, 4.9, 0.0]), ROUTING
    )
    assert tiers == ["A", "A", "B", "B", "C", "D", "D"]
    assert routes == ["active_sales"] * 4 + ["nurturing"] * 3
    assert reasons[2] == "tier B: score ≥ 20 routes to active_sales"


@pytest.mark.parametrize(
    ("floors", "message"),
    [
        ([50, 50, 0], "fall strictly"),
        ([20, 50, 0], "fall strictly"),
        ([50, 20, 1], "min_score 0"),
    ],
)
def test_tiers_that_leave_scores_without_a_tier_are_refused(
    floors: list[float], message: str
) -> None:
    tiers = [
        {"tier": name, "min_score": floor, "route": "nurturing"}
        for name, floor in zip("ABC", floors, strict=True)
    ]
    with pytest.raises(ValidationError, match=message):
        RoutingConfig.model_validate({"tiers": tiers})


def test_duplicate_tier_names_and_unknown_keys_are_refused() -> None:
    rule = {"tier": "A", "min_score": 0, "route": "nurturing"}
    with pytest.raises(ValidationError, match="unique"):
        RoutingConfig.model_validate({"tiers": [{**rule, "min_score": 10}, rule]})
    with pytest.raises(ValidationError, match="extra"):
        RoutingConfig.model_validate({"tiers": [rule], "capacitty": None})


def test_economics_value_of_an_sql() -> None:
    economics = EconomicsConfig(mrr_pln=1500, lifetime_months=45, sql_to_contract_rate=0.4)
    assert economics.value_of_sql_pln == pytest.approx(27_000)


def test_capacity_gives_places_until_the_day_is_full_and_keeps_them(tmp_path: Path) -> None:
    ledger = CapacityLedger(tmp_path / "ledger.sqlite", leads_per_day=2, window_days=1)
    assert ledger.claim([(DAY, "a"), (DAY, "b"), (DAY, "c")], DAY) == [True, True, False]
    assert ledger.claim([(DAY, "b"), (DAY, "d")], DAY) == [True, False]  # b keeps its place
    assert ledger.claim([(NEXT, "d")], DAY) == [True]  # a new day, new places
    # One request over two days: each day keeps its own count.
    mixed = [(DAY, "x"), (NEXT, "e"), (NEXT, "f"), (DAY, "a")]
    assert ledger.claim(mixed, DAY) == [False, True, False, True]


def test_workers_sharing_the_ledger_file_share_the_count(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    first, second = CapacityLedger(path, 3, 1), CapacityLedger(path, 3, 1)
    assert first.claim([(DAY, "a"), (DAY, "b")], DAY) == [True, True]
    assert second.claim([(DAY, "c"), (DAY, "d"), (DAY, "a")], DAY) == [True, False, True]


def test_capacity_serves_the_likeliest_leads_of_a_batch_first(tmp_path: Path) -> None:
    ledger = CapacityLedger(tmp_path / "ledger.sqlite", leads_per_day=1, window_days=1)
    routes, reasons = apply_capacity(
        [("low", DAY), ("high", DAY), ("cold", DAY)],
        np.array([0.3, 0.9, 0.01]),
        ["active_sales", "active_sales", "nurturing"],
        ["tier B", "tier A", "tier D"],
        ledger,
        DAY,
    )
    assert routes == ["nurturing", "active_sales", "nurturing"]
    assert reasons[0] == "capacity: all 1 active-sales places of 2026-11-28 are taken"
    assert reasons[1:] == ["tier A", "tier D"]


def test_days_outside_the_window_neither_take_nor_free_todays_places(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = CapacityLedger(path, leads_per_day=1, window_days=1)
    assert ledger.claim([(DAY, "a")], DAY) == [True]
    far = [("b", date(2099, 12, 31)), ("c", date(2026, 1, 1))]
    routes, reasons = apply_capacity(
        far, np.array([0.9, 0.8]), ["active_sales"] * 2, ["tier A"] * 2, ledger, DAY
    )
    assert routes == ["active_sales"] * 2  # the tier's route; no place taken
    assert "as_of 2099-12-31 is not within 1 days of today (2026-11-28)" in reasons[0]
    assert ledger.claim([(DAY, "d")], DAY) == [False]  # today is still full
    again = CapacityLedger(path, leads_per_day=1, window_days=1)  # a fresh worker: same count
    assert again.claim([(DAY, "d"), (DAY, "a")], DAY) == [False, True]
    with pytest.raises(ValueError, match="outside the capacity window"):
        ledger.claim([(date(2099, 12, 31), "e")], DAY)
