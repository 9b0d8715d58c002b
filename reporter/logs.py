"""Logging set-up for the CLI: one line per event on stderr, UTC timestamps."""

from __future__ import annotations

import logging
import time

from reporter.masking import mask


class _UTCFormatter(logging.Formatter):
    """UTC timestamps; every secret masked in the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


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
