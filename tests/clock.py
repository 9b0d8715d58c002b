"""A clock the test drives: virtual time that passes only when the code waits, and a wall clock it can step."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from reporter.clock import Clock


class SteppedClock(Clock):
    """Wall and monotonic time starting at ``wall`` and 1000.0. :meth:`advance` moves both (time passes),
    :meth:`step` moves only the wall clock (an NTP step, ``date -s``); :meth:`wait` advances instead of
    sleeping."""

    def __init__(self, wall: datetime) -> None:
        self._wall, self._monotonic = wall, 1000.0

    def wall(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)
        self._monotonic += seconds

    def step(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if not event.is_set():
            self.advance(seconds)
        return event.is_set()
