"""Whether the history can be written, as found by every component that writes it.

The sample write, the alert state, the notifier and the report job all write the same history. When its
filesystem is full (or the database is down), each of them fails on every pass: :class:`HistoryHealth` turns
that into one log line when writes start failing (saying what to do), a reminder at most every 5 minutes and
one line when they work again, and gives the error for the snapshot and ``/healthz``.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from reporter.base.errors import one_line
from reporter.failures import FailureLog
from reporter.sqlite_file import lasting_file

log = logging.getLogger("reporter.store.history")
SOURCE = "history"


def is_store_error(exc: BaseException) -> bool:
    """True for a failure of the database itself (disk full, I/O error, server down), not a bug."""
    return isinstance(exc, OperationalError)


def describe(exc: BaseException) -> str:
    """``ErrorType: first line`` of a database error, without SQLAlchemy's SQL and background link."""
    return one_line(getattr(exc, "orig", None) or exc)


class HistoryHealth:
    """The history's write health, shared by its writers (thread-safe).

    ``failed(component, exc)`` after a write that raised, ``ok()`` after one that succeeded (only writes count:
    reads keep working on a full disk). ``error`` is the current one-line error (None while writes work).
    """

    def __init__(self, url: str, failures: FailureLog | None = None) -> None:
        self.failures = failures or FailureLog(log, level=logging.ERROR)
        parsed = make_url(url)
        self.folder: Path | None = None
        if (path := lasting_file(parsed)) is not None:
            self.folder = path.resolve().parent
            self.where = str(self.folder)
        else:
            self.where = f"{parsed.get_backend_name()} database {parsed.host or ''}".strip()

    def hint(self, error: str) -> str:
        """What to do about ``error``."""
        if self.folder is not None:
            if "full" in error.lower() or "no space" in error.lower() or f"[Errno {errno.ENOSPC}]" in error:
                return f"free disk space at {self.folder}"
            return f"check the free space and permissions of {self.folder}"
        return f"check the {self.where}"

    def failed(self, component: str, exc: BaseException, action: str = "write") -> None:
        """Record a failed write (or ``action``) by ``component`` (sample write, alert state, notifier...)."""
        error = f"cannot {action} ({component}): {describe(exc)}"
        self.failures.failed(SOURCE, error, hint=f"{self.hint(error)}; sampling and alert evaluation go on in "
                                                 "memory, alert state changes are saved when writing works again")

    def ok(self) -> None:
        """Record a successful write (logs once when writes work again)."""
        self.failures.ok(SOURCE)

    @property
    def error(self) -> str | None:
        """``cannot write (component): error; what to do`` while writes fail, else None."""
        error = self.failures.error(SOURCE)
        return None if error is None else f"{error}; {self.hint(error)}"
