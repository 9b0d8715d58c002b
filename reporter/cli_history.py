"""The history as the CLI commands open it: an existing one only (a typo'd folder must not look empty)."""

from __future__ import annotations

import click

from reporter.settings import Settings
from reporter.store.history import History


def open_history(settings: Settings) -> History:
    """Open the configured history; a SQLite file that does not exist is a one-line error (exit 1), never a new
    empty history."""
    path = settings.history_path()
    if path is not None and not path.exists():
        raise click.ClickException(f"no history at {path.resolve()}; run in the daemon's working folder or set "
                                   "REPORTER_HISTORY_URL")
    return History(settings.history_url, settings.ai_features, host=settings.host_name)
