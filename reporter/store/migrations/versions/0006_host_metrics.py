"""samples: host metrics as Glances and node_exporter show them (swap, network and disk rates, processes)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Frozen: the column names and types are written out here (no import of the live catalog or schema), so this
revision adds the same columns whatever the catalog later becomes. Existing rows keep their values; the new
columns are NULL (missing) in them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("samples", sa.Column("swap_percent", sa.BigInteger, nullable=True))
    op.add_column("samples", sa.Column("network_receive_bytes_per_second", sa.BigInteger, nullable=True))
    op.add_column("samples", sa.Column("network_transmit_bytes_per_second", sa.BigInteger, nullable=True))
    op.add_column("samples", sa.Column("disk_read_bytes_per_second", sa.BigInteger, nullable=True))
    op.add_column("samples", sa.Column("disk_write_bytes_per_second", sa.BigInteger, nullable=True))
    op.add_column("samples", sa.Column("process_count", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("process_count")
        batch.drop_column("disk_write_bytes_per_second")
        batch.drop_column("disk_read_bytes_per_second")
        batch.drop_column("network_transmit_bytes_per_second")
        batch.drop_column("network_receive_bytes_per_second")
        batch.drop_column("swap_percent")
