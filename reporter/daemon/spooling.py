"""The sample job's spool (fleet mode): samples the history could not take wait in :class:`reporter.store.spool.Spool`
and are written, oldest first, once writes work again.

Log lines: one when spooling starts ("history unreachable; spooling samples to <path>"), a reminder every
15 minutes while it lasts, one when the spool is drained ("wrote N spooled samples ..."). A spool the previous
run left is announced once at start and drained after the first sample written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from reporter.base.errors import one_line
from reporter.base.ms import from_ms
from reporter.base.timefmt import duration, format_utc
from reporter.failures import FailureLog
from reporter.snapshot import Snapshot
from reporter.store.health import describe, is_store_error
from reporter.store.history import History, SampleRow
from reporter.store.spool import Spool

log = logging.getLogger(__name__)
REMIND_SECONDS = 900.0
DRAIN_SECONDS_MAX = 1.0  # the most a drain adds to one sample cycle


class Spooler:
    """Keeps the samples ``history`` refused in ``spool`` and drains them when it takes writes again.

    ``interval``: the sample interval (s); a drain takes at most min(1 s, interval / 2) per cycle, so a long
    spool never delays sampling. ``clock``: monotonic seconds (for the reminder)."""

    def __init__(self, spool: Spool, history: History, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spool, self.history, self.clock = spool, history, clock
        self.budget = min(DRAIN_SECONDS_MAX, interval / 2)
        self.failures = FailureLog(log, level=logging.ERROR)  # the spool folder itself failing
        self._since: float | None = None  # when this spooling episode started (monotonic)
        self._reminded = 0.0
        self._written = 0
        self._first_ts: int | None = None
        if len(spool):
            log.warning("spool: %d samples spooled before this start are in %s; they are written to the history "
                        "once it takes writes", len(spool), self.where)
            self._since = self._reminded = clock()

    @property
    def where(self) -> str:
        """The spool folder, absolute."""
        return str(self.spool.path.resolve())

    def __len__(self) -> int:
        return len(self.spool)

    def keep(self, snapshot: Snapshot) -> None:
        """Spool the sample of ``snapshot`` (after its history write failed with a store error). A spool that
        cannot be written is logged (FailureLog "spool"); the sample is then lost."""
        try:
            row = self.history.prepare(snapshot)
        except Exception as exc:  # the usage list's last body could not be read: store the sample without lists
            if not is_store_error(exc):
                raise
            row = self.history.prepare(snapshot.model_copy(update={"usage": None}))
        self.keep_row(row)

    def keep_row(self, row: SampleRow) -> None:
        """Spool ``row`` (see :meth:`keep`)."""
        try:
            self.spool.append(row)
        except OSError as exc:
            self.failures.failed("spool", f"cannot spool samples to {self.where} ({one_line(exc)}); samples "
                                 "are lost until the history or the spool folder can be written",
                                 hint="free disk space there or set REPORTER_SPOOL_PATH")
            return
        self.failures.ok("spool")
        now = self.clock()
        if self._since is None:
            self._since = self._reminded = now
            self._first_ts = row.ts
            log.warning("history unreachable; spooling samples to %s (up to %d MB and %g h: "
                        "REPORTER_SPOOL_MAX_BYTES, REPORTER_SPOOL_MAX_AGE; written to the history in order when it "
                        "is back)", self.where, self.spool.max_bytes // 2**20, self.spool.max_age / 3600)
        elif now - self._reminded >= REMIND_SECONDS:
            self._reminded = now
            log.warning("history still unreachable after %s; %d samples spooled in %s", duration(now - self._since),
                        len(self.spool), self.where)

    def drain(self) -> None:
        """Write spooled rows oldest first for at most :attr:`budget` seconds (after a successful write). A store
        error stops the drain (the rows stay; the history health records it); a row the history refuses for
        another reason (not an outage) is dropped with an error line, so it cannot block the spool."""
        if not len(self.spool):
            return
        try:
            done = self.spool.drain(self.history.write_row, max_seconds=self.budget)
        except Exception as exc:
            if is_store_error(exc):
                self.history.health.failed("spooled sample write", exc)
                return
            row = self.spool.discard_first()
            log.error("spool: the history refused a spooled sample (%s: %s); it is dropped",
                      format_utc(from_ms(row.ts)) if row else "unreadable", describe(exc), exc_info=exc)
            return
        self._written += done.written
        if not len(self.spool):
            since = self._since if self._since is not None else self.clock()
            log.info("spool: wrote %d spooled samples to the history in order (spooling lasted %s%s); the spool is "
                     "empty%s", self._written, duration(self.clock() - since),
                     f", first spooled sample at {format_utc(from_ms(self._first_ts))}" if self._first_ts else "",
                     f" ({self.spool.dropped} samples were dropped: see the warnings above)"
                     if self.spool.dropped else "")
            self._since, self._written, self._first_ts = None, 0, None
            self.spool.dropped = 0

    def describe(self) -> str | None:
        """``spooling N samples to <path>`` while the spool holds rows, else None."""
        count = len(self.spool)
        return f"spooling {count} samples to {self.where}" if count else None

    def close(self) -> None:
        """Close the spool's open segment (its files stay for the next start)."""
        self.spool.close()
