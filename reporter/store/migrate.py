"""Create or upgrade the history schema with Alembic, then add columns for newly configured AI features."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import BigInteger, Column, inspect
from sqlalchemy.engine import Engine

from reporter.store.metrics import feature_metrics

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, features: list[str]) -> None:
    """Bring the history database to the newest schema; idempotent. Feature columns are added (never dropped:
    a feature removed from the settings keeps its history)."""
    config = alembic_config()
    created = not inspect(engine).has_table("samples")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    existing = {c["name"] for c in inspect(engine).get_columns("samples")}
    missing = [m.name for f in features for m in feature_metrics(f) if m.name not in existing]
    if missing:
        with engine.begin() as conn:
            ops = Operations(MigrationContext.configure(conn))
            for name in missing:
                ops.add_column("samples", Column(name, BigInteger, nullable=True))
        if not created:
            log.info("history: added columns %s for new AI features", ", ".join(missing))
    if created:
        log.info("history: created the schema")
