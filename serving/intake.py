"""From validated request bodies to the scorer's input, checking what a schema cannot.

The JSON schema knows shapes; only the served model knows which attributes it reads as
numbers, and only the clock knows "now". So here: `as_of` defaults to now, `created_at` must
not be after it, and an attribute the model reads as a number must be one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from features.contract import LEAD_NOT_ATTRIBUTES
from features.spec import FeatureSpec
from features.vectors import LeadRecord
from serving.errors import InvalidRequest, Problem
from serving.schemas import LeadIn

# A lead created "now" by a caller whose clock runs a little ahead is still scored (as of its
# creation) when the request does not say as_of; beyond this it is a wrong timestamp.
CLOCK_SKEW = timedelta(minutes=5)


def to_records(
    leads: Sequence[LeadIn], now: datetime, spec: FeatureSpec, prefix: str = ""
) -> tuple[list[LeadRecord], list[datetime]]:
    """Records and as_of moments of `leads`; InvalidRequest lists every problem found.

    `prefix` locates the leads in the body: "" for /score, "leads" for /score_batch.
    """
    problems: list[Problem] = []
    records: list[LeadRecord] = []
    moments: list[datetime] = []
    batch = bool(prefix)
    for i, lead in enumerate(leads):
        where = f"{prefix}[{i}]." if batch else ""
        created_at = _utc(lead.created_at)
        as_of = _as_of(created_at, _utc(lead.as_of) if lead.as_of else None, now, where, problems)
        _check_attributes(lead, spec, where, problems)
        moments.append(as_of)
        records.append(
            LeadRecord(
                lead_id=lead.lead_id,
                created_at=created_at,
                source=lead.source,
                partner_id=lead.partner_id,
                attributes=lead.attributes,
                events=[(_aware(event["ts"]), event["event_type"]) for event in lead.events],
            )
        )
    if problems:
        raise InvalidRequest(problems)
    return records, moments


def _aware(moment: datetime) -> datetime:
    """Naive timestamps are UTC, as in data files (features/tables.py); offsets are kept."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    """In UTC, so that as_of's date is the UTC day the capacity rule counts."""
    return _aware(moment).astimezone(UTC)


def _as_of(
    created_at: datetime, as_of: datetime | None, now: datetime, where: str, problems: list[Problem]
) -> datetime:
    if as_of is not None:
        if created_at > as_of:
            problems.append(Problem(f"{where}created_at", f"is after as_of ({as_of.isoformat()})"))
        return as_of
    if created_at > now + CLOCK_SKEW:
        problems.append(
            Problem(
                f"{where}created_at",
                f"is in the future (now is {now.isoformat()}); send as_of to score at another time",
            )
        )
    return max(now, created_at)


def _check_attributes(lead: LeadIn, spec: FeatureSpec, where: str, problems: list[Problem]) -> None:
    for name in spec.numeric:
        value = lead.attributes.get(name)
        if isinstance(value, str | bool):
            problems.append(
                Problem(
                    f"{where}attributes.{name}",
                    f"must be a number or null: the model reads it as a number (got {value!r})",
                )
            )
    for name in spec.categories:
        if name not in LEAD_NOT_ATTRIBUTES and isinstance(lead.attributes.get(name), bool):
            problems.append(
                Problem(f"{where}attributes.{name}", "must be a string or null: it is a category")
            )
