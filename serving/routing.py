"""Where a lead goes: its tier's route, then the daily active-sales capacity.

Two rules, applied in order, and `route_reason` names the one that decided:
1. tier — the first tier (from the best down) whose min_score the score reaches gives the
   tier and its route (configs/routing.yaml);
2. capacity — at most reps × leads_per_rep_per_day different leads a day (UTC, by as_of) go
   to active sales. A lead that already holds a place that day keeps it however often it is
   rescored; once the day is full, further active-sales leads go to nurturing. The places live
   in a small SQLite file so that every worker process counts the same day.

Days are kept to the server's clock: only a lead scored as of a day within `window_days` of
today claims a place. One as of another day (a replay of last month, an as_of in 2099) keeps
its tier's route, with a route_reason that says no place was claimed; it neither takes nor
frees a place, and the ledger prunes by today alone, so no request can clear today's count.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from training.policy import ACTIVE_SALES, NURTURING, Route, RoutingConfig

KEEP_DAYS = 7


def assign_tiers(
    score: np.ndarray, routing: RoutingConfig
) -> tuple[list[str], list[Route], list[str]]:
    """(tier, route, route_reason) per score, by the tier rule alone."""
    floors = np.array([rule.min_score for rule in routing.tiers])
    first = np.argmax(np.asarray(score)[:, None] >= floors[None, :], axis=1).tolist()
    rules = [routing.tiers[k] for k in first]
    reason_of = [
        f"tier {rule.tier}: score ≥ {rule.min_score:g} routes to {rule.route}"
        for rule in routing.tiers
    ]
    reasons = [reason_of[k] for k in first]
    return [rule.tier for rule in rules], [rule.route for rule in rules], reasons


class CapacityLedger:
    """Today's active-sales places, shared by processes through one SQLite file."""

    def __init__(self, path: Path, leads_per_day: int, window_days: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.leads_per_day = leads_per_day
        self.window = timedelta(days=window_days)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS places (day TEXT, lead_id TEXT, PRIMARY KEY (day, lead_id))"
        )
        self._pruned: date | None = None

    def counts(self, day: date, today: date) -> bool:
        """Whether `day` lies within the window around `today` (the server's date)."""
        return today - self.window <= day <= today + self.window

    def claim(self, wanted: Sequence[tuple[date, str]], today: date) -> list[bool]:
        """Give places to (day, lead) pairs in the order asked; True where the lead holds one
        that day (new or not). Every day must count (`counts`) around `today`. One
        transaction for the whole request.
        """
        if not wanted:
            return []
        outside = [day for day, _ in wanted if not self.counts(day, today)]
        if outside:
            raise ValueError(f"{outside[0]} is outside the capacity window around {today}")
        places: dict[str, set[str]] = {}  # day → leads holding a place, read once per day
        granted: list[bool] = []
        new: list[tuple[str, str]] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._prune(today)
                for day, lead_id in wanted:
                    key = day.isoformat()
                    if key not in places:
                        rows = self._db.execute("SELECT lead_id FROM places WHERE day = ?", (key,))
                        places[key] = {row[0] for row in rows}
                    held = places[key]
                    if lead_id not in held and len(held) < self.leads_per_day:
                        held.add(lead_id)
                        new.append((key, lead_id))
                    granted.append(lead_id in held)
                self._db.executemany("INSERT INTO places VALUES (?, ?)", new)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return granted

    def _prune(self, day: date) -> None:
        if self._pruned != day:
            cutoff = (day - timedelta(days=KEEP_DAYS)).isoformat()
            self._db.execute("DELETE FROM places WHERE day < ?", (cutoff,))
            self._pruned = day

    def close(self) -> None:
        self._db.close()


def apply_capacity(
    leads: Sequence[tuple[str, date]],
    probability: np.ndarray,
    routes: list[Route],
    reasons: list[str],
    ledger: CapacityLedger,
    today: date,
) -> tuple[list[Route], list[str]]:
    """Routes after the capacity rule for (lead_id, as_of day) pairs; the likeliest leads of a
    batch claim places first. Leads of days outside the window keep their tier's route.
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
    wanted.sort(key=lambda i: -probability[i])
    granted = ledger.claim([(days[i], leads[i][0]) for i in wanted], today)
    for i, ok in zip(wanted, granted, strict=True):
        if not ok:
            routes[i] = NURTURING
            reasons[i] = (
                f"capacity: all {ledger.leads_per_day} active-sales places of "
                f"{days[i].isoformat()} are taken"
            )
    return routes, reasons
