"""Windowed values from cumulative counters, as Prometheus ``increase()`` treats them.

A counter only grows; a value lower than the previous one means the counter was reset (Redis flushed), so the
increase across that step is the new value itself, never negative. Missing values (None) are skipped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CounterSample:
    """Counter values read at one time: ``at`` in Unix seconds, ``values`` by counter name (None = unreadable)."""

    at: float
    values: Mapping[str, float | None]


def increase(values: Iterable[float | None]) -> float | None:
    """Increase of a counter over consecutive readings, handling resets; None with fewer than two readings."""
    total, previous, seen = 0.0, None, 0
    for value in values:
        if value is None or not math.isfinite(value):
            continue
        seen += 1
        if previous is not None:
            total += value - previous if value >= previous else value
        previous = value
    return total if seen >= 2 else None


class CounterWindow:
    """The recent counter samples (in memory, newest last), enough to cover ``keep_seconds``."""

    def __init__(self, keep_seconds: float) -> None:
        self.keep_seconds = keep_seconds
        self._samples: deque[CounterSample] = deque()

    def add(self, sample: CounterSample) -> None:
        """Append a sample (ignored if not newer than the last) and drop those no longer needed."""
        if self._samples and sample.at <= self._samples[-1].at:
            return
        self._samples.append(sample)
        horizon = sample.at - self.keep_seconds
        # keep one sample at or before the horizon as the base of the widest window
        while len(self._samples) > 2 and self._samples[1].at <= horizon:
            self._samples.popleft()

    def shift(self, seconds: float) -> None:
        """Move every held sample by ``seconds`` (the wall clock stepped by that much: a sample read 10 s
        ago stays 10 s before the next one, so windows keep covering real time)."""
        self._samples = deque(CounterSample(at=s.at + seconds, values=s.values) for s in self._samples)

    def extend(self, samples: Iterable[CounterSample]) -> None:
        """Add many samples in time order (used to seed the window from history at start)."""
        for sample in samples:
            self.add(sample)

    def span(self, seconds: float) -> Sequence[CounterSample]:
        """Samples covering the last ``seconds`` before the newest: every later sample plus, as the base, the
        newest sample at or before the window's start if it is at most a quarter window older than the start
        (after a gap in sampling the window is simply shorter). Fewer than two samples means no window yet."""
        if not self._samples:
            return []
        start = self._samples[-1].at - seconds
        chosen = [s for s in self._samples if s.at > start]
        base = [s for s in self._samples if start - seconds / 4 <= s.at <= start]
        if base:
            chosen.insert(0, base[-1])
        return chosen

    def last(self, count: int) -> Sequence[CounterSample]:
        """The newest ``count`` samples, oldest first."""
        return list(self._samples)[-count:]

    def __len__(self) -> int:
        return len(self._samples)


def window_increase(samples: Sequence[CounterSample], key: str) -> float | None:
    """Increase of counter ``key`` across ``samples``."""
    return increase(s.values.get(key) for s in samples)
