"""From decoded request bodies to the scorer's input, checking what a schema cannot.

The JSON schema knows shapes and sizes; only the served model knows which attributes it reads
as numbers, and only the clock knows "now". So here: `as_of` defaults to now, `created_at` must
not be after it, every timestamp lies between 2000 and 2100 (JSON Schema has no range for a
string), and an attribute the model reads as a number must be one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from features.contract import LEAD_NOT_ATTRIBUTES
from features.spec import FeatureSpec
from features.vectors import LeadRecord
from serving.errors import InvalidRequest, Problem
from serving.schemas import EARLIEST, LATEST, LeadIn

# A lead created "now" by a caller whose clock runs a little ahead is still scored (as of its
# creation) when the request does not say as_of; beyond this it is a wrong timestamp.
CLOCK_SKEW = timedelta(minutes=5)
OUT_OF_RANGE = f"must lie from {EARLIEST.date()} to before {LATEST.date()} (UTC)"


def to_records(
    leads: Sequence[LeadIn], now: datetime, spec: FeatureSpec, prefix: str = ""
) -> tuple[list[LeadRecord], list[datetime]]:
    """Records and as_of moments of `leads`; InvalidRequest lists every problem found.

    `prefix` locates the leads in the body: "" for /score, "leads" for /score_batch.
    Event times are passed on as sent: features/ reads a naive one as UTC, as intake does.
    """
    problems = _check_event_times(leads, prefix)
    attributes_fine = _attributes_fine(leads, spec)
    records: list[LeadRecord] = []
    moments: list[datetime] = []
    for i, lead in enumerate(leads):
        where = f"{prefix}[{i}]." if prefix else ""
        before = len(problems)
        created_at = _in_range(lead.created_at, f"{where}created_at", problems)
        as_of = _in_range(lead.as_of, f"{where}as_of", problems) if lead.as_of else None
        in_range = len(problems) == before  # else comparing the moments says nothing more
        moments.append(_as_of(created_at, as_of, now, where, problems) if in_range else now)
        if not attributes_fine:
            _check_attributes(lead, spec, where, problems)
        records.append(
            LeadRecord(
                lead_id=lead.lead_id,
                created_at=created_at,
                source=lead.source,
                partner_id=lead.partner_id,
                attributes=lead.attributes,
                events=[(event.ts, event.event_type) for event in lead.events],
            )
        )
    if problems:
        raise InvalidRequest(problems)
    return records, moments


def _in_range(moment: datetime, field: str, problems: list[Problem]) -> datetime:
    """The moment in UTC (naive ones are UTC, as in data files); out of range is a problem.

    Compared before converting: an offset can carry year 1 or 9999 past what a datetime holds.
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if EARLIEST <= aware < LATEST:
        return aware.astimezone(UTC)
    problems.append(Problem(field, f"{OUT_OF_RANGE} (got {moment.isoformat()})"))
    return EARLIEST


def _check_event_times(leads: Sequence[LeadIn], prefix: str) -> list[Problem]:
    """Problems of event times out of range, found with one look at each event's year.

    Years strictly inside the range need no offset arithmetic; only a batch holding a year at
    either end (or outside) is looked at event by event.
    """
    years = {event.ts.year for lead in leads for event in lead.events}
    if all(EARLIEST.year < year < LATEST.year - 1 for year in years):
        return []
    problems: list[Problem] = []
    for i, lead in enumerate(leads):
        where = f"{prefix}[{i}]." if prefix else ""
        for j, event in enumerate(lead.events):
            if not EARLIEST.year < event.ts.year < LATEST.year - 1:
                _in_range(event.ts, f"{where}events[{j}].ts", problems)
    return problems


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


def _attributes_fine(leads: Sequence[LeadIn], spec: FeatureSpec) -> bool:
    """Whether no lead sends text or a boolean where the model reads a number, nor a boolean
    where it reads a category: one look at the types each attribute comes in over the whole
    request, so that only a request with a problem is checked lead by lead (in their order)."""
    wrong = [(name, (str, bool)) for name in spec.numeric]
    wrong += [(name, bool) for name in spec.categories if name not in LEAD_NOT_ATTRIBUTES]
    return not any(
        issubclass(kind, refused)
        for name, refused in wrong
        for kind in {type(lead.attributes.get(name)) for lead in leads}
    )


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
