"""The sample job's store writer (fleet mode): samples go to the PostgreSQL history through a writer thread, and
wait in the spool (:class:`reporter.store.spool.Spool`) while the history cannot take them.

The sampling thread never waits on an unreachable or hung store for longer than ``min(1 s, interval / 2)``:
:meth:`Spooler.store` hands the snapshot to the ``store-writer`` thread and waits that long for the write. While
the store fails (or the spool still holds rows) each new sample is appended to the spool at once, and the writer
thread drains the spool oldest first whenever a write works again (retrying every interval).

Log lines: one when spooling starts ("history unreachable; spooling samples to <path>"), a reminder every
15 minutes while it lasts, one when the spool is drained ("wrote N spooled samples ..."). A spool the previous
run left is announced at start and drained by the writer thread.
"""

from __future__ import annotations

import logging
import threading
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
DRAIN_BATCH = 200  # spooled rows written per transaction
WAIT_SECONDS_MAX = 1.0  # the most the sampling thread waits for one history write
CLOSE_WAIT_SECONDS = 2.0


class _Handoff:
    """A sample handed to the writer thread; ``done`` is set once it is written or spooled."""

    def __init__(self, snapshot: Snapshot, row: SampleRow) -> None:
        self.snapshot, self.row = snapshot, row
        self.done = threading.Event()


class Spooler:
    """Writes samples to ``history`` from its own thread, keeping them in ``spool`` while the history fails.

    ``interval``: the sample interval (s): the sampling thread waits at most min(1 s, interval / 2) for a
    write, and a failed drain is retried after ``interval``. ``clock``: monotonic seconds (for the reminder).
    :meth:`start` the thread, :meth:`store` each snapshot, :meth:`close` at the end (a sample still in flight is
    spooled)."""

    def __init__(self, spool: Spool, history: History, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spool, self.history, self.clock = spool, history, clock
        self.interval = interval
        self.wait_seconds = min(WAIT_SECONDS_MAX, interval / 2)
        self.failures = FailureLog(log, level=logging.ERROR)  # the spool folder itself failing
        self._mutex = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._handoff: _Handoff | None = None
        self._direct = not len(spool)  # the last write worked and the spool is empty: hand samples over
        self._since: float | None = None  # when this spooling episode started (monotonic)
        self._reminded = 0.0
        self._written = 0
        self._first_ts: int | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
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

    @property
    def spooling(self) -> bool:
        """True while samples go to the spool instead of the history (a write failed or hangs, or older samples
        wait): the node cannot count on the store (a leader steps down on it)."""
        with self._mutex:
            return not self._direct

    def start(self) -> None:
        """Start the writer thread (it drains what a previous run spooled)."""
        self._thread.start()
        self._wake.set()

    # ---- the sampling thread ---------------------------------------------------------------------------------
    def store(self, snapshot: Snapshot) -> None:
        """Store the sample of ``snapshot``: written to the history by the writer thread (waited for at most
        ``wait_seconds``), or spooled at once while the history fails or the spool holds older samples."""
        row = self._prepare(snapshot)
        with self._mutex:  # the choice and the append at once: the writer cannot go direct in between
            handoff = None
            if self._direct and self._handoff is None and self._thread.is_alive():
                handoff = self._handoff = _Handoff(snapshot, row)
            else:
                self._direct = False
                self.keep_row(row)
        self._wake.set()
        if handoff is not None:
            handoff.done.wait(self.wait_seconds)  # a hung store: later samples go to the spool meanwhile

    def _prepare(self, snapshot: Snapshot) -> SampleRow:
        try:
            return self.history.prepare(snapshot)
        except Exception as exc:  # the usage list's last body could not be read: store the sample without lists
            if not is_store_error(exc):
                raise
            return self.history.prepare(snapshot.model_copy(update={"usage": None}))

    def keep_row(self, row: SampleRow) -> None:
        """Append ``row`` to the spool; a spool that cannot be written is logged (FailureLog "spool"): the
        sample is then lost. Logs when spooling starts and reminds every 15 minutes."""
        try:
            self.spool.append(row)
        except OSError as exc:
            self.failures.failed("spool", f"cannot spool samples to {self.where} ({one_line(exc)}); samples "
                                 "are lost until the history or the spool folder can be written",
                                 hint="free disk space there or set REPORTER_SPOOL_PATH")
            return
        self.failures.ok("spool")
        now = self.clock()
        with self._mutex:
            starting = self._since is None
            if starting:
                self._since = self._reminded = now
                self._first_ts = row.ts
            remind = not starting and now - self._reminded >= REMIND_SECONDS
            if remind:
                self._reminded = now
        if starting:
            log.warning("history unreachable; spooling samples to %s (up to %d MB and %g h: "
                        "REPORTER_SPOOL_MAX_BYTES, REPORTER_SPOOL_MAX_AGE; written to the history in order when it "
                        "is back)", self.where, self.spool.max_bytes // 2**20, self.spool.max_age / 3600)
        elif remind:
            log.warning("history still unreachable after %s; %d samples spooled in %s",
                        duration(now - (self._since or now)), len(self.spool), self.where)

    # ---- the writer thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        retry = False
        while not self._stopping.is_set():
            self._wake.wait(self.interval if retry else None)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                retry = not self._write_handoff() or not self.drain()
            except Exception:
                log.exception("store writer: unexpected failure; retrying in %g s", self.interval)
                retry = True

    def _write_handoff(self) -> bool:
        """Write the handed-over sample; spool it on a store error. False when the history failed."""
        with self._mutex:
            handoff = self._handoff
        if handoff is None:
            return True
        try:
            self.history.write(handoff.snapshot)
        except Exception as exc:
            if is_store_error(exc):
                with self._mutex:
                    self._direct = False
                self.keep_row(handoff.row)
            else:
                log.debug("history: writing the sample failed", exc_info=True)
            self.history.health.failed("sample write", exc)
            return not is_store_error(exc)
        else:
            self.history.health.ok()
            return True
        finally:
            with self._mutex:
                self._handoff = None
            handoff.done.set()

    def drain(self, max_seconds: float | None = None) -> bool:
        """Write spooled rows oldest first until the spool is empty (or ``max_seconds`` passed); False when a
        store error stopped it (the rows stay; the history health records it). A row the history refuses for
        another reason (not an outage) is dropped with an error line, so it cannot block the spool."""
        while len(self.spool) and not self._stopping.is_set():
            try:
                done = self.spool.drain_batches(self._write_batch, DRAIN_BATCH, max_seconds=max_seconds or 1.0)
            except Exception as exc:
                if is_store_error(exc):
                    self.history.health.failed("spooled sample write", exc)
                    return False
                row = self.spool.discard_first()
                log.error("spool: the history refused a spooled sample (%s: %s); it is dropped",
                          format_utc(from_ms(row.ts)) if row else "unreadable", describe(exc), exc_info=exc)
                continue
            if done.written:
                self.history.health.ok()
            self._written += done.written
            if max_seconds is not None:
                break
        with self._mutex:
            if len(self.spool):
                return True
            self._direct = True
            since, written, first_ts = self._since, self._written, self._first_ts
            self._since, self._written, self._first_ts = None, 0, None
        if since is not None:
            log.info("spool: wrote %d spooled samples to the history in order (spooling lasted %s%s); the spool "
                     "is empty%s", written, duration(self.clock() - since),
                     f", first spooled sample at {format_utc(from_ms(first_ts))}" if first_ts else "",
                     f" ({self.spool.dropped} samples were dropped: see the warnings above)"
                     if self.spool.dropped else "")
            self.spool.dropped = 0
        return True

    def _write_batch(self, rows: list[SampleRow]) -> None:
        """Write a batch of spooled rows in one transaction, but the ones the history has already: their write
        committed but the node stopped before the spool knew (killed between the two, or a write still in
        flight at shutdown); one index range probe of (host, ts) per host (the host-name lock makes this node
        the only writer of its rows). When the batch is refused for another reason than a store error (a ts
        collision, a row the history rejects), its rows are written one by one and a refused one is dropped
        with an error line. A store error propagates (the whole batch stays spooled)."""
        rows = self._not_stored(rows)
        if not rows:
            return
        try:
            self.history.write_rows(rows)
            return
        except Exception as exc:
            if is_store_error(exc):
                raise
        for row in rows:
            try:
                self.history.write_row(row)
            except Exception as exc:
                if is_store_error(exc):
                    raise
                self.spool.dropped += 1
                log.error("spool: the history refused a spooled sample (%s: %s); it is dropped",
                          format_utc(from_ms(row.ts)), describe(exc), exc_info=exc)

    def _not_stored(self, rows: list[SampleRow]) -> list[SampleRow]:
        stored: set[tuple[str, int]] = set()
        for host in {row.host for row in rows}:
            times = [row.ts for row in rows if row.host == host]
            stored.update((host, found[0]) for found in
                          self.history.rows([], from_ms(min(times)), from_ms(max(times) + 1), host=host))
        return [row for row in rows if (row.host, row.ts) not in stored]

    def describe(self) -> str | None:
        """``spooling N samples to <path>`` while the spool holds rows, else None."""
        count = len(self.spool)
        return f"spooling {count} samples to {self.where}" if count else None

    def close(self) -> None:
        """Stop the writer thread (waiting up to 2 s for a write in flight; a sample still not written then is
        spooled) and close the spool (its files stay for the next start)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_WAIT_SECONDS)
        with self._mutex:
            handoff, self._handoff = self._handoff, None
        if handoff is not None and not handoff.done.is_set():
            self.keep_row(handoff.row)
        self.spool.close()
