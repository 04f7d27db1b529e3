"""The lead store's one code path for SQLite and PostgreSQL: writes that are idempotent and
committed before they are acknowledged, reads that hand every floor the contract's tables.

A store URL is a SQLAlchemy URL: `sqlite:///data/leadscore.db` (the embedded default) or
`postgresql://user@host:5432/db` (psycopg 3). SQLite runs in WAL mode with full syncs, so
several service workers can write small transactions and a killed process loses nothing it
acknowledged; PostgreSQL commits synchronously by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import JSON, Table, TextClause, create_engine, event, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from features import contract as c
from features.errors import DataError, LeadscoreError
from features.store import schema as s
from features.tables import LeadData, check_tables

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0001"
CHUNK = 10_000  # rows per statement of a bulk load
US = 1_000_000
ATTRIBUTION_FIELDS = (c.SOURCE, c.PARTNER_ID, c.OWNER_ID)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, UTC (naive moments are UTC, as in data files)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value // US, UTC).replace(microsecond=value % US)


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


class LeadStore:
    """One database of leads, events, stages, decisions, attribution and capacity claims."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = create_engine(_driver(url), pool_pre_ping=True)
        except Exception as exc:  # a malformed URL or a missing driver: the user's to fix
            raise LeadscoreError(f"store URL {url!r}: {str(exc).splitlines()[0]}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._insert = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )

    # --- schema -----------------------------------------------------------------------

    def upgrade(self) -> str:
        """Bring the schema to the newest revision (Alembic); returns it."""
        from alembic import command
        from alembic.config import Config

        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return self.revision()

    def revision(self) -> str | None:
        """The schema revision the database is at (None: not a leadscore store yet)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no such table, or no such database
            return None

    def check(self) -> None:
        """Refuse a database whose schema is not this code's, saying what to run."""
        revision = self.revision()
        if revision != HEAD:
            found = f"schema revision {revision}" if revision else "no leadscore schema"
            raise LeadscoreError(
                f"store {self.url}: {found}, this code needs {HEAD}: run `leadscore store init`"
            )

    # --- writes -------------------------------------------------------------------------

    def put_lead(self, lead: Lead, changed_by: str, now: datetime) -> list[str]:
        """Create or update a lead; each change of who brought or owns it is recorded.

        Returns the attribution fields that changed (all of them for a new lead).
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
        with self.engine.begin() as connection:
            before = connection.execute(
                select(*(s.leads.c[f] for f in ATTRIBUTION_FIELDS)).where(
                    s.leads.c.lead_id == lead.lead_id
                )
            ).first()
            upsert = self._insert(s.leads).values(row)
            keys = {k: upsert.excluded[k] for k in row if k != "lead_id"}
            connection.execute(upsert.on_conflict_do_update(index_elements=["lead_id"], set_=keys))
            old = dict(zip(ATTRIBUTION_FIELDS, before, strict=True)) if before else {}
            changed = [f for f in ATTRIBUTION_FIELDS if before is None or old[f] != row[f]]
            if changed:
                connection.execute(
                    insert(s.attribution),
                    [
                        {
                            "lead_id": lead.lead_id,
                            "field": f,
                            "value": row[f],
                            "changed_at": row["updated_at"],
                            "changed_by": changed_by,
                        }
                        for f in changed
                    ],
                )
        return changed

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
        with self.engine.begin() as connection:
            self._require_leads(connection, {e.lead_id for e in events})
            return len(self._insert_new(connection, s.events, [rows], ["event_id"]))

    def add_stages(
        self, lead_id: str, stages: Iterable[tuple[datetime, str, float | None]], now: datetime
    ) -> int:
        """Record outcomes from the CRM (a repeated stage at the same moment is stored once)."""
        rows = [
            {
                "lead_id": lead_id,
                "ts": to_us(ts),
                "stage": stage,
                "mrr": mrr,
                "received_at": to_us(now),
            }
            for ts, stage, mrr in stages
        ]
        with self.engine.begin() as connection:
            self._require_leads(connection, {lead_id})
            return len(self._insert_new(connection, s.stages, [rows], ["lead_id", "ts", "stage"]))

    def record_decisions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Keep every score: one row per decision (schema.decisions names the fields)."""
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(s.decisions), list(rows))

    def claim_capacity(self, day: int, lead_ids: Sequence[str], places: int) -> set[str]:
        """Of `lead_ids` (in priority order), those that hold an active-sales place on `day`:
        leads already holding one keep it, the rest claim what is left, atomically."""
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":  # one claimer a day at a time
                connection.execute(text("SELECT pg_advisory_xact_lock(:day)"), {"day": day})
            held = set(
                connection.execute(
                    select(s.capacity_claims.c.lead_id).where(s.capacity_claims.c.day == day)
                ).scalars()
            )
            keep = {lead for lead in lead_ids if lead in held}
            new = [lead for lead in dict.fromkeys(lead_ids) if lead not in held]
            new = new[: max(places - len(held), 0)]
            if new:
                connection.execute(
                    insert(s.capacity_claims), [{"day": day, "lead_id": lead} for lead in new]
                )
        return keep | set(new)

    def load(self, data: LeadData, changed_by: str, now: datetime) -> dict[str, int]:
        """Bulk-load a data folder's tables (idempotent: a second load stores nothing new).

        Events of a folder have no ids; each gets one derived from its lead, time, type,
        value and its rank among identical rows, so reloading the folder repeats no event.
        """
        stamp = to_us(now)
        leads = data.leads
        attributes = data.attribute_columns
        lead_rows = [
            {
                "lead_id": row[c.LEAD_ID],
                "created_at": to_us(row[c.CREATED_AT]),
                "source": row[c.SOURCE],
                "partner_id": row.get(c.PARTNER_ID),
                "owner_id": row.get(c.OWNER_ID),
                "attributes": {a: row[a] for a in attributes if row[a] is not None},
                "updated_at": stamp,
            }
            for row in leads.iter_rows(named=True)
        ]
        with self.engine.begin() as connection:
            fresh = set(self._insert_new(connection, s.leads, [lead_rows], ["lead_id"]))
            if fresh:
                connection.execute(
                    insert(s.attribution),
                    [
                        {
                            "lead_id": r["lead_id"],
                            "field": f,
                            "value": r[f],
                            "changed_at": stamp,
                            "changed_by": changed_by,
                        }
                        for r in lead_rows
                        if r["lead_id"] in fresh
                        for f in ATTRIBUTION_FIELDS
                    ],
                )
            events = self._insert_new(
                connection, s.events, _event_chunks(data.events, stamp), ["event_id"]
            )
            stages = self._insert_new(
                connection, s.stages, [_stage_rows(data.stages, stamp)], ["lead_id", "ts", "stage"]
            )
        return {"leads": len(fresh), "events": len(events), "stages": len(stages)}

    # --- reads --------------------------------------------------------------------------

    def history(self, lead_id: str) -> tuple[Lead, list[tuple[datetime, str]]] | None:
        """A lead and its events (time, type), or None if the store does not know it."""
        with self.engine.connect() as connection:
            row = (
                connection.execute(select(s.leads).where(s.leads.c.lead_id == lead_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            events = connection.execute(
                select(s.events.c.ts, s.events.c.event_type)
                .where(s.events.c.lead_id == lead_id)
                .order_by(s.events.c.ts)
            ).all()
        lead = Lead(
            row["lead_id"],
            from_us(row["created_at"]),
            row["source"],
            row["partner_id"],
            row["owner_id"],
            dict(row["attributes"]),
        )
        return lead, [(from_us(ts), kind) for ts, kind in events]

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
                name: [dict(r) for r in connection.execute(query).mappings()]
                for name, query in queries.items()
            }

    def read(self) -> LeadData:
        """The contract's three tables, typed and checked exactly as a folder's are."""
        with self.engine.connect() as connection:
            leads = _leads_frame(connection.execute(select(s.leads)).mappings().all())
            frames = {
                c.LEADS: leads,
                c.EVENTS: self._frame(
                    connection, s.events, (c.LEAD_ID, c.TS, c.EVENT_TYPE, c.VALUE)
                ),
                c.STAGES: self._frame(connection, s.stages, (c.LEAD_ID, c.TS, c.STAGE, c.MRR)),
            }
        problems, data = check_tables(frames)
        if data is None:
            raise DataError(f"store {self.url}", problems)
        return data

    def export(self, folder: Path) -> LeadData:
        """Write the store's tables as a data folder of the contract (Parquet)."""
        from features.tables import write_frame

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

    # --- helpers ------------------------------------------------------------------------

    def _require_leads(self, connection: Any, ids: set[str]) -> None:
        known = set(
            connection.execute(
                select(s.leads.c.lead_id).where(s.leads.c.lead_id.in_(sorted(ids)))
            ).scalars()
        )
        unknown = sorted(ids - known)
        if unknown:
            raise UnknownLeads(unknown)

    def _insert_new(
        self,
        connection: Any,
        table: Table,
        chunks: Iterable[list[dict[str, Any]]],
        keys: list[str],
    ) -> list[Any]:
        """Insert rows whose key is new, statement by statement; returns their first keys.

        PostgreSQL takes each statement's rows as one array per column (`unnest`), about 3×
        faster than a multi-row VALUES list; SQLite's executemany is already a loop in C.
        """
        columnar = self.engine.dialect.name == "postgresql" and not any(
            isinstance(col.type, JSON) for col in table.columns
        )
        statement = (
            _unnest_insert(table, keys)
            if columnar
            else self._insert(table)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        stored: list[Any] = []
        for chunk in chunks:
            for start in range(0, len(chunk), CHUNK):
                part = chunk[start : start + CHUNK]
                params = {col.name: [r[col.name] for r in part] for col in table.columns}
                stored += (
                    connection.execute(statement, params if columnar else part).scalars().all()
                )
        return stored

    def _frame(self, connection: Any, table: Any, columns: Sequence[str]) -> pl.DataFrame:
        """A table as a polars frame, moments back to UTC timestamps."""
        rows = connection.execute(select(*(table.c[col] for col in columns))).all()
        frame = pl.DataFrame(rows, schema=_schema(columns), orient="row")
        return frame.with_columns(pl.col(c.TS).cast(pl.Datetime("us", "UTC")))


def _schema(columns: Sequence[str]) -> dict[str, Any]:
    kinds = {c.TS: pl.Int64, c.VALUE: pl.Float64, c.MRR: pl.Float64}
    return {col: kinds.get(col, pl.String) for col in columns}


def _leads_frame(rows: Sequence[Any]) -> pl.DataFrame:
    attributes: dict[str, None] = {}
    for row in rows:
        attributes.update(dict.fromkeys(row["attributes"]))
    columns: dict[str, list[Any]] = {
        c.LEAD_ID: [r["lead_id"] for r in rows],
        c.CREATED_AT: [r["created_at"] for r in rows],
        c.SOURCE: [r["source"] for r in rows],
        c.PARTNER_ID: [r["partner_id"] for r in rows],
        c.OWNER_ID: [r["owner_id"] for r in rows],
    }
    for name in attributes:
        columns[name] = [_text_or_number(r["attributes"].get(name)) for r in rows]
    frame = pl.DataFrame(columns, schema_overrides={c.CREATED_AT: pl.Int64}, strict=False)
    return frame.with_columns(pl.col(c.CREATED_AT).cast(pl.Datetime("us", "UTC")))


def _text_or_number(value: Any) -> Any:
    """Attribute values as the contract reads them from a file: text (numbers as text)."""
    return None if value is None else str(value)


def _event_chunks(events: pl.DataFrame, stamp: int) -> Iterable[list[dict[str, Any]]]:
    """A folder's events as rows to insert, a chunk at a time (millions do not fit as dicts).

    A folder's events have no ids: each gets `load:<lead>:<µs>:<type>:<rank>`, its rank among
    identical (lead, time, type) rows, so loading the same folder twice stores nothing new.
    """
    value = pl.col(c.VALUE) if c.VALUE in events.columns else pl.lit(None, pl.Float64)
    frame = events.select(
        c.LEAD_ID, pl.col(c.TS).dt.epoch("us").alias("ts"), c.EVENT_TYPE, value.alias("value")
    ).with_columns(
        event_id=pl.concat_str(
            pl.lit("load"),
            c.LEAD_ID,
            pl.col("ts").cast(pl.String),
            c.EVENT_TYPE,
            pl.int_range(pl.len()).over(c.LEAD_ID, "ts", c.EVENT_TYPE).cast(pl.String),
            separator=":",
        ),
        received_at=pl.lit(stamp, pl.Int64),
    )
    for part in frame.iter_slices(CHUNK):
        yield part.to_dicts()


def _stage_rows(stages: pl.DataFrame, stamp: int) -> list[dict[str, Any]]:
    frame = stages.select(
        c.LEAD_ID,
        pl.col(c.TS).dt.epoch("us").alias("ts"),
        c.STAGE,
        (pl.col(c.MRR) if c.MRR in stages.columns else pl.lit(None, pl.Float64)).alias("mrr"),
    ).with_columns(received_at=pl.lit(stamp, pl.Int64))
    return frame.to_dicts()


def _unnest_insert(table: Table, keys: list[str]) -> TextClause:
    """INSERT … SELECT FROM unnest(one array per column) … ON CONFLICT DO NOTHING RETURNING."""
    dialect = postgresql.dialect()
    names = [col.name for col in table.columns]
    arrays = ", ".join(
        f"CAST(:{col.name} AS {col.type.compile(dialect=dialect)}[])" for col in table.columns
    )
    return text(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(keys)}) DO NOTHING RETURNING {keys[0]}"
    )


def _driver(url: str) -> str:
    """`postgresql://` as users write it, spoken through psycopg 3 (SQLAlchemy's default
    PostgreSQL driver is psycopg2, which leadscore does not install)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets readers and several writers' small transactions share the file; FULL syncs
    make a commit durable before it is acknowledged; writers wait instead of failing."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
