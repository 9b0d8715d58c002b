"""fleet: the hosts and leadership tables; on PostgreSQL, samples partitioned by day with a host column

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Frozen: literal names and types (see reporter.store.migrations). Every dialect gets ``hosts`` (one row per host
name) and ``leadership`` (one row, id 1, epoch 0). On PostgreSQL only, ``samples`` becomes a table PARTITIONED
BY RANGE (ts) with a ``host`` VARCHAR(64) NOT NULL column and PRIMARY KEY (host, ts); its partitions are UTC
days named ``samples_pYYYYMMDD`` (ts from that day's 00:00 to the next day's, Unix ms). The rows already
stored are copied into it with host = the migrating node's host name (``config.attributes["history_host"]``,
given by reporter.store.migrate; "localhost" when none), which ``meta`` records under ``history_host`` and
which gets its ``hosts`` row. The columns are copied as the old table has them (LIKE), so the per-feature AI
columns come along. ``usage_lists`` is unchanged (the usage lists are app-wide: one writer, the leader).
SQLite keeps ``samples`` as it is (single host, no host column).
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Unix milliseconds: BIGINT, INTEGER in SQLite
TimestampMs = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DAY_MS = 86_400_000


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("pid", sa.Integer),
        sa.Column("address", sa.String(255)),
        sa.Column("started_at", TimestampMs, nullable=False),
        sa.Column("seen_at", TimestampMs, nullable=False),
        sa.Column("last_sample", TimestampMs),
        sa.Column("status", sa.String(16)),
        sa.Column("snapshot", sa.Text),
    )
    op.create_table(
        "leadership",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("host", sa.String(64)),
        sa.Column("node_id", sa.String(32)),
        sa.Column("since", TimestampMs),
    )
    op.execute("INSERT INTO leadership (id, epoch) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        partition_samples(str(context.config.attributes.get("history_host") or "localhost"))


def partition_samples(host: str) -> None:
    """PostgreSQL: samples -> a partitioned samples with host, its rows copied with ``host``."""
    bind = op.get_bind()
    op.execute("ALTER TABLE samples RENAME TO samples_0006")
    op.execute("ALTER INDEX samples_pkey RENAME TO samples_0006_pkey")
    op.execute("CREATE TABLE samples (host VARCHAR(64) NOT NULL, LIKE samples_0006) PARTITION BY RANGE (ts)")
    op.execute("ALTER TABLE samples ADD CONSTRAINT samples_pkey PRIMARY KEY (host, ts)")
    days = bind.execute(sa.text(
        "SELECT day, to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', '\"samples_p\"YYYYMMDD') FROM "
        "(SELECT DISTINCT floor(ts / 86400000.0)::bigint AS day FROM samples_0006) AS d ORDER BY day")).all()
    for day, name in days:
        op.execute(f"CREATE TABLE {name} PARTITION OF samples FOR VALUES FROM ({day * DAY_MS}) "
                   f"TO ({(day + 1) * DAY_MS})")
    columns = ", ".join(f'"{c}"' for c in bind.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'samples_0006'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum")).scalars())
    bind.execute(sa.text(f"INSERT INTO samples (host, {columns}) SELECT :host, {columns} FROM samples_0006"),
                 {"host": host})
    first, last = bind.execute(sa.text("SELECT min(ts), max(ts) FROM samples_0006")).one()
    if first is not None:
        bind.execute(sa.text("INSERT INTO meta (key, value) VALUES ('history_host', :host)"), {"host": host})
        bind.execute(sa.text("INSERT INTO hosts (name, node_id, role, version, started_at, seen_at, last_sample) "
                             "VALUES (:host, '', 'node', '', :first, :last, :last)"),
                     {"host": host, "first": first, "last": last})
    op.execute("DROP TABLE samples_0006")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        unpartition_samples()
    op.drop_table("leadership")
    op.drop_table("hosts")


def unpartition_samples() -> None:
    """PostgreSQL: back to one unpartitioned samples keyed by ts; where hosts share a millisecond, the row of
    ``meta.history_host`` (else the first host by name) is kept: a downgrade of a fleet keeps one row per ts."""
    bind = op.get_bind()
    op.execute("ALTER TABLE samples RENAME TO samples_0007")
    op.execute("ALTER INDEX samples_pkey RENAME TO samples_0007_pkey")
    op.execute("CREATE TABLE samples (LIKE samples_0007)")
    op.execute("ALTER TABLE samples DROP COLUMN host")
    op.execute("ALTER TABLE samples ADD CONSTRAINT samples_pkey PRIMARY KEY (ts)")
    columns = ", ".join(f'"{c}"' for c in bind.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'samples'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum")).scalars())
    op.execute(f"INSERT INTO samples ({columns}) SELECT DISTINCT ON (ts) {columns} FROM samples_0007 "
               "ORDER BY ts, host <> coalesce((SELECT value FROM meta WHERE key = 'history_host'), ''), host")
    op.execute("DELETE FROM meta WHERE key = 'history_host'")
    op.execute("DROP TABLE samples_0007")  # its partitions go with it
