"""samples and usage_lists tables

Frozen: literal names and types as of this revision (see reporter.store.migrations). The per-feature AI
columns are not created here but by the feature column step (reporter.store.migrations.feature_columns).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Unix milliseconds: BIGINT, INTEGER in SQLite so that "ts INTEGER PRIMARY KEY" is the rowid
TimestampMs = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# the fixed metric columns as of this revision, frozen: later revisions add their own columns explicitly
COLUMNS_0001 = ["cpu_percent", "memory_percent", "memory_used_gb", "memory_total_gb", "disk_percent",
    "disk_used_gb", "disk_total_gb", "uptime_seconds", "load_1m", "load_5m", "load_15m", "database_up",
    "database_latency_ms", "redis_up", "redis_latency_ms", "ollama_up", "ollama_latency_ms",
    "ollama_model_available", "ai_total_requests", "ai_total_time_seconds", "ai_cache_hits",
    "usage_total_users", "usage_active_users_24h", "usage_total_scenarios", "usage_active_conversations",
    "usage_total_quizzes_taken", "usage_total_grammar_checks", "status_code", "sample_duration_ms"]


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
