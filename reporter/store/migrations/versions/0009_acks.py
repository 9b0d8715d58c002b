"""acknowledgement and escalation: acks, escalations

Frozen: the tables as defined when this revision was written, with literal names and types (see
reporter.store.migrations). ``acks``: who acknowledged which episode of an alert (``starts_at`` is the
episode's ``active_at``); ``escalations``: the episodes escalated to a receiver, so that a restart does not
escalate them again. Both in the history database, so every node with the alerting store reads and writes them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Unix milliseconds: BIGINT, INTEGER in SQLite
TimestampMs = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "acks",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("starts_at", TimestampMs, primary_key=True),
        sa.Column("acked_by", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", TimestampMs, nullable=False),
    )
    op.create_table(
        "escalations",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("starts_at", TimestampMs, primary_key=True),
        sa.Column("receiver", sa.String(64), primary_key=True),
        sa.Column("at", TimestampMs, nullable=False),
    )


def downgrade() -> None:
    for name in ["escalations", "acks"]:
        op.drop_table(name)
