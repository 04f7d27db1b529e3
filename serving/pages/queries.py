"""What the pages read from the store, aggregated and paged by the database.

Tonight's list is the newest nightly rescore kept in the store (the decisions of caller
`rescore` with the newest `scored_at`): the index `decisions_by_run` (caller, scored_at,
route, score) hands a route's leads over best first, so a page of 50 costs the same for 300
leads sent to sales as for 200,000 in nurture. A lead is `recycled` when the run before it
had routed the lead to nurturing and this one sends it to active sales — the `recycled` of
`leadscore rescore --previous`, with the previous run taken from the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Select, case, func, select

from features.store import schema as s
from features.store.lead_store import LeadStore
from features.store.records import from_us
from serving.decisions import RESCORE_CALLER
from training.policy import ACTIVE_SALES, NURTURING

RECYCLED, ALL = "recycled", "all"
ROUTES = (ACTIVE_SALES, RECYCLED, NURTURING, ALL)
SORTS = ("score", "expected_value_pln", "tier", "lead_id", "source", "partner_id")
EXPORT_CHUNK = 5_000
LATEST_EVENTS = 100  # a lead's newest events listed; all of them are counted by type

_now, _then, _lead = s.decisions.alias("now"), s.decisions.alias("then"), s.leads


@dataclass(frozen=True)
class ListQuery:
    """One view of tonight's list: which route, filters, order and page."""

    route: str = ACTIVE_SALES
    tier: str | None = None
    source: str | None = None
    partner_id: str | None = None
    sort: str = "score"
    descending: bool = True
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class Run:
    """A rescore kept in the store: when it was recorded, and the run before it if any."""

    scored_at: int
    previous: int | None


def latest_run(connection: Connection) -> Run | None:
    """The newest rescore in the store and the one before it (two index look-ups)."""
    newest = _newest_before(connection, None)
    if newest is None:
        return None
    return Run(newest, _newest_before(connection, newest))


def _newest_before(connection: Connection, before: int | None) -> int | None:
    query = select(func.max(s.decisions.c.scored_at)).where(s.decisions.c.caller == RESCORE_CALLER)
    if before is not None:
        query = query.where(s.decisions.c.scored_at < before)
    return connection.execute(query).scalar()


def run_summary(connection: Connection, run: Run) -> dict[str, Any]:
    """How many leads the run scored, by route, how many were recycled, and its as-of."""
    in_run = (_now.c.caller == RESCORE_CALLER) & (_now.c.scored_at == run.scored_at)
    routes = dict(
        connection.execute(
            select(_now.c.route, func.count()).where(in_run).group_by(_now.c.route)
        ).all()
    )
    # One as-of for the whole run: any row says it (a max would read every row).
    as_of = connection.execute(select(_now.c.as_of).where(in_run).limit(1)).scalar()
    recycled = None
    if run.previous is not None:
        counted = _rows(run, ListQuery(route=RECYCLED)).with_only_columns(func.count())
        recycled = connection.execute(counted).scalar()
    return {
        "scored_at": from_us(run.scored_at).isoformat(),
        "as_of": from_us(as_of).isoformat() if as_of is not None else None,
        "previous_scored_at": from_us(run.previous).isoformat() if run.previous else None,
        "leads": sum(routes.values()),
        "by_route": routes,
        "recycled": recycled,
    }


def _rows(run: Run, view: ListQuery) -> Select[Any]:
    """The run's decisions in the view (route, tier, source, partner), joined with who
    brought each lead and its route in the run before."""
    # The run before is found by lead and moment, which `decisions_by_lead` answers in one
    # look-up; naming its caller in the join would let SQLite pick `decisions_by_run` and
    # read the whole earlier run for every row. The caller is checked on the row found.
    then_on = (_then.c.lead_id == _now.c.lead_id) & (
        _then.c.scored_at == (run.previous if run.previous is not None else -1)
    )
    previous_route = case((_then.c.caller == RESCORE_CALLER, _then.c.route))
    query = (
        select(
            _now.c.lead_id,
            _now.c.score,
            _now.c.probability,
            _now.c.tier,
            _now.c.route,
            _now.c.route_reason,
            _now.c.holdout,
            _now.c.reasons,
            _now.c.conversion_version,
            _now.c.velocity_version,
            _lead.c.source,
            _lead.c.partner_id,
            previous_route.label("previous_route"),
            case((_then.c.caller == RESCORE_CALLER, _then.c.score)).label("previous_score"),
        )
        .join(_lead, _lead.c.lead_id == _now.c.lead_id)
        .outerjoin(_then, then_on)
        .where((_now.c.caller == RESCORE_CALLER) & (_now.c.scored_at == run.scored_at))
    )
    if view.route in (ACTIVE_SALES, RECYCLED):
        query = query.where(_now.c.route == ACTIVE_SALES)
    elif view.route == NURTURING:
        query = query.where(_now.c.route == NURTURING)
    if view.route == RECYCLED:
        query = query.where(previous_route == NURTURING)
    for column, wanted in (
        (_now.c.tier, view.tier),
        (_lead.c.source, view.source),
        (_lead.c.partner_id, view.partner_id),
    ):
        if wanted is not None:
            query = query.where(column == wanted)
    return query


def _count(run: Run, view: ListQuery) -> Select[Any]:
    """How many rows the view holds; without the joins when no filter needs them, so that
    counting every lead of a run reads only the index."""
    if view.route == RECYCLED or view.source is not None or view.partner_id is not None:
        return _rows(run, view).with_only_columns(func.count())
    query = select(func.count()).where(
        (_now.c.caller == RESCORE_CALLER) & (_now.c.scored_at == run.scored_at)
    )
    if view.route != ALL:
        query = query.where(_now.c.route == view.route)
    if view.tier is not None:
        query = query.where(_now.c.tier == view.tier)
    return query


def _ordered(query: Select[Any], view: ListQuery) -> Select[Any]:
    """By the chosen column, then by lead id so that pages never overlap."""
    column = {
        "score": _now.c.score,
        "expected_value_pln": _now.c.probability,  # the value is the probability × a constant
        "tier": _now.c.tier,
        "lead_id": _now.c.lead_id,
        "source": _lead.c.source,
        "partner_id": _lead.c.partner_id,
    }[view.sort]
    first = column.desc() if view.descending else column.asc()
    return query.order_by(first, _now.c.lead_id)


def tonight(engine: Engine, view: ListQuery, value_of_sql: float) -> dict[str, Any]:
    """A page of tonight's list, the run's summary and the values the filters can take;
    `run` is None when no rescore was recorded in the store."""
    with engine.connect() as connection:
        run = latest_run(connection)
        if run is None:
            return {"run": None, "rows": [], "total": 0, "page": 1, "pages": 0}
        query = _rows(run, view)
        total = connection.execute(_count(run, view)).scalar_one()
        page = _ordered(query, view).limit(view.per_page).offset((view.page - 1) * view.per_page)
        rows = [_row(row, value_of_sql) for row in connection.execute(page).mappings()]
        summary = run_summary(connection, run)
        choices = _choices(connection, run)
    return {
        "run": summary,
        "rows": rows,
        "total": total,
        "page": view.page,
        "pages": -(-total // view.per_page),
        "choices": choices,
    }


def _choices(connection: Connection, run: Run) -> dict[str, list[str]]:
    """The sources and partners of the leads the run sent to sales (the filters' lists)."""
    sent = _rows(run, ListQuery()).subquery()
    return {
        name: [
            value
            for value in connection.execute(
                select(sent.c[name]).distinct().order_by(sent.c[name])
            ).scalars()
            if value is not None
        ]
        for name in ("source", "partner_id")
    }


def export(engine: Engine, view: ListQuery, value_of_sql: float) -> Iterator[list[dict[str, Any]]]:
    """Every row of the view (no paging), in chunks, for the CSV download."""
    with engine.connect() as connection:
        run = latest_run(connection)
        if run is None:
            return
        result = connection.execution_options(yield_per=EXPORT_CHUNK).execute(
            _ordered(_rows(run, view), view)
        )
        for chunk in result.mappings().partitions():
            yield [_row(row, value_of_sql) for row in chunk]


def _row(row: Any, value_of_sql: float) -> dict[str, Any]:
    """A list row as the page shows it; expected value as /score computes it."""
    out = dict(row)
    out["expected_value_pln"] = round(row["probability"] * value_of_sql)
    out["recycled"] = row["previous_route"] == NURTURING and row["route"] == ACTIVE_SALES
    return out


def lead_trail(store: LeadStore, lead_id: str) -> dict[str, Any] | None:
    """What the store knows of one lead: who brought it, attribution changes, stages, every
    decision (newest first) and its events (counted by type, the newest listed); None when
    the store does not know the lead."""
    history = store.history(lead_id)
    if history is None:
        return None
    lead, events = history
    trail = {name: [_moments(row) for row in rows] for name, rows in store.trail(lead_id).items()}
    return {
        "lead": {
            "lead_id": lead.lead_id,
            "created_at": lead.created_at.isoformat(),
            "source": lead.source,
            "partner_id": lead.partner_id,
            "owner_id": lead.owner_id,
            "attributes": lead.attributes or {},
        },
        "attribution": trail["attribution"],
        "stages": trail["stages"],
        "decisions": trail["decisions"][::-1],
        "events": {
            "total": len(events),
            "by_type": dict(Counter(kind for _, kind in events).most_common()),
            "latest": [
                {"ts": ts.isoformat(), "event_type": kind}
                for ts, kind in events[::-1][:LATEST_EVENTS]
            ],
        },
    }


MOMENTS = ("changed_at", "ts", "scored_at", "as_of", "received_at")


def _moments(row: dict[str, Any]) -> dict[str, Any]:
    return {k: from_us(v).isoformat() if k in MOMENTS else v for k, v in row.items()}
