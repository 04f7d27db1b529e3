"""Routing policy: tiers by score, the shared daily capacity, and the config's own checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.stats import binom

from features.store.lead_store import LeadStore
from leadscore.settings import default_config, load_config
from serving.config import ServeConfig
from serving.routing import (
    BatchPlaces,
    CapacityLedger,
    apply_capacity,
    assign_routes,
    claim_order,
    in_holdout,
)
from training.folds import unit_hash
from training.policy import EconomicsConfig, HoldoutConfig, RoutingConfig

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
NO_HOLDOUT = HoldoutConfig(share=0)
NONE_HELD = np.zeros(3, dtype=bool)
DAY = date(2026, 11, 28)
NEXT = date(2026, 11, 29)


def store_at(path: Path) -> LeadStore:
    """The lead store the workers share (a SQLite file), where the places live."""
    store = LeadStore(f"sqlite:///{path}")
    store.upgrade()
    return store


def test_the_shipped_configs_load() -> None:
    load_config(default_config("routing"), RoutingConfig)
    load_config(default_config("economics"), EconomicsConfig)
    load_config(default_config("serve"), ServeConfig)


def test_a_score_gets_the_first_tier_whose_floor_it_reaches() -> None:
    scores = np.array([100.0, 50.0, 49.9, 20.0, 5.0, 4.9, 0.0])
    assigned = assign_routes([f"L{i}" for i in range(7)], scores, ROUTING)
    assert assigned.tier == ["A", "A", "B", "B", "C", "D", "D"]
    assert assigned.route == ["active_sales"] * 4 + ["nurturing"] * 3
    assert assigned.route_reason[2] == "tier B: score ≥ 20 routes to active_sales"
    assert not assigned.holdout.any()  # no holdout unless the config asks for one


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
    ledger = CapacityLedger(store_at(tmp_path / "store.db"), leads_per_day=2, window_days=1)
    assert ledger.claim([(DAY, "a"), (DAY, "b"), (DAY, "c")], DAY) == [True, True, False]
    assert ledger.claim([(DAY, "b"), (DAY, "d")], DAY) == [True, False]  # b keeps its place
    assert ledger.claim([(NEXT, "d")], DAY) == [True]  # a new day, new places
    # One request over two days: each day keeps its own count.
    mixed = [(DAY, "x"), (NEXT, "e"), (NEXT, "f"), (DAY, "a")]
    assert ledger.claim(mixed, DAY) == [False, True, False, True]


def test_workers_sharing_the_store_share_the_count(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first, second = CapacityLedger(store_at(path), 3, 1), CapacityLedger(store_at(path), 3, 1)
    assert first.claim([(DAY, "a"), (DAY, "b")], DAY) == [True, True]
    assert second.claim([(DAY, "c"), (DAY, "d"), (DAY, "a")], DAY) == [True, False, True]


def test_capacity_serves_the_likeliest_leads_of_a_batch_first(tmp_path: Path) -> None:
    ledger = CapacityLedger(store_at(tmp_path / "store.db"), leads_per_day=1, window_days=1)
    routes, reasons = apply_capacity(
        [("low", DAY), ("high", DAY), ("cold", DAY)],
        claim_order(["low", "high", "cold"], np.array([0.3, 0.9, 0.01]), NONE_HELD, NO_HOLDOUT),
        ["active_sales", "active_sales", "nurturing"],
        ["tier B", "tier A", "tier D"],
        ledger,
        DAY,
    )
    assert routes == ["nurturing", "active_sales", "nurturing"]
    assert reasons[0] == "capacity: all 1 active-sales places of 2026-11-28 are taken"
    assert reasons[1:] == ["tier A", "tier D"]


def test_days_outside_the_window_neither_take_nor_free_todays_places(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    ledger = CapacityLedger(store_at(path), leads_per_day=1, window_days=1)
    assert ledger.claim([(DAY, "a")], DAY) == [True]
    far = [("b", date(2099, 12, 31)), ("c", date(2026, 1, 1))]
    routes, reasons = apply_capacity(
        far, np.array([0.5, 1.5]), ["active_sales"] * 2, ["tier A"] * 2, ledger, DAY
    )
    assert routes == ["active_sales"] * 2  # the tier's route; no place taken
    assert "as_of 2099-12-31 is not within 1 days of today (2026-11-28)" in reasons[0]
    assert ledger.claim([(DAY, "d")], DAY) == [False]  # today is still full
    again = CapacityLedger(store_at(path), leads_per_day=1, window_days=1)  # a fresh worker
    assert again.claim([(DAY, "d"), (DAY, "a")], DAY) == [False, True]
    with pytest.raises(ValueError, match="outside the capacity window"):
        ledger.claim([(date(2099, 12, 31), "e")], DAY)


def test_the_holdout_share_lies_within_its_binomial_interval_over_10000_leads() -> None:
    ids = [f"lead-{i:05d}" for i in range(10_000)]
    held = in_holdout(ids, HoldoutConfig(share=0.1, salt="2026"))
    low, high = binom.interval(0.999, len(ids), 0.1)
    assert low <= held.sum() <= high
    assert (in_holdout(ids, HoldoutConfig(share=0.1, salt="2026")) == held).all()  # stable
    other = in_holdout(ids, HoldoutConfig(share=0.1, salt="2027"))
    assert (other != held).sum() > 1_000  # another salt draws another holdout


def test_holdout_leads_go_by_the_rule_whatever_their_score() -> None:
    routing = ROUTING.model_copy(update={"holdout": HoldoutConfig(share=0.5, salt="s")})
    ids = [f"L{i}" for i in range(40)]
    assigned = assign_routes(ids, np.zeros(len(ids)), routing)  # tier D: nurturing
    held = assigned.holdout
    assert 0 < held.sum() < len(ids)
    assert {assigned.route[i] for i in np.flatnonzero(held)} == {"active_sales"}
    assert {assigned.route[i] for i in np.flatnonzero(~held)} == {"nurturing"}
    assert assigned.route_reason[int(np.flatnonzero(held)[0])].startswith("holdout: 50% of leads")


HOLDOUT = HoldoutConfig(share=0.05, salt="leadscore-2026")


def sent_to_sales(ids: list[str], probability: np.ndarray, holdout: HoldoutConfig) -> np.ndarray:
    """Whether each lead of one request goes to active sales: tiers, holdout, 300 places."""
    routing = ROUTING.model_copy(update={"holdout": holdout})
    assigned = assign_routes(ids, 100 * probability, routing)
    ledger = CapacityLedger(BatchPlaces(), leads_per_day=300, window_days=0)
    routes, _ = apply_capacity(
        [(lead, DAY) for lead in ids],
        claim_order(ids, probability, assigned.holdout, holdout),
        assigned.route,
        assigned.route_reason,
        ledger,
        DAY,
    )
    return np.array([route == "active_sales" for route in routes])


def pool(size: int) -> tuple[list[str], np.ndarray]:
    """A nurture pool: ids and probabilities, about 17% of them tier A or B."""
    return [f"lead-{i:05d}" for i in range(size)], np.random.default_rng(7).beta(1, 8, size)


def test_the_holdout_takes_its_share_of_a_big_pools_places_not_all_of_them() -> None:
    ids, probability = pool(10_000)
    held = in_holdout(ids, HOLDOUT)
    assert held.sum() > 300  # the old rule (holdout first) gave the holdout all 300 places
    sales = sent_to_sales(ids, probability, HOLDOUT)
    assert sales.sum() == 300
    assert 14 <= (sales & held).sum() <= 16
    model = np.flatnonzero(~held)
    likeliest = model[np.argsort(-probability[model])[: (sales & ~held).sum()]]
    assert set(np.flatnonzero(sales & ~held)) == set(likeliest)
    # The holdout's places go by its hash, not by score: its first leads by hash, which are
    # not its likeliest.
    granted = set(np.flatnonzero(sales & held))
    by_hash = np.flatnonzero(held)[np.argsort(unit_hash(np.array(ids)[held], HOLDOUT.salt))]
    assert granted == set(by_hash[: len(granted)])
    by_score = np.flatnonzero(held)[np.argsort(-probability[held])]
    assert len(granted & set(by_score[: len(granted)])) <= 3


def test_a_single_lead_claims_a_place_as_it_always_has() -> None:
    ledger = CapacityLedger(BatchPlaces(), leads_per_day=2, window_days=0)
    ids, probability = pool(200)
    held = in_holdout(ids, HOLDOUT)
    lone = [int(np.flatnonzero(held)[0]), *np.flatnonzero(~held)[:2].tolist()]
    granted = []
    for i in lone:  # a holdout lead, then two of the model's, one request each
        routes, _ = apply_capacity(
            [(ids[i], DAY)],
            claim_order([ids[i]], probability[i : i + 1], held[i : i + 1], HOLDOUT),
            ["active_sales"],
            [""],
            ledger,
            DAY,
        )
        granted.append(routes == ["active_sales"])
    assert granted == [True, True, False]  # first come, first served, holdout or not


def test_no_holdout_gives_every_place_to_the_likeliest_leads() -> None:
    ids, probability = pool(10_000)
    sales = sent_to_sales(ids, probability, HOLDOUT.model_copy(update={"share": 0}))
    assert set(np.flatnonzero(sales)) == set(np.argsort(-probability)[:300])


def test_the_places_do_not_depend_on_the_order_leads_come_in() -> None:
    ids, probability = pool(2_000)
    sales = sent_to_sales(ids, probability, HOLDOUT)
    order = np.random.default_rng(3).permutation(len(ids))
    shuffled = sent_to_sales([ids[i] for i in order], probability[order], HOLDOUT)
    assert (shuffled == sales[order]).all()
    assert (sent_to_sales(ids, probability, HOLDOUT) == sales).all()
