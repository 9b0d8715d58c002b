"""PostgreSQL samples: the ``app`` marker and a partial index for the app-wide rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Frozen: literal names and types (see reporter.store.migrations). App-wide metrics (the AI counters and the
usage figures: columns ``ai_*`` and ``usage_*``) are sampled by the leader only, so in a fleet they are in one
row out of N per interval. ``samples.app`` (BOOLEAN, PostgreSQL only) is true on a row that holds at least
one of them, and the partial index ``ix_samples_app_ts`` on (ts) WHERE app reads those rows over a time range
without scanning every host's. Existing rows are marked from their ``ai_*``/``usage_*`` columns as the
database has them (the per-feature AI columns included). SQLite (single host) is unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.add_column("samples", sa.Column("app", sa.Boolean, nullable=True))
    columns = bind.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'samples'::regclass AND attnum > 0 "
        "AND NOT attisdropped AND (attname LIKE 'ai\\_%' OR attname LIKE 'usage\\_%') ORDER BY attnum")).scalars()
    marked = " OR ".join(f'"{c}" IS NOT NULL' for c in columns)
    if marked:
        op.execute(f"UPDATE samples SET app = true WHERE {marked}")
    op.create_index("ix_samples_app_ts", "samples", ["ts"], postgresql_where=sa.text("app"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_samples_app_ts", table_name="samples")
    op.drop_column("samples", "app")
