"""alerting tables: alerts, alert_events, notification_log, outbox, delivery_attempts, silences

Frozen: the tables as defined when this revision was written, with literal names and types (see
reporter.store.migrations); later changes get revisions of their own.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Unix milliseconds: BIGINT, INTEGER in SQLite
TimestampMs = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_at", TimestampMs),
        sa.Column("fired_at", TimestampMs),
        sa.Column("resolved_at", TimestampMs),
        sa.Column("value", sa.Float),
        sa.Column("updated_at", TimestampMs, nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TimestampMs, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("labels", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    op.create_table(
        "notification_log",
        sa.Column("receiver", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("starts_at", TimestampMs, nullable=False),
        sa.Column("firing_sent_at", TimestampMs),
        sa.Column("resolved_sent_at", TimestampMs),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("receiver", sa.String(64), nullable=False),
        sa.Column("created_at", TimestampMs, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TimestampMs, nullable=False),
        sa.Column("lease_until", TimestampMs),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("last_response", sa.Text),
        sa.Column("delivered_at", TimestampMs),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "receiver", "created_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(40), nullable=False),
        sa.Column("at", TimestampMs, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_delivery_attempts_notification_id", "delivery_attempts", ["notification_id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_at", TimestampMs, nullable=False),
        sa.Column("ends_at", TimestampMs, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TimestampMs, nullable=False),
    )


def downgrade() -> None:
    for name in ["silences", "delivery_attempts", "outbox", "notification_log", "alert_events", "alerts"]:
        op.drop_table(name)  # their indexes go with them
