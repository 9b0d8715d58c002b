"""samples and usage_lists tables

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from reporter.store.metrics import FIXED
from reporter.store.schema import TimestampMs

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# the fixed columns as of this revision (later revisions add their own columns explicitly)
COLUMNS_0001 = [m.name for m in FIXED]


def upgrade() -> None:
    op.create_table(
        "samples",
        sa.Column("ts", TimestampMs, primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.BigInteger, nullable=True) for name in COLUMNS_0001),
    )
    op.create_table(
        "usage_lists",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("ts", TimestampMs, primary_key=True, autoincrement=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_lists")
    op.drop_table("samples")
