"""daily report tables: reports (claims) and report_emails (delivery queue)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

from reporter.store.report_schema import metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ["reports", "report_emails"]


def upgrade() -> None:
    bind = op.get_bind()
    for name in TABLES:
        metadata.tables[name].create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for name in reversed(TABLES):
        metadata.tables[name].drop(bind)
