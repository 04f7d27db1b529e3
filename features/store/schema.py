"""The store's tables, declared once: what the migrations create and what every query names.

Moments are integers, microseconds since the epoch in UTC — what polars and the feature code
use, exact on both backends (SQLite has no time zones). Identifiers are the contract's strings.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

ID = 200  # the longest lead, partner or owner id the API accepts
EVENT_ID = 300  # a loaded event's id holds its lead's

metadata = MetaData()

leads = Table(
    "leads",
    metadata,
    Column("lead_id", String(ID), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("source", String(ID), nullable=False),
    Column("partner_id", String(ID)),
    Column("owner_id", String(ID)),
    Column("attributes", JSON, nullable=False),  # static attributes, name → value
    Column("updated_at", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    # Given by the caller (a bulk load derives one from the row), so a retried post is stored
    # once: the primary key refuses the second copy.
    Column("event_id", String(EVENT_ID), primary_key=True),
    Column("lead_id", String(ID), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("value", Float),
    Column("received_at", BigInteger, nullable=False),
    Index("events_by_lead", "lead_id", "ts"),
)

stages = Table(
    "stages",
    metadata,
    Column("lead_id", String(ID), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("stage", String(20), primary_key=True),
    Column("mrr", Float),
    Column("received_at", BigInteger, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", String(ID), nullable=False),
    Column("scored_at", BigInteger, nullable=False),
    Column("as_of", BigInteger, nullable=False),
    Column("conversion_version", Integer, nullable=False),
    Column("velocity_version", Integer, nullable=False),
    Column("feature_spec", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("tier", String(40), nullable=False),
    Column("route", String(40), nullable=False),
    Column("route_reason", Text, nullable=False),
    # The routing holdout: routed by the fixed rule instead of the model, with this chance.
    Column("holdout", Boolean, nullable=False),
    Column("holdout_share", Float, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("input_digest", String(64), nullable=False),
    Column("caller", String(100), nullable=False),
    Index("decisions_by_lead", "lead_id", "scored_at"),
    # The pages' list of a batch (serving/pages): one caller's run, by route, best first.
    Index("decisions_by_run", "caller", "scored_at", "route", "score"),
)

attribution = Table(
    "attribution",
    metadata,
    Column("change_id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", String(ID), nullable=False),
    Column("field", String(20), nullable=False),  # source, partner_id or owner_id
    Column("value", String(ID)),
    Column("changed_at", BigInteger, nullable=False),
    Column("changed_by", String(100), nullable=False),
    Index("attribution_by_lead", "lead_id", "changed_at"),
)

capacity_claims = Table(
    "capacity_claims",
    metadata,
    Column("day", Integer, primary_key=True),  # days since the epoch, by the server's clock
    Column("lead_id", String(ID), primary_key=True),
)

# What a batch command found (`leadscore funnel`, `monitor` on a store URL), kept for the
# service's pages: the command's JSON as it wrote it, newest last (features/store/reports.py).
reports = Table(
    "reports",
    metadata,
    Column("report_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("as_of", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Index("reports_by_kind", "kind", "created_at"),
)
