"""Persistent failures logged without flooding: once when they start, a reminder, once when they end.

A source (a collector, the history, the notifier...) that fails on every pass would otherwise log on every
pass. :class:`FailureLog` keys failures by source, not by message (a hung peer alternates between "timed out"
and "still running"), so one outage is: a line when it starts, a reminder at most every ``remind_seconds``
(default 5 minutes) while it lasts, and a line naming its duration when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reporter.base.timefmt import duration

REMIND_SECONDS = 300.0


def attempts(count: int) -> str:
    """``1 failed attempt``, ``3 failed attempts``."""
    return f"{count} failed attempt{'' if count == 1 else 's'}"


@dataclass
class Failure:
    """One source's ongoing failure: since when (clock seconds), the latest error, when it was last logged."""

    since: float
    error: str
    logged_at: float
    count: int = 1


class FailureLog:
    """Logs each source's failures once when they start, then at most every ``remind_seconds``, and once when
    the source works again (with the outage's duration).

    ``logger``: where lines go; ``clock``: seconds, monotonic (injectable for tests). Thread-safe: the sampler,
    the notifier and the report job may share one.
    """

    def __init__(self, logger: logging.Logger, remind_seconds: float = REMIND_SECONDS,
                 clock: Callable[[], float] = time.monotonic, level: int = logging.WARNING) -> None:
        self.logger, self.remind_seconds, self.clock, self.level = logger, remind_seconds, clock, level
        self._failing: dict[str, Failure] = {}
        self._lock = threading.Lock()

    def failed(self, source: str, error: str, *, hint: str = "", exc_info: BaseException | None = None,
               level: int | None = None) -> bool:
        """Record that ``source`` failed with ``error`` (one line). Logs ``source: error`` (plus ``hint``, what
        to do, in parentheses) when the failure starts, with ``exc_info``'s traceback only then; afterwards a
        reminder at most every ``remind_seconds``. Returns True when a line was logged."""
        now = self.clock()
        suffix = f" ({hint})" if hint else ""
        with self._lock:
            failure = self._failing.get(source)
            if failure is None:
                self._failing[source] = Failure(since=now, error=error, logged_at=now)
                self.logger.log(level or self.level, "%s: %s%s", source, error, suffix, exc_info=exc_info)
                return True
            failure.error, failure.count = error, failure.count + 1
            if now - failure.logged_at < self.remind_seconds:
                return False
            failure.logged_at = now
            self.logger.log(level or self.level, "%s: still failing after %s (%s): %s%s", source,
                            duration(now - failure.since), attempts(failure.count), error, suffix)
            return True

    def ok(self, source: str) -> bool:
        """Record that ``source`` works; logs ``source: recovered after <duration>`` (INFO) when it was failing.
        Returns True when it was failing."""
        with self._lock:
            failure = self._failing.pop(source, None)
        if failure is None:
            return False
        self.logger.info("%s: recovered after %s (%s; last error: %s)", source,
                         duration(self.clock() - failure.since), attempts(failure.count), failure.error)
        return True

    def error(self, source: str) -> str | None:
        """The latest error of ``source`` while it is failing, else None."""
        failure = self._failing.get(source)
        return None if failure is None else failure.error

    def failing(self) -> dict[str, str]:
        """The latest error of every failing source."""
        with self._lock:
            return {source: f.error for source, f in self._failing.items()}
