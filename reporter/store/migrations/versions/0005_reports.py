"""daily report tables: reports (claims) and report_emails (delivery queue)

Frozen: the tables as defined when this revision was written, with literal names and types (see
reporter.store.migrations); later changes get revisions of their own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Unix milliseconds: BIGINT, INTEGER in SQLite
TimestampMs = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", TimestampMs),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TimestampMs),
        sa.Column("rendered_at", TimestampMs),
        sa.Column("files", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", TimestampMs, nullable=False),
    )
    op.create_table(
        "report_emails",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TimestampMs, nullable=False),
        sa.Column("lease_until", TimestampMs),
        sa.Column("created_at", TimestampMs, nullable=False),
        sa.Column("sent_at", TimestampMs),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("report_emails")
    op.drop_table("reports")
