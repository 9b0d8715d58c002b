"""Create or upgrade the history schema: the Alembic revisions, then the per-feature AI columns.

Both steps are frozen in :mod:`reporter.store.migrations` (see its docstring): the revisions in
``migrations/versions`` and the settings-driven feature column step in
:mod:`reporter.store.migrations.feature_columns`. They run in one transaction.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from reporter.store.migrations.feature_columns import add_feature_columns

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0010"  # the newest revision in migrations/versions (a test checks it against Alembic's head)
# one bigint advisory key per database and schema (the leadership's locks use the two-int keyspace)
MIGRATION_LOCK = "hashtextextended(current_database() || '.' || current_schema() || '.migration', 0)"


def alembic_config():
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, features: list[str], host: str = "localhost") -> None:
    """Bring the history database to the newest schema with the columns of ``features`` (AI feature names);
    idempotent, one transaction. ``host``: the migrating node's host name (``REPORTER_HOST_NAME``), given to
    the samples already stored in a PostgreSQL history by revision 0007. Feature columns are added, never
    dropped: a feature removed from the settings keeps its history. On PostgreSQL, nodes starting together
    take turns (a transaction-level advisory lock of the database and schema; the schema is read again under
    it), and the migration is not bounded by the engine's statement timeout (0007 copies the whole history).
    Raises SQLAlchemy's errors when the database cannot be read or changed."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        created = not inspect(conn).has_table("samples")
        if created or current_revision(conn) != HEAD:  # Alembic (and its templates) load only when needed
            from alembic import command

            config = alembic_config()
            config.attributes["connection"] = conn
            config.attributes["history_host"] = host
            command.upgrade(config, "head")
        added = add_feature_columns(conn, features)
    if created:
        log.info("history: created the schema")
    elif added:
        log.info("history: added columns %s for new AI features", ", ".join(added))


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision recorded in ``alembic_version`` (None for a database Alembic never touched)."""
    if not inspect(bind).has_table("alembic_version"):
        return None
    if isinstance(bind, Connection):
        return bind.execute(text("SELECT version_num FROM alembic_version")).scalar()
    with bind.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
