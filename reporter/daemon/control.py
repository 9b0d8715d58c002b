"""SIGHUP (reload the alerting file) and SIGUSR1 (log a status line) for the running daemon.

The signal handler only records the request; a thread of its own acts on it, so reading the file, waiting for
an evaluation in progress and querying the outbox never happen inside a signal handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from reporter.base.errors import one_line
from reporter.base.timefmt import duration, format_utc

log = logging.getLogger(__name__)

RELOAD, STATUS = "reload", "status"


class Control(threading.Thread):
    """Runs the action registered for each request (``reload``, ``status``), one at a time, in order of
    arrival; a request made before :meth:`start` runs once started. An action that raises is logged (one line)
    and the thread goes on."""

    def __init__(self) -> None:
        super().__init__(name="control", daemon=True)
        self.actions: dict[str, Callable[[], None]] = {}
        self._requests: list[str] = []  # list.append is atomic: safe from a signal handler
        self._event = threading.Event()
        self._stopping = False

    def request(self, action: str) -> None:
        """Ask for ``action`` (from a signal handler or any thread); returns at once."""
        self._requests.append(action)
        self._event.set()

    def run(self) -> None:
        while True:
            self._event.wait()
            self._event.clear()
            if self._stopping:
                return
            while self._requests:
                action = self._requests.pop(0)
                if action in self._requests:  # two SIGHUPs in a row: one reload does
                    continue
                try:
                    self.actions[action]()
                except Exception as exc:
                    log.error("%s failed: %s", action, one_line(exc))

    def stop(self) -> None:
        """End the thread (an action in progress finishes)."""
        self._stopping = True
        self._event.set()


def status_line(started: float, latest, outbox_counts: dict[str, int] | None) -> str:
    """``status: up 2 h 03 min; last sample 2026-...Z (0.8 s ago, healthy); alerts: 1 firing (1 suppressed),
    0 pending; outbox: 3 queued (slack 3)``. ``started`` is a ``time.monotonic()`` value; ``latest`` the
    published snapshot holder (read without waiting for the sampling thread); ``outbox_counts`` None when the
    outbox could not be read."""
    published = latest.get()
    if published is None:
        sample, alerts = "no sample yet", "alerts: none evaluated yet"
    else:
        snapshot = published.snapshot
        sample = f"last sample {format_utc(snapshot.timestamp)} ({latest.age_seconds():.1f} s ago, {snapshot.status})"
        firing = [a for a in snapshot.alerts if a.state == "firing"]
        suppressed = sum(1 for a in firing if a.suppressed)
        alerts = (f"alerts: {len(firing)} firing{f' ({suppressed} suppressed)' if suppressed else ''}, "
                  f"{sum(1 for a in snapshot.alerts if a.state == 'pending')} pending")
    if outbox_counts is None:
        queue = "outbox: unreadable"
    else:
        queue = f"outbox: {sum(outbox_counts.values())} queued"
        if outbox_counts:
            queue += " (" + ", ".join(f"{name} {n}" for name, n in sorted(outbox_counts.items())) + ")"
    return f"status: up {duration(time.monotonic() - started)}; {sample}; {alerts}; {queue}"
