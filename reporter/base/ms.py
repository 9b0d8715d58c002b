"""Epoch milliseconds, the time unit of every history table column (``samples.ts``, ``alerts.fired_at``,
``outbox.next_attempt_at``...), and timezone-aware UTC datetimes, the time type of the code; and elapsed
milliseconds, the unit of every measured duration in the snapshot (``latency_ms``, ``duration_ms``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import overload

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@overload
def to_ms(value: None) -> None: ...
@overload
def to_ms(value: datetime) -> int: ...
def to_ms(value: datetime | None) -> int | None:
    """A timezone-aware datetime as Unix milliseconds (an int, rounded to the nearest millisecond); None stays
    None (a column such as ``alerts.fired_at`` may be empty).

    A naive datetime is read as the host's local time (``datetime.timestamp``); the code passes aware ones."""
    return None if value is None else round(value.timestamp() * 1000)


@overload
def from_ms(value: None) -> None: ...
@overload
def from_ms(value: float) -> datetime: ...
def from_ms(value: float | None) -> datetime | None:
    """Unix milliseconds (int, or float as SQLite may return) -> timezone-aware UTC datetime; None stays None.

    Exact for whole milliseconds: ``to_ms(from_ms(n)) == n``."""
    return None if value is None else EPOCH + timedelta(milliseconds=value)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value), to 2 decimals: how long a probe, a
    sample or a delivery attempt took (``latency_ms``, ``duration_ms``)."""
    return round((time.perf_counter() - started) * 1000.0, 2)
