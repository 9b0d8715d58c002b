"""Logging set-up for the CLI: one line per event on stderr, stamped in UTC as the snapshot is
(:func:`reporter.base.timefmt.format_utc`: ``2026-11-29T16:01:10.123Z``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from reporter.base.timefmt import format_utc
from reporter.masking import mask


class _UTCFormatter(logging.Formatter):
    """UTC timestamps to the millisecond; every secret masked in the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatTime(self, record, datefmt=None):
        return format_utc(datetime.fromtimestamp(record.created, UTC))


class RepeatFilter(logging.Filter):
    """Lets a message through once per ``remind_seconds`` (default 5 minutes, as :mod:`reporter.failures`): a
    client can make the HTTP server log one line per request ("Invalid HTTP request received.", "Exceeded
    concurrency limit."), and a flood of them would bury every other line. Records are keyed by their message
    template (``record.msg``, plus the exception of a traceback), at most ``max_keys`` of them (then the oldest
    is forgotten); the next line let through after some were held back says how many
    (``(N more since 2026-12-04T22:54:38.903Z)``).
    ``clock``: monotonic seconds (injectable for tests)."""

    def __init__(self, remind_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100) -> None:
        super().__init__()
        self.remind_seconds, self.clock, self.max_keys = remind_seconds, clock, max_keys
        self._seen: dict[str, tuple[float, int, float]] = {}  # msg -> (logged at, held back since, first held)

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:  # another error is another line
            key += f" {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.remind_seconds:
            first_held = seen[2] if seen[1] else record.created
            self._seen[key] = (seen[0], seen[1] + 1, first_held)
            return False
        if seen is not None and seen[1]:
            since = format_utc(datetime.fromtimestamp(seen[2], UTC))
            record.msg = f"{record.msg} ({seen[1]} more since {since})"
        self._seen.pop(key, None)
        if len(self._seen) >= self.max_keys:
            self._seen.pop(next(iter(self._seen)))
        self._seen[key] = (now, 0, 0.0)
        return True


def setup(level: str) -> None:
    """Log ``level`` and above from reporter, warnings and above from libraries, to stderr; the HTTP server's
    lines about clients (a bad request, too many connections) at most once per 5 minutes each
    (:class:`RepeatFilter`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("reporter").setLevel(level)
    for noisy in ("apscheduler", "uvicorn.error", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = logging.getLogger("uvicorn.error")
    server.filters[:] = [f for f in server.filters if not isinstance(f, RepeatFilter)]
    server.addFilter(RepeatFilter())
