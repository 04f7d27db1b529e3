"""The contract's tables, decisions, attribution and the capacity ledger.

A migration is a record of its day: the columns are spelt out here, not taken from
`schema.py`, so a later change to the schema is a new revision and this one stays true.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 200


def _moment(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        _moment("created_at"),
        sa.Column("source", sa.String(ID), nullable=False),
        sa.Column("partner_id", sa.String(ID)),
        sa.Column("owner_id", sa.String(ID)),
        sa.Column("attributes", sa.JSON, nullable=False),
        _moment("updated_at"),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(300), primary_key=True),
        sa.Column("lead_id", sa.String(ID), nullable=False),
        _moment("ts"),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("value", sa.Float),
        _moment("received_at"),
    )
    op.create_index("events_by_lead", "events", ["lead_id", "ts"])
    op.create_table(
        "stages",
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        sa.Column("ts", sa.BigInteger, primary_key=True),
        sa.Column("stage", sa.String(20), primary_key=True),
        sa.Column("mrr", sa.Float),
        _moment("received_at"),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(ID), nullable=False),
        _moment("scored_at"),
        _moment("as_of"),
        sa.Column("conversion_version", sa.Integer, nullable=False),
        sa.Column("velocity_version", sa.Integer, nullable=False),
        sa.Column("feature_spec", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("tier", sa.String(40), nullable=False),
        sa.Column("route", sa.String(40), nullable=False),
        sa.Column("route_reason", sa.Text, nullable=False),
        sa.Column("holdout", sa.Boolean, nullable=False),
        sa.Column("holdout_share", sa.Float, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(100), nullable=False),
    )
    op.create_index("decisions_by_lead", "decisions", ["lead_id", "scored_at"])
    op.create_table(
        "attribution",
        sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(ID), nullable=False),
        sa.Column("field", sa.String(20), nullable=False),
        sa.Column("value", sa.String(ID)),
        _moment("changed_at"),
        sa.Column("changed_by", sa.String(100), nullable=False),
    )
    op.create_index("attribution_by_lead", "attribution", ["lead_id", "changed_at"])
    op.create_table(
        "capacity_claims",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("lead_id", sa.String(ID), primary_key=True),
    )


def downgrade() -> None:
    for table in ("capacity_claims", "attribution", "decisions", "stages", "events", "leads"):
        op.drop_table(table)
