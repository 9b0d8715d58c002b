"""Create or upgrade the history schema with Alembic, then add columns for newly configured AI features."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import BigInteger, Column, inspect, text
from sqlalchemy.engine import Engine

from reporter.catalog import feature_metrics

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0006"  # the newest revision in migrations/versions (a test checks it against Alembic's head)


def alembic_config():
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, features: list[str]) -> None:
    """Bring the history database to the newest schema; idempotent. Feature columns are added (never dropped:
    a feature removed from the settings keeps its history)."""
    created = not inspect(engine).has_table("samples")
    if created or current_revision(engine) != HEAD:  # Alembic (and its templates) load only when needed
        from alembic import command

        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    existing = {c["name"] for c in inspect(engine).get_columns("samples")}
    missing = [m.name for f in features for m in feature_metrics(f) if m.name not in existing]
    if missing:
        from alembic.migration import MigrationContext
        from alembic.operations import Operations

        with engine.begin() as conn:
            ops = Operations(MigrationContext.configure(conn))
            for name in missing:
                ops.add_column("samples", Column(name, BigInteger, nullable=True))
        if not created:
            log.info("history: added columns %s for new AI features", ", ".join(missing))
    if created:
        log.info("history: created the schema")


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in ``alembic_version`` (None for a database Alembic never touched)."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
