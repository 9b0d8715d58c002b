"""Two clocks and the steps between them.

Samples are *stamped* with the wall clock (UTC, what people and the history read) but *scheduled and measured*
with the monotonic clock, which no NTP step, ``date -s`` or time-zone change moves. :class:`StepDetector`
compares the two between consecutive samples: when the wall clock moved more or less than the monotonic one,
the difference is a step, and everything held in memory as a wall time (counter windows, pending ``for``
windows, scheduled jobs) is moved by it, so that durations stay real durations.

A host suspended and resumed looks like a forward step too (the monotonic clock stands still while suspended),
which is what the daemon wants: time it did not observe counts as no time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from reporter.base.timefmt import duration


class Clock:
    """The system clocks: :meth:`wall` (aware UTC datetime) and :meth:`monotonic` (seconds, arbitrary origin).

    Tests pass a subclass that they step; production code uses :data:`SYSTEM_CLOCK`.
    """

    def wall(self) -> datetime:
        """The wall-clock time now, timezone-aware UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds on a clock that only moves forward at a steady rate (``time.monotonic``)."""
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` have passed on the monotonic clock; True if it is set."""
        return event.wait(seconds)


SYSTEM_CLOCK = Clock()


def step_tolerance(interval: float) -> float:
    """The smallest difference between wall and monotonic elapsed time, in seconds, counted as a step when
    samples are ``interval`` seconds apart: 1 s, or 1 % of the interval when that is more (NTP slews at most
    0.05 %, so only a step or a suspend exceeds it)."""
    return max(1.0, interval * 0.01)


def describe_step(seconds: float) -> str:
    """A step for a log line: ``-600`` -> ``"backwards by 10 min"``, ``1.5`` -> ``"forward by 1.5 s"``. The
    size is spelled as every duration (:func:`reporter.base.timefmt.duration`), to the tenth of a second under
    a minute, where steps close to the tolerance are told apart."""
    direction = "forward" if seconds > 0 else "backwards"
    size = abs(seconds)
    text = duration(size) if size >= 59.95 else f"{size:.1f}".rstrip("0").rstrip(".") + " s"
    return f"{direction} by {text}"


class StepDetector:
    """Finds wall-clock steps between observations: feed it each sample's ``(wall, monotonic)`` reading.

    :meth:`observe` returns the step in seconds (wall elapsed minus monotonic elapsed: negative = the wall clock
    went backwards) when its size exceeds ``tolerance`` seconds, else 0.0. The first observation returns 0.0.
    """

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self._last: tuple[datetime, float] | None = None

    def observe(self, wall: datetime, monotonic: float) -> float:
        """Record this reading; return the step since the previous one (seconds) or 0.0."""
        last, self._last = self._last, (wall, monotonic)
        if last is None:
            return 0.0
        step = (wall - last[0]).total_seconds() - (monotonic - last[1])
        return step if abs(step) > self.tolerance else 0.0
