"""The sampling loop: one thread that runs the sample job every interval on the monotonic clock.

APScheduler's interval triggers run on the wall clock, so a wall clock stepped back 10 minutes held sampling for
10 minutes. Here deadlines are monotonic: whatever the wall clock does, samples keep coming every interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from reporter.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


class SamplingLoop:
    """Calls ``job()`` at once, then every ``interval`` seconds of the monotonic clock, in a thread named
    ``sampler``, until :meth:`stop`.

    A cycle that overruns its interval is followed at once by the next one, and the schedule continues from
    there (missed cycles are not caught up, never two at once). An exception from ``job`` is logged with its
    traceback and the next cycle runs on time.
    """

    def __init__(self, job: Callable[[], None], interval: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.job, self.interval, self.clock = job, interval, clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, name="sampler", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to end after the cycle in flight; wait at most ``timeout`` seconds (None: until it
        ends). Returns False when the cycle in flight is still running."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> None:
        """The loop itself (the thread's target; tests may call it directly with a stepped clock)."""
        next_at = self.clock.monotonic()
        while not self.clock.wait(self._stopping, max(0.0, next_at - self.clock.monotonic())):
            try:
                self.job()
            except Exception:
                log.exception("sampling: a cycle failed; the next one runs on schedule")
            next_at += self.interval
            now = self.clock.monotonic()
            if next_at < now:  # overran: start the next cycle now and keep the interval from there
                next_at = now
