"""What the store keeps, as callers hand it over: leads, events, and the moments they carry.

Moments are stored as integers, microseconds since the epoch in UTC (see `schema`), so both
backends compare and sort them exactly; these two functions are the only way in and out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from features.errors import LeadscoreError

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Rows handed over column by column (name → one value per row), as the scores that produce
# them hold them: building a dict per row would cost more than scoring a batch. A JSON column
# takes Python values, or `msgspec.Raw` for JSON already encoded.
Columns = dict[str, list[Any]]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, UTC (naive moments are UTC, as in data files)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(value: int) -> datetime:
    """The moment of `value` microseconds since the epoch, UTC (a lead's 200 stored events are
    read back per stored score: timedelta arithmetic is 3× faster than `fromtimestamp`)."""
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class Event:
    """One event as a caller posts it; `event_id` makes a retried post harmless."""

    event_id: str
    lead_id: str
    ts: datetime
    event_type: str
    value: float | None = None


@dataclass(frozen=True)
class Lead:
    """A lead as the store keeps it: identity, who brought and owns it, static attributes."""

    lead_id: str
    created_at: datetime
    source: str
    partner_id: str | None = None
    owner_id: str | None = None
    attributes: dict[str, Any] | None = None


class UnknownLeads(LeadscoreError):
    """Events or stages for leads the store has never been told about."""

    def __init__(self, ids: Sequence[str]):
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:3])
        super().__init__(f"lead_id: {len(self.ids)} unknown leads, e.g. {shown}")
