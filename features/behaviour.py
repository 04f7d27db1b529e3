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

from features.config import FeatureConfig
from features.contract import OTHER_EVENT

DAY_MS = 86_400_000
_INT64_MAX = np.iinfo(np.int64).max


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
        type_keys = np.sort((lead_codes * n_types + type_codes) * span + rel)
        lead_keys = np.sort(lead_codes * span + rel)
        lead_of, rel_sorted = np.divmod(lead_keys, span)
        day = (rel_sorted + t0) // DAY_MS
        new_day = np.ones(len(lead_keys), dtype=bool)
        new_day[1:] = (lead_of[1:] != lead_of[:-1]) | (day[1:] != day[:-1])
        return cls(type_keys, lead_keys[new_day], n_types, t0, span)

    def rel(self, t_ms: np.ndarray) -> np.ndarray:
        """Times relative to t0, clipped so a query never spills into a neighbouring group."""
        return np.clip(t_ms - self.t0, 0, self.span)


def behaviour_matrix(
    index: EventIndex,
    lead_codes: np.ndarray,
    as_of_ms: np.ndarray,
    created_ms: np.ndarray,
    config: FeatureConfig,
) -> np.ndarray:
    """Behaviour features (columns as `spec.behaviour_names`) for rows (lead, as_of)."""
    lead_codes = np.asarray(lead_codes, dtype=np.int64)
    as_of_ms = np.asarray(as_of_ms, dtype=np.int64)
    n_rows, n_types = len(lead_codes), index.n_types
    base = (lead_codes[:, None] * n_types + np.arange(n_types)) * index.span  # (rows, types)
    as_of = as_of_ms[:, None]
    end = np.searchsorted(index.type_keys, base + index.rel(as_of))
    start = np.searchsorted(index.type_keys, base)
    count_all = end - start

    def count_since(days: int) -> np.ndarray:
        return end - np.searchsorted(index.type_keys, base + index.rel(as_of - days * DAY_MS))

    windows = {w: count_since(w) for w in config.windows_days}
    has = count_all > 0
    # With no events at all there is nothing to look up (has is False everywhere).
    keys = index.type_keys if len(index.type_keys) else np.zeros(1, dtype=np.int64)
    last_rel = keys[np.maximum(end - 1, 0)] % index.span
    first_rel = keys[np.minimum(start, len(keys) - 1)] % index.span
    rel_as_of = (as_of - index.t0).astype(np.float64)
    since_last = np.where(has, (rel_as_of - last_rel) / DAY_MS, np.nan)
    since_first = np.where(has, (rel_as_of - first_rel) / DAY_MS, np.nan)

    per_type = np.empty((n_rows, n_types, len(windows) + 3))
    for j, w in enumerate(config.windows_days):
        per_type[:, :, j] = windows[w]
    per_type[:, :, len(windows)] = count_all
    per_type[:, :, len(windows) + 1] = since_last
    per_type[:, :, len(windows) + 2] = since_first

    recent = config.trend_recent_days
    any_recent = count_since(recent).sum(axis=1)
    any_baseline = count_since(recent + config.trend_baseline_days).sum(axis=1) - any_recent
    expected_recent = any_baseline * recent / config.trend_baseline_days
    lead_base = lead_codes * index.span
    active_days = np.searchsorted(
        index.day_keys, lead_base + index.rel(as_of_ms)
    ) - np.searchsorted(index.day_keys, lead_base)
    any_since_last = np.where(has, since_last, np.inf).min(axis=1)
    any_since_last[np.isinf(any_since_last)] = np.nan
    type_pos = event_type_codes(config)
    intent = _intent_block(index, base, end, as_of, rel_as_of, windows, since_last, keys, config)
    extra = np.column_stack(
        [
            *(windows[w].sum(axis=1) for w in config.windows_days),
            count_all.sum(axis=1),
            any_since_last,
            active_days,
            (any_recent + 1.0) / (expected_recent + 1.0),
            (as_of_ms - np.asarray(created_ms, dtype=np.int64)) / DAY_MS,
            count_all[:, type_pos["webinar_registered"]] > 0,
            count_all[:, type_pos["webinar_attended"]] > 0,
            count_all[:, type_pos["unsubscribe"]] > 0,
        ]
    ).astype(np.float64)
    return np.hstack([per_type.reshape(n_rows, n_types * per_type.shape[2]), extra, intent])


def _intent_block(
    index: EventIndex,
    base: np.ndarray,
    end: np.ndarray,
    as_of: np.ndarray,
    rel_as_of: np.ndarray,
    windows: dict[int, np.ndarray],
    since_last: np.ndarray,
    keys: np.ndarray,
    config: FeatureConfig,
) -> np.ndarray:
    """Buying-intent events taken together: counts, recency, and how long a burst has run.

    `intent_days_since_first_{N}d` dates the first intent event of the last N days: the age of
    the current burst, which says how far into a buying window the lead is.
    """
    cols = [event_type_codes(config)[name] for name in config.intent_event_types]
    onset = config.intent_onset_days
    start = np.searchsorted(index.type_keys, base[:, cols] + index.rel(as_of - onset * DAY_MS))
    seen = end[:, cols] > start
    first_rel = keys[np.minimum(start, len(keys) - 1)] % index.span
    burst = np.where(seen, (rel_as_of - first_rel) / DAY_MS, -np.inf).max(axis=1)
    burst[np.isinf(burst)] = np.nan
    last = np.where(np.isnan(since_last[:, cols]), np.inf, since_last[:, cols]).min(axis=1)
    last[np.isinf(last)] = np.nan
    counts = [windows[w][:, cols].sum(axis=1) for w in config.windows_days]
    return np.column_stack([*counts, last, burst]).astype(np.float64)


def event_type_codes(config: FeatureConfig) -> dict[str, int]:
    """Code of each configured event type; any other string gets the code of "other"."""
    return {name: i for i, name in enumerate((*config.event_types, OTHER_EVENT))}
