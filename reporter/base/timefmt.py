"""Times and durations as text, one spelling each.

- :func:`format_utc` — for machines (snapshot JSON, the API, CSV export, CLI JSON): ISO 8601 UTC with
  millisecond precision and ``Z``: ``2026-11-29T16:01:10.123Z``.
- :func:`format_local` — for people (notifications, CLI tables, alert descriptions): the wall time in the
  timezone of ``REPORTER_TIMEZONE`` with its abbreviation: ``2024-05-01 15:05:00 CEST``.
- :func:`duration` — for people (log lines, status line, notifications, the report): ``45 s``, ``7 min``,
  ``1 h 05 min``, ``12 d 3 h``; halves round up, as people round.

Protocol formats that another program parses keep their own spelling where the protocol fixes it (the
Alertmanager webhook's RFC 3339 times in :mod:`reporter.notify.webhook`). The report's table cells (``HH:MM``
within the report's day) are layout, in :mod:`reporter.report.html`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def format_utc(value: datetime) -> str:
    """A timezone-aware datetime as ISO 8601 UTC with millisecond precision (truncated) and ``Z``:
    ``2026-11-29T16:01:10.123Z``. A naive datetime is read as the host's local time."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_local(value: datetime, tz: tzinfo) -> str:
    """A timezone-aware datetime as the wall time in ``tz`` (a ``ZoneInfo``, usually ``REPORTER_TIMEZONE``),
    to the second, with the zone's abbreviation, which tells the two readings of a repeated hour apart on a
    DST change: ``2024-05-01 15:05:00 CEST``. Raises ValueError for a naive datetime (its zone is unknown)."""
    if value.tzinfo is None:
        raise ValueError("a time shown in a timezone must be timezone-aware (UTC)")
    return value.astimezone(tz).strftime(LOCAL_FORMAT)


def duration(seconds: float) -> str:
    """A length of time in seconds for people, coarser as it grows, halves rounded up (390 s is ``7 min``, not
    the ``6 min`` of Python's round-half-to-even): ``45 s`` (under 59.5 s), ``7 min`` (under an hour),
    ``1 h 05 min`` (under a day), ``12 d 3 h``. Negative values count as 0; raises ValueError for NaN and
    OverflowError for infinity."""
    number = max(0.0, float(seconds))
    if number < 59.5:
        return f"{half_up(number)} s"
    minutes = half_up(number / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = half_up(number / 3600)
    return f"{hours // 24} d {hours % 24} h"


def half_up(number: float) -> int:
    """``number`` rounded to the nearest integer, halves up (``2.5`` -> 3, ``3.5`` -> 4)."""
    return math.floor(number + 0.5)
