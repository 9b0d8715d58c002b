"""The history as the CLI commands open it: an existing one only (a typo'd folder must not look empty)."""

from __future__ import annotations

import click
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from reporter.base.errors import one_line
from reporter.settings import Settings
from reporter.store.history import History, history_engine


def open_history(settings: Settings) -> History:
    """Open the configured history; a SQLite file that does not exist is a one-line error (exit 1), never a new
    empty history; so is a history that cannot be opened (a SQLite file another process keeps locked beyond the
    busy timeout, a database that refuses the connection), naming the driver's error (secrets masked)."""
    path = settings.history_path()
    if path is not None and not path.exists():
        raise click.ClickException(f"no history at {path.resolve()}; run in the daemon's working folder or set "
                                   "REPORTER_HISTORY_URL")
    try:
        return History(settings.history_url, settings.ai_features, host=settings.host_name)
    except OperationalError as exc:
        where = path.resolve() if path is not None else "REPORTER_HISTORY_URL"
        hint = "; another process holds a write lock on it: retry when it is done" if "locked" in str(exc.orig) else ""
        raise click.ClickException(f"cannot open the history at {where}: {one_line(exc.orig or exc)}{hint}") from None


def writable_engine(settings: Settings, table: str) -> Engine:
    """An engine writing the configured history as it is (never creating nor migrating a schema: for commands
    that change a few rows, e.g. ``reporter hosts forget``), after checking it holds ``table``; the errors of
    :func:`read_only_engine`."""
    return read_only_engine(settings, table, read_only=False)


def read_only_engine(settings: Settings, table: str, read_only: bool = True) -> Engine:
    """An engine reading the configured history as it is (never creating nor migrating a schema: for commands
    that only look), after checking it holds ``table``. A SQLite file that does not exist, or a history without
    the table (not written by a daemon of this version yet, or the wrong URL), is a one-line error (exit 1);
    SQLAlchemy's errors when the database cannot be reached. On PostgreSQL every transaction is read-only
    (unless ``read_only`` is False)."""
    path = settings.history_path()
    if path is not None and not path.exists():
        raise click.ClickException(f"no history at {path.resolve()}; run in the daemon's working folder or set "
                                   "REPORTER_HISTORY_URL")
    parsed = make_url(settings.history_url)
    if parsed.get_backend_name() == "postgresql":
        from reporter.base.postgres import postgres_args

        engine = create_engine(parsed, connect_args=postgres_args(parsed, 10.0, read_only=read_only))
    else:
        engine = history_engine(settings.history_url)
    try:
        found = inspect(engine).has_table(table)
    except Exception:
        engine.dispose()
        raise
    if not found:
        engine.dispose()
        raise click.ClickException(f"the history has no {table} table yet: start `reporter run` of this version "
                                   "on it once (it upgrades the schema), or check REPORTER_HISTORY_URL")
    return engine
