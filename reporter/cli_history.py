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
    return History(settings.history_url, settings.ai_features)


def run_vacuum(settings: Settings) -> None:
    """``reporter vacuum``: switch a SQLite history made before incremental vacuum to it and give every free
    page back (one full VACUUM when switching). Takes the daemon's lock, so it refuses while a daemon runs
    (ClickException, exit 1); prints the file size before and after."""
    from reporter.daemon.lock import HistoryLock
    from reporter.daemon.run import StartupError
    from reporter.store.reclaim import convert, sizes, vacuum_mode

    path = settings.history_path()
    if path is None:
        raise click.ClickException("reporter vacuum is for a SQLite history; a server database has its own "
                                   "(VACUUM in PostgreSQL)")
    if not path.exists():
        open_history(settings)  # the one-line "no history at ..." error
    lock = HistoryLock(path)  # before opening: closing a lock's descriptor would drop SQLite's locks
    try:
        lock.acquire()
    except StartupError as exc:
        raise click.ClickException(f"{exc}") from None
    try:
        history = open_history(settings)
    except BaseException:
        lock.release()
        raise
    try:
        before = sizes(history.engine)[0]
        seconds = convert(history.engine) if vacuum_mode(history.engine) != "incremental" else 0.0
        done = history.reclaim(step_seconds=0.5)
        after = sizes(history.engine)[0]
    finally:
        history.close()
        lock.release()
    how = f"switched to incremental vacuum in {seconds:.1f} s; " if seconds else ""
    click.echo(f"{path.resolve()}: {how}{before / 1e6:.1f} MB -> {after / 1e6:.1f} MB "
               f"({done.pages} free pages given back)")
