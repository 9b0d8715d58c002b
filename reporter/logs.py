"""Logging set-up for the CLI: one line per event on stderr, stamped in UTC as the snapshot is
(:func:`reporter.base.timefmt.format_utc`: ``2026-11-29T16:01:10.123Z``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from reporter.base.timefmt import format_utc
from reporter.masking import mask


class _UTCFormatter(logging.Formatter):
    """UTC timestamps to the millisecond; every secret masked in the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatTime(self, record, datefmt=None):
        return format_utc(datetime.fromtimestamp(record.created, UTC))


def setup(level: str) -> None:
    """Log ``level`` and above from reporter, warnings and above from libraries, to stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("reporter").setLevel(level)
    for noisy in ("apscheduler", "uvicorn.error", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
