"""Logging set-up for the CLI: one line per event on stderr, UTC timestamps."""

from __future__ import annotations

import logging
import time


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging API)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(record.created))


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
