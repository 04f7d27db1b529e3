"""The lead store: one code path for SQLite and PostgreSQL, writes that are idempotent and
committed before they are acknowledged, reads that hand every floor the contract's tables.

A store URL is a SQLAlchemy URL: `sqlite:///data/leadscore.db` (the embedded default) or
`postgresql://user@host:5432/db` (psycopg 3). Where the backends differ lives in `database`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
from sqlalchemy import Connection, func, insert, select, text

from features import contract as c
from features.errors import DataError, LeadscoreError
from features.store import bulk, frames
from features.store import database as db
from features.store import schema as s
from features.store.frames import ATTRIBUTION_FIELDS
from features.store.records import Columns, Event, Lead, UnknownLeads, from_us, to_us
from features.tables import LeadData, check_tables, write_frame

PLACES = 7_254_100  # the advisory lock key of the capacity places (any constant)
# A stored score's read, one statement (one round trip): the lead's row first, then its
# events by time, as (0, created_at, lead_id, source, partner_id, owner_id, attributes) and
# (1, ts, event_type, NULL, ...); attributes come as JSON text from either backend.
_HISTORY = text(
    "SELECT 0 AS part, created_at AS t, lead_id, source, partner_id, owner_id, "
    "CAST(attributes AS TEXT) FROM leads WHERE lead_id = :lead_id "
    "UNION ALL SELECT 1, ts, event_type, NULL, NULL, NULL, NULL FROM events "
    "WHERE lead_id = :lead_id ORDER BY part, t"
)
_ATTRIBUTES = msgspec.json.Decoder(dict[str, Any])
# The capacity claim, on every score in the capacity window: driver statements too (0.64 →
# 0.13 ms on SQLite); its few inserts go through SQLAlchemy.
_LOCK_PLACES = text("SELECT pg_advisory_xact_lock(:key)")
_FORGET_PLACES = text("DELETE FROM capacity_claims WHERE day < :before")
_HELD_PLACES = text("SELECT lead_id FROM capacity_claims WHERE day = :day")


class LeadStore:
    """One database of leads, events, stages, decisions, attribution and capacity claims."""

    def __init__(self, url: str):
        self.url = url
        self.engine = db.connect(url)
        # For a stored score's read and decisions (database.connect).
        self.statements = (
            db.connect(url, autocommit=True)
            if self.engine.dialect.name != "sqlite"
            else self.engine
        )

    def close(self) -> None:
        """Close the pooled connections (a process that ends, or forks, holds none)."""
        self.engine.dispose()
        self.statements.dispose()

    # --- schema -----------------------------------------------------------------------

    def upgrade(self) -> str | None:
        """Bring the schema to the newest revision; returns it."""
        db.upgrade(self.engine)
        return self.revision()

    def revision(self) -> str | None:
        return db.revision(self.engine)

    def check(self) -> None:
        """Refuse a database whose schema is not this code's, saying what to run."""
        revision = self.revision()
        if revision != db.HEAD:
            found = f"schema revision {revision}" if revision else "no leadscore schema"
            raise LeadscoreError(
                f"store {self.url}: {found}, this code needs {db.HEAD}: run `leadscore store init`"
            )

    # --- writes -------------------------------------------------------------------------

    def put_lead(self, lead: Lead, changed_by: str, now: datetime) -> tuple[bool, list[str]]:
        """Create or update a lead; each change of who brought or owns it is recorded.

        Returns whether the lead is new, and the attribution fields that changed (all of
        them for a new lead).
        """
        row = {
            "lead_id": lead.lead_id,
            "created_at": to_us(lead.created_at),
            "source": lead.source,
            "partner_id": lead.partner_id,
            "owner_id": lead.owner_id,
            "attributes": lead.attributes or {},
            "updated_at": to_us(now),
        }
        with db.writing(self.engine) as connection:
            before = connection.execute(
                select(*(s.leads.c[f] for f in ATTRIBUTION_FIELDS)).where(
                    s.leads.c.lead_id == lead.lead_id
                )
            ).first()
            db.upsert(connection, s.leads, row, "lead_id")
            old = dict(zip(ATTRIBUTION_FIELDS, before, strict=True)) if before else {}
            changed = [f for f in ATTRIBUTION_FIELDS if before is None or old[f] != row[f]]
            _record_attribution(connection, [row], changed, changed_by)
        return before is None, changed

    def add_events(self, events: Sequence[Event], now: datetime) -> int:
        """Store events not seen before (by event_id), in one transaction; returns how many
        were new. Refuses the whole batch, storing nothing, if a lead is unknown."""
        if not events:
            return 0
        received = to_us(now)
        rows = [
            {
                "event_id": e.event_id,
                "lead_id": e.lead_id,
                "ts": to_us(e.ts),
                "event_type": e.event_type,
                "value": e.value,
                "received_at": received,
            }
            for e in events
        ]
        with db.writing(self.engine) as connection:
            _require_leads(connection, {e.lead_id for e in events})
            return len(db.insert_new(connection, s.events, [rows], ["event_id"]))

    def add_stages(
        self, lead_id: str, stages: Iterable[tuple[datetime, str, float | None]], now: datetime
    ) -> int:
        """Record outcomes from the CRM (a repeated stage at the same moment is stored once)."""
        received = to_us(now)
        rows = [
            {
                "lead_id": lead_id,
                "ts": to_us(ts),
                "stage": stage,
                "mrr": mrr,
                "received_at": received,
            }
            for ts, stage, mrr in stages
        ]
        with db.writing(self.engine) as connection:
            _require_leads(connection, {lead_id})
            return len(db.insert_new(connection, s.stages, [rows], ["lead_id", "ts", "stage"]))

    def record_decisions(self, columns: Columns) -> None:
        """Keep every score: one row per decision (schema.decisions names the columns)."""
        if columns and next(iter(columns.values())):
            with db.writing(self.statements) as connection:
                db.append(connection, s.decisions, columns)

    @contextmanager
    def recording_decisions(self, rows: pl.DataFrame) -> Iterator[None]:
        """A batch's decisions (a frame of schema.decisions' columns, reasons as JSON text),
        written while the block runs and committed once it has ended: a rescore's 200,000
        keep the server busy for seconds, which the batch spends publishing and recording its
        run (bulk `appending`). Nothing is kept if the block or the write fails."""
        with bulk.appending(self.engine, s.decisions, rows, synchronous=False):
            yield

    def claim_places(
        self, wanted: Sequence[tuple[int, str]], per_day: int, forget_before: int
    ) -> list[bool]:
        """Active-sales places for (day, lead) pairs in the order asked, at most `per_day`
        different leads a day; True where the lead holds one that day (new or not). One
        transaction that no other claimer interleaves with; days before `forget_before` are
        forgotten first. Days are days since the epoch by the server's clock.
        """
        with db.writing(self.engine) as connection:
            if connection.dialect.name == "postgresql":  # SQLite: the IMMEDIATE write lock
                db.fetch_rows(connection, _LOCK_PLACES, {"key": PLACES})
            db.fetch_rows(connection, _FORGET_PLACES, {"before": forget_before})
            held = {
                day: {lead for (lead,) in db.fetch_rows(connection, _HELD_PLACES, {"day": day})}
                for day in {day for day, _ in wanted}
            }
            granted, new = [], []
            for day, lead_id in wanted:
                if lead_id not in held[day] and len(held[day]) < per_day:
                    held[day].add(lead_id)
                    new.append({"day": day, "lead_id": lead_id})
                granted.append(lead_id in held[day])
            if new:  # at most the day's capacity: most claims find their place held or none
                connection.execute(insert(s.capacity_claims), new)
        return granted

    def load(self, data: LeadData, changed_by: str, now: datetime) -> dict[str, int]:
        """Bulk-load a data folder's tables in one transaction (idempotent: a second load
        stores nothing new); returns how many of each were new."""
        stamp = to_us(now)
        rows = frames.lead_rows(data.leads, data.attribute_columns, stamp)
        with db.writing(self.engine) as connection:
            fresh = set(db.insert_new(connection, s.leads, [rows], ["lead_id"]))
            new = [r for r in rows if r["lead_id"] in fresh]
            _record_attribution(connection, new, list(ATTRIBUTION_FIELDS), changed_by)
            events = db.insert_new(
                connection, s.events, frames.event_chunks(data.events, stamp), ["event_id"]
            )
            stage_rows = frames.stage_rows(data.stages, stamp)
            stages = db.insert_new(connection, s.stages, [stage_rows], ["lead_id", "ts", "stage"])
        return {"leads": len(fresh), "events": len(events), "stages": len(stages)}

    # --- reads --------------------------------------------------------------------------

    def history(self, lead_id: str) -> tuple[Lead, list[tuple[datetime, str]]] | None:
        """A lead and its events (time, type), or None if the store does not know it. Read on
        every stored score, so in one statement through the driver's cursor
        (`database.fetch_rows`)."""
        with self.statements.connect() as connection:
            rows = db.fetch_rows(connection, _HISTORY, {"lead_id": lead_id})
        if not rows:
            return None
        _, created_at, lead_id, source, partner_id, owner_id, attributes = rows[0]
        lead = Lead(
            lead_id,
            from_us(created_at),
            source,
            partner_id,
            owner_id,
            _ATTRIBUTES.decode(attributes),
        )
        return lead, [(from_us(ts), kind) for _, ts, kind, *_ in rows[1:]]

    def trail(self, lead_id: str) -> dict[str, list[dict[str, Any]]]:
        """What the store knows of a lead for an audit: attribution changes, stages and
        decisions, each oldest first."""
        queries = {
            "attribution": select(s.attribution)
            .where(s.attribution.c.lead_id == lead_id)
            .order_by(s.attribution.c.changed_at, s.attribution.c.change_id),
            "stages": select(s.stages).where(s.stages.c.lead_id == lead_id).order_by(s.stages.c.ts),
            "decisions": select(s.decisions)
            .where(s.decisions.c.lead_id == lead_id)
            .order_by(s.decisions.c.scored_at, s.decisions.c.decision_id),
        }
        with self.engine.connect() as connection:
            return {
                # Column names arrive as SQLAlchemy's str subclass: plain str for callers.
                name: [
                    {str(k): v for k, v in r.items()} for r in connection.execute(query).mappings()
                ]
                for name, query in queries.items()
            }

    def tables(self) -> tuple[list[str], LeadData | None]:
        """The contract's three tables, typed and checked exactly as a folder's are: the
        problems, and the tables when there are none."""
        return self.reading()()

    def reading(self) -> Callable[[], tuple[list[str], LeadData | None]]:
        """`tables()`, its read begun now (on PostgreSQL, on a thread: bulk
        `fetching_frames`); calling the result waits for it and checks the tables."""
        self.check()
        fetched = bulk.fetching_frames(
            self.engine,
            [
                (s.leads, frames.LEAD_COLUMNS, frames.leads_frame),
                (s.events, frames.EVENT_COLUMNS, frames.moments),
                (s.stages, frames.STAGE_COLUMNS, frames.moments),
            ],
        )

        def checked() -> tuple[list[str], LeadData | None]:
            leads, events, stages = fetched()
            return check_tables({c.LEADS: leads, c.EVENTS: events, c.STAGES: stages})

        return checked

    def read(self) -> LeadData:
        """The contract's tables; DataError listing every problem when they break it."""
        return self.loading()()

    def loading(self) -> Callable[[], LeadData]:
        """`read`, begun now (`reading`): calling the result waits for the tables."""
        checked = self.reading()

        def loaded() -> LeadData:
            problems, data = checked()
            if data is None:
                raise DataError(f"store {self.url}", problems)
            return data

        return loaded

    def export(self, folder: Path) -> LeadData:
        """Write the store's tables as a data folder of the contract (Parquet)."""
        data = self.read()
        for name, frame in (
            (c.LEADS, data.leads),
            (c.EVENTS, data.events),
            (c.STAGES, data.stages),
        ):
            write_frame(frame, folder / f"{name}.parquet")
        return data

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(s.metadata.tables[table])
            ).scalar_one()


def _require_leads(connection: Connection, ids: set[str]) -> None:
    known = set(
        connection.execute(
            select(s.leads.c.lead_id).where(s.leads.c.lead_id.in_(sorted(ids)))
        ).scalars()
    )
    unknown = sorted(ids - known)
    if unknown:
        raise UnknownLeads(unknown)


def _record_attribution(
    connection: Connection, rows: Sequence[dict[str, Any]], fields: Sequence[str], by: str
) -> None:
    """One attribution row per (lead, field) that a write set or changed."""
    changes = [
        {
            "lead_id": row["lead_id"],
            "field": field,
            "value": row[field],
            "changed_at": row["updated_at"],
            "changed_by": by,
        }
        for row in rows
        for field in fields
    ]
    if changes:
        connection.execute(insert(s.attribution), changes)
