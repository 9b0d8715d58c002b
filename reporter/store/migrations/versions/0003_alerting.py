"""alerting tables: alerts, alert_events, notification_log, outbox, delivery_attempts, silences

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

from reporter.store.alert_schema import metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# the tables as defined when this revision was written; later changes get revisions of their own
TABLES = ["alerts", "alert_events", "notification_log", "outbox", "delivery_attempts", "silences"]


def upgrade() -> None:
    bind = op.get_bind()
    for name in TABLES:
        metadata.tables[name].create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for name in reversed(TABLES):
        metadata.tables[name].drop(bind)
