"""``reporter vacuum``: give a SQLite history's free pages back, under the daemon's lock (a command beside the
daemon, so it sits above :mod:`reporter.daemon` in the layers; :mod:`reporter.cli_history` stays low for the
commands of alerting and report)."""

from __future__ import annotations

import click

from reporter.cli_history import open_history
from reporter.daemon.lock import HistoryLock
from reporter.daemon.run import StartupError
from reporter.settings import Settings
from reporter.store.reclaim import convert, sizes, vacuum_mode


def run_vacuum(settings: Settings) -> None:
    """``reporter vacuum``: switch a SQLite history made before incremental vacuum to it and give every free
    page back (one full VACUUM when switching). Takes the daemon's lock, so it refuses while a daemon runs
    (ClickException, exit 1); prints the file size before and after."""
    path = settings.history_path()
    if path is None:
        raise click.ClickException("reporter vacuum is for a SQLite history; a server database has its own "
                                   "(VACUUM in PostgreSQL)")
    if not path.exists():
        open_history(settings)  # the one-line "no history at ..." error
    lock = HistoryLock(path)  # before opening: closing a lock's descriptor would drop SQLite's locks
    try:
        lock.acquire()
    except StartupError as exc:  # the daemon's advice (a history of its own) does not fit: vacuum needs this one
        who = str(exc).split(";", 1)[0]
        raise click.ClickException(f"{who}; stop that reporter first (vacuum needs the history to itself), "
                                   "then run `reporter vacuum` again") from None
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
