"""Event aggregates at a point in time: the one code path behind every behaviour feature.

Events are indexed once as sorted integer keys `(lead, event type, timestamp)`. Any feature of
a (lead, as_of) row is then a difference of `searchsorted` positions: a count over a window is
"events before as_of" minus "events before as_of - window"; the last event is the key just
before as_of. The same arithmetic serves 200,000 leads in the batch, millions of training
snapshots (many as_of per lead, without copying events), and one lead in a request.

Time is compared in whole milliseconds: an event counts for `as_of` only if its millisecond is
strictly before as_of's, so an event at exactly as_of is not yet known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.catalog import Behaviour
from features.config import FeatureConfig
from features.contract import OTHER_EVENT
from features.threads import run_all

DAY_MS = 86_400_000
_INT64_MAX = np.iinfo(np.int64).max
PARALLEL_SORT = 1_000_000  # events from which the index's two sorts run side by side


@dataclass(frozen=True)
class EventIndex:
    """Sorted event keys of a set of leads; build once, query for any rows and times."""

    type_keys: np.ndarray  # (lead * n_types + type) * span + (ts - t0), sorted
    day_keys: np.ndarray  # lead * span + (first ts of each active day - t0), sorted
    n_types: int
    t0: int
    span: int

    @classmethod
    def build(
        cls, lead_codes: np.ndarray, type_codes: np.ndarray, ts_ms: np.ndarray, n_types: int
    ) -> EventIndex:
        """Index events given as parallel arrays (lead row, type code, epoch milliseconds)."""
        lead_codes = np.asarray(lead_codes, dtype=np.int64)
        ts_ms = np.asarray(ts_ms, dtype=np.int64)
        t0 = int(ts_ms.min()) if len(ts_ms) else 0
        span = (int(ts_ms.max()) - t0 + 1) if len(ts_ms) else 1
        groups = (int(lead_codes.max()) + 1) * n_types if len(lead_codes) else 1
        if groups * (span + 1) >= _INT64_MAX:
            raise ValueError(
                f"event index overflow: {groups:,} lead×type groups over {span:,} ms; "
                "score fewer leads at once"
            )
        rel = ts_ms - t0
        type_keys, lead_keys = run_all(
            [
                lambda: np.sort((lead_codes * n_types + type_codes) * span + rel),
                lambda: np.sort(lead_codes * span + rel),
            ],
            parallel=len(rel) >= PARALLEL_SORT,
        )
        lead_of, rel_sorted = np.divmod(lead_keys, span)
        day = (rel_sorted + t0) // DAY_MS
        new_day = np.ones(len(lead_keys), dtype=bool)
        new_day[1:] = (lead_of[1:] != lead_of[:-1]) | (day[1:] != day[:-1])
        return cls(type_keys, lead_keys[new_day], n_types, t0, span)

    def rel(self, t_ms: np.ndarray) -> np.ndarray:
        """Times relative to t0, clipped so a query never spills into a neighbouring group."""
        return np.clip(t_ms - self.t0, 0, self.span)


class _Lookup:
    """What rows (lead, as_of) find in the index, per event type; each array built once and
    shared by every column that needs it."""

    def __init__(self, index: EventIndex, lead_codes: np.ndarray, as_of_ms: np.ndarray) -> None:
        self.index = index
        self.base = (lead_codes[:, None] * index.n_types + np.arange(index.n_types)) * index.span
        self.as_of = as_of_ms[:, None]
        self.end = np.searchsorted(index.type_keys, self.base + index.rel(self.as_of))
        # With no events at all there is nothing to look up (every count is 0).
        self.keys = index.type_keys if len(index.type_keys) else np.zeros(1, dtype=np.int64)
        self.rel_as_of = (self.as_of - index.t0).astype(np.float64)
        self._start: dict[int | None, np.ndarray] = {
            None: np.searchsorted(index.type_keys, self.base)
        }
        self._count: dict[int | None, np.ndarray] = {}
        self._since: dict[tuple[str, int | None], np.ndarray] = {}

    def start(self, window: int | None) -> np.ndarray:
        """Position of each (row, type)'s first event within the window (None: ever)."""
        if window not in self._start:
            since = self.index.rel(self.as_of - window * DAY_MS)
            self._start[window] = np.searchsorted(self.index.type_keys, self.base + since)
        return self._start[window]

    def count(self, window: int | None) -> np.ndarray:
        if window not in self._count:
            self._count[window] = self.end - self.start(window)
        return self._count[window]

    def days_since(self, end: str, window: int | None) -> np.ndarray:
        """Days from the `end` ("last" or "first") event within the window to as_of; NaN
        where there is none."""
        if (end, window) not in self._since:
            at = np.maximum(self.end - 1, 0) if end == "last" else self.start(window)
            rel = self.keys[np.minimum(at, len(self.keys) - 1)] % self.index.span
            days = np.where(self.count(window) > 0, (self.rel_as_of - rel) / DAY_MS, np.nan)
            self._since[end, window] = days
        return self._since[end, window]

    def active_days(self, lead_codes: np.ndarray) -> np.ndarray:
        lead_base = lead_codes * self.index.span
        upto = self.index.rel(self.as_of[:, 0])
        day_keys = self.index.day_keys
        return np.searchsorted(day_keys, lead_base + upto) - np.searchsorted(day_keys, lead_base)


def _nan_reduce(values: np.ndarray, lowest: bool) -> np.ndarray:
    """Per row, the lowest (or highest) value over the chosen types, ignoring NaN."""
    fill = np.inf if lowest else -np.inf
    filled = np.where(np.isnan(values), fill, values)
    out = filled.min(axis=1) if lowest else filled.max(axis=1)
    out[np.isinf(out)] = np.nan
    return out


@dataclass(frozen=True)
class BehaviourPlan:
    """A behaviour table against event type codes: the one code path from declarations to
    columns. Features of one event type that share an aggregate and window are taken from the
    per-type arrays in one slice; the rest are computed one by one."""

    features: tuple[Behaviour, ...]
    codes: dict[str, int]
    # (aggregate, window) -> (output columns, the event type code of each)
    sliced: dict[tuple[str, int | None], tuple[np.ndarray, np.ndarray]]
    single: tuple[int, ...]  # output columns computed one by one

    @classmethod
    def build(cls, features: tuple[Behaviour, ...], codes: dict[str, int]) -> BehaviourPlan:
        unknown = {e for f in features for e in f.events or () if e not in codes}
        if unknown:
            raise ValueError(f"behaviour table: unknown event types {sorted(unknown)}")
        groups: dict[tuple[str, int | None], list[tuple[int, int]]] = {}
        single = []
        for j, feature in enumerate(features):
            if (
                feature.events is not None
                and len(feature.events) == 1
                and feature.aggregate in ("count", "days_since_last", "days_since_first", "flag")
            ):
                key = (feature.aggregate, feature.window_days)
                groups.setdefault(key, []).append((j, codes[feature.events[0]]))
            else:
                single.append(j)
        sliced = {
            key: (np.array([j for j, _ in pairs]), np.array([code for _, code in pairs]))
            for key, pairs in groups.items()
        }
        return cls(features, codes, sliced, tuple(single))

    def matrix(
        self,
        index: EventIndex,
        lead_codes: np.ndarray,
        as_of_ms: np.ndarray,
        created_ms: np.ndarray,
    ) -> np.ndarray:
        """The behaviour columns, in table order, for rows (lead, as_of)."""
        lead_codes = np.asarray(lead_codes, dtype=np.int64)
        as_of_ms = np.asarray(as_of_ms, dtype=np.int64)
        at = _Lookup(index, lead_codes, as_of_ms)
        out = np.empty((len(lead_codes), len(self.features)))
        for (aggregate, window), (columns, codes) in self.sliced.items():
            out[:, columns] = _per_type(at, aggregate, window)[:, codes]
        for j in self.single:
            feature = self.features[j]
            types = (
                slice(None) if feature.events is None else [self.codes[e] for e in feature.events]
            )
            out[:, j] = _column(at, feature, types, lead_codes, created_ms, as_of_ms)
        return out


def _per_type(at: _Lookup, aggregate: str, window: int | None) -> np.ndarray:
    if aggregate == "count":
        return at.count(window)
    if aggregate == "flag":
        return at.count(window) > 0
    if aggregate == "days_since_first":
        return at.days_since("first", window)
    return _since_last(at, window)


def _since_last(at: _Lookup, window: int | None) -> np.ndarray:
    """Days since the latest event; with a window, NaN where it lies before the window."""
    days = at.days_since("last", None)
    return days if window is None else np.where(at.count(window) > 0, days, np.nan)


def _column(
    at: _Lookup,
    feature: Behaviour,
    types: slice | list[int],
    lead_codes: np.ndarray,
    created_ms: np.ndarray,
    as_of_ms: np.ndarray,
) -> np.ndarray:
    """One feature over several event types (or none)."""
    window = feature.window_days
    match feature.aggregate:
        case "count":
            return at.count(window)[:, types].sum(axis=1)
        case "flag":
            return at.count(window)[:, types].sum(axis=1) > 0
        case "days_since_last":
            return _nan_reduce(_since_last(at, window)[:, types], lowest=True)
        case "days_since_first":
            return _nan_reduce(at.days_since("first", window)[:, types], lowest=False)
        case "trend":
            recent = at.count(window)[:, types].sum(axis=1)
            before = at.count(window + feature.baseline_days)[:, types].sum(axis=1) - recent
            expected = before * window / feature.baseline_days
            return (recent + 1.0) / (expected + 1.0)
        case "active_days":
            return at.active_days(lead_codes)
        case "age":
            return (as_of_ms - np.asarray(created_ms, dtype=np.int64)) / DAY_MS
    raise ValueError(f"{feature.name}: unknown aggregate {feature.aggregate!r}")


def event_type_codes(config: FeatureConfig) -> dict[str, int]:
    """Code of each configured event type; any other string gets the code of "other"."""
    return {name: i for i, name in enumerate((*config.event_types, OTHER_EVENT))}
