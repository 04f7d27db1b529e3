"""Where a lead goes: its tier's route, then the daily active-sales capacity.

Two rules, applied in order, and `route_reason` names the one that decided:
1. tier — the first tier (from the best down) whose min_score the score reaches gives the
   tier and its route (configs/routing.yaml);
2. capacity — at most reps × leads_per_rep_per_day different leads a day (UTC, by as_of) go
   to active sales. A lead that already holds a place that day keeps it however often it is
   rescored; once the day is full, further active-sales leads go to nurturing. The places live
   in the lead store, so that every worker process counts the same day. Within one request
   the leads claim in `claim_order`: the holdout takes about its share of the places granted,
   the model's likeliest leads the rest.

Days are kept to the server's clock: only a lead scored as of a day within `window_days` of
today claims a place. One as of another day (a replay of last month, an as_of in 2099) keeps
its tier's route, with a route_reason that says no place was claimed; it neither takes nor
frees a place, and the ledger prunes by today alone, so no request can clear today's count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import numpy as np

from training.folds import unit_hash
from training.policy import ACTIVE_SALES, NURTURING, HoldoutConfig, Route, RoutingConfig

KEEP_DAYS = 7
EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True)
class Assigned:
    """Each lead's tier, route, the rule that chose the route, and whether the lead is in the
    routing holdout (routed by the fixed rule, not by its score)."""

    tier: list[str]
    route: list[Route]
    route_reason: list[str]
    holdout: np.ndarray


def in_holdout(lead_ids: Sequence[str], holdout: HoldoutConfig) -> np.ndarray:
    """Whether each lead is in the routing holdout: a stable hash of salt and id below the
    share (training/folds.py's hash, the one the project uses to split leads)."""
    if holdout.share == 0 or not lead_ids:
        return np.zeros(len(lead_ids), dtype=bool)
    return unit_hash(lead_ids, holdout.salt) < holdout.share


def assign_routes(lead_ids: Sequence[str], score: np.ndarray, routing: RoutingConfig) -> Assigned:
    """Tier by score for every lead; route by the tier rule, or by the holdout's rule."""
    floors = np.array([rule.min_score for rule in routing.tiers])
    first = np.argmax(np.asarray(score)[:, None] >= floors[None, :], axis=1).tolist()
    rules = [routing.tiers[k] for k in first]
    reason_of = [
        f"tier {rule.tier}: score ≥ {rule.min_score:g} routes to {rule.route}"
        for rule in routing.tiers
    ]
    routes = [rule.route for rule in rules]
    reasons = [reason_of[k] for k in first]
    holdout = in_holdout(lead_ids, routing.holdout)
    held = routing.holdout
    for i in np.flatnonzero(holdout).tolist():
        routes[i] = held.route
        reasons[i] = (
            f"holdout: {held.share:.0%} of leads (a stable hash of the lead id) go to "
            f"{held.route} whatever their score, to measure the model against this rule"
        )
    return Assigned([rule.tier for rule in rules], routes, reasons, holdout)


class Places(Protocol):
    """Where places are counted: the lead store (`LeadStore.claim_places`), shared by every
    worker, or `BatchPlaces`, the batch's own."""

    def claim_places(
        self, wanted: Sequence[tuple[int, str]], per_day: int, forget_before: int
    ) -> list[bool]: ...


class BatchPlaces:
    """The places of one batch run alone: its own day starts empty, as it always has."""

    def __init__(self) -> None:
        self.held: dict[int, set[str]] = {}

    def claim_places(
        self, wanted: Sequence[tuple[int, str]], per_day: int, forget_before: int
    ) -> list[bool]:
        granted = []
        for day, lead_id in wanted:
            held = self.held.setdefault(day, set())
            if lead_id not in held and len(held) < per_day:
                held.add(lead_id)
            granted.append(lead_id in held)
        return granted


class CapacityLedger:
    """Today's active-sales places, kept in the lead store so every worker (and every
    machine running the service) counts the same day."""

    def __init__(self, store: Places, leads_per_day: int, window_days: int) -> None:
        self.store = store
        self.leads_per_day = leads_per_day
        self.window = timedelta(days=window_days)

    def counts(self, day: date, today: date) -> bool:
        """Whether `day` lies within the window around `today` (the server's date)."""
        return today - self.window <= day <= today + self.window

    def claim(self, wanted: Sequence[tuple[date, str]], today: date) -> list[bool]:
        """Give places to (day, lead) pairs in the order asked; True where the lead holds one
        that day (new or not). Every day must count (`counts`) around `today`. One
        transaction for the whole request; days older than a week are forgotten.
        """
        if not wanted:
            return []
        outside = [day for day, _ in wanted if not self.counts(day, today)]
        if outside:
            raise ValueError(f"{outside[0]} is outside the capacity window around {today}")
        days = [(_day_number(day), lead_id) for day, lead_id in wanted]
        forget = _day_number(today - timedelta(days=KEEP_DAYS))
        return self.store.claim_places(days, self.leads_per_day, forget)


def _day_number(day: date) -> int:
    return (day - EPOCH_DAY).days


def apply_capacity(
    leads: Sequence[tuple[str, date]],
    position: np.ndarray,
    routes: list[Route],
    reasons: list[str],
    ledger: CapacityLedger,
    today: date,
) -> tuple[list[Route], list[str]]:
    """Routes after the capacity rule for (lead_id, as_of day) pairs; leads claim places in
    ascending `position` (`claim_order`), equal ones by lead id, so the outcome does not depend
    on the order they came in. Leads of days outside the window keep their route.
    """
    routes, reasons = list(routes), list(reasons)
    days = [day for _, day in leads]
    wanted = [i for i, route in enumerate(routes) if route == ACTIVE_SALES]
    for i in wanted:
        if not ledger.counts(days[i], today):
            reasons[i] += (
                f"; as_of {days[i].isoformat()} is not within {ledger.window.days} days of "
                f"today ({today.isoformat()}): no capacity place claimed"
            )
    wanted = [i for i in wanted if ledger.counts(days[i], today)]
    wanted.sort(key=lambda i: (position[i], leads[i][0]))
    granted = ledger.claim([(days[i], leads[i][0]) for i in wanted], today)
    for i, ok in zip(wanted, granted, strict=True):
        if not ok:
            routes[i] = NURTURING
            reasons[i] = (
                f"capacity: all {ledger.leads_per_day} active-sales places of "
                f"{days[i].isoformat()} are taken"
            )
    return routes, reasons


def claim_order(
    lead_ids: Sequence[str], probability: np.ndarray, held: np.ndarray, holdout: HoldoutConfig
) -> np.ndarray:
    """Each lead's position in the queue for active-sales places (`apply_capacity` claims in
    ascending position): two queues merged so that the holdout gets about `holdout.share` of
    any run of places, however many leads want one. The model's leads queue by descending
    probability, the j-th at (j + 0.5) / (1 − share). The holdout's (`held`) queue by their
    membership hash (`in_holdout`), which the model never sees, the k-th at (k + 0.5) / share:
    the model does not decide which of them sales gets, nor can a big holdout (a nightly
    rescore of 200,000 leads holds about 10,000) take every place of the day. One lead alone
    is one claim, whichever queue it is in.
    """
    ids = np.asarray(lead_ids, dtype=str)
    held = np.asarray(held, dtype=bool)
    position = np.empty(len(ids))
    model = np.flatnonzero(~held)
    ranked = model[np.lexsort((ids[model], -np.asarray(probability)[model]))]
    position[ranked] = _spaced(len(ranked), 1 - holdout.share)
    drawn = np.flatnonzero(held)
    drawn = drawn[np.lexsort((ids[drawn], unit_hash(ids[drawn].tolist(), holdout.salt)))]
    position[drawn] = _spaced(len(drawn), holdout.share)
    return position


def _spaced(count: int, share: float) -> np.ndarray:
    """Positions of a queue that takes `share` of the places: one every 1 / share, the first
    half a step in, so two queues interleave at their shares from the start."""
    return (np.arange(count) + 0.5) / share
