"""Reports kept for the service's pages, and the index their list of a batch reads.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("reports_by_kind", "reports", ["kind", "created_at"])
    op.create_index("decisions_by_run", "decisions", ["caller", "scored_at", "route", "score"])


def downgrade() -> None:
    op.drop_index("decisions_by_run", "decisions")
    op.drop_table("reports")
