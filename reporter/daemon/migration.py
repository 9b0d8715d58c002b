"""Create or upgrade the history schema in a short child process, so the daemon never loads Alembic.

Alembic, Mako and Pygments (~8 MB of the daemon's RSS) are needed once, at start, and only when the schema is
behind; imported in the daemon they would stay resident for its whole life. :func:`migrate_in_child` runs
``python -m reporter.daemon.migration`` (the same interpreter), which opens the history with the daemon's
engine settings (:func:`reporter.store.history.history_engine`: a new SQLite file gets incremental
auto-vacuum and WAL) and runs :func:`reporter.store.migrate.upgrade`, then exits. The daemon then opens the
history at head: its own ``upgrade`` call finds nothing to do and imports nothing.

The request goes on the child's stdin as JSON (``{"url", "features", "host", "log_level"}``; ``host``: the
node's host name, given to the samples a PostgreSQL history holds from before it had hosts; the URL may hold a
password, which must not show in ``ps``); the child's log lines go to the daemon's stderr as its own do; a
failure comes back on the child's stdout as one JSON line ``{"kind": "OperationalError", "message": "..."}``.
The child runs in a session of its own: a Ctrl-C on the terminal stops the daemon cleanly after the migration
instead of interrupting it halfway.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys


class MigrationFailed(RuntimeError):
    """The child could not bring the history to the newest schema. ``kind``: the exception class name in the
    child (e.g. ``OperationalError``); ``str()``: the first line of its message (masked)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def migrate_in_child(url: str, features: list[str], log_level: int | str | None = None,
                     host: str = "localhost") -> None:
    """Create or upgrade the history at ``url`` (a SQLAlchemy URL) with the columns of ``features`` (AI feature
    names) in a child process; returns when it is at head. ``host``: this node's host name (see
    :func:`reporter.store.migrate.upgrade`). ``log_level``: the child's level for the
    ``reporter`` loggers (default: this process's). Raises :class:`MigrationFailed` when the child fails."""
    if log_level is None:
        log_level = logging.getLogger("reporter").getEffectiveLevel()
    if isinstance(log_level, int):
        log_level = logging.getLevelName(log_level)
    request = json.dumps({"url": url, "features": list(features), "host": host, "log_level": log_level})
    # -P: the child imports the installed package, as the daemon did, not a reporter/ folder in the cwd
    done = subprocess.run([sys.executable, "-P", "-m", "reporter.daemon.migration"], input=request,
                          stdout=subprocess.PIPE, text=True, start_new_session=True, check=False)
    if done.returncode == 0:
        return
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        raise MigrationFailed(str(answer["kind"]), str(answer["message"]))
    except (IndexError, ValueError, KeyError, TypeError):
        raise MigrationFailed("MigrationFailed", f"the migration process exited with {done.returncode}") from None


def main() -> int:
    """The child: read the request on stdin, upgrade, exit 0; 1 with the JSON failure line on stdout."""
    request = json.loads(sys.stdin.read())
    from reporter import logs
    from reporter.masking import mask, register_secrets, url_secrets

    register_secrets(url_secrets(request["url"]))
    logs.setup(request["log_level"])
    try:
        from reporter.store.history import history_engine
        from reporter.store.migrate import upgrade

        engine = history_engine(request["url"])
        try:
            upgrade(engine, request["features"], request.get("host") or "localhost")
        finally:
            engine.dispose()
    except Exception as exc:
        message = mask((str(exc).splitlines() or [""])[0][:200])
        print(json.dumps({"kind": exc.__class__.__name__, "message": message}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
