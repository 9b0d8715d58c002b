"""``ai_traffic_anomaly``: the AI request rate compared with what the same hour of the week usually sees.

Baseline: for each of the last ``weeks`` weeks, the increase of the ``ai_total_requests`` counter over the same
hour of the week (Monday 14:00-15:00 UTC, ...), scaled to the rule's 5-minute window (/ 12). Its median and MAD
(median absolute deviation) make a robust baseline: one odd week moves neither. The value (requests in the
current 5-minute window) is anomalous when ``|value - median| > factor x max(1.4826 x MAD, 10 % of the median,
1)``; a drop counts only while traffic is normally present (median >= ``min_count``), a spike only from
``min_count`` requests. With fewer than ``min_weeks`` weeks of baseline the rule is inactive (false, no alert,
no ``no_data``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median

from reporter.counters import increase

WEEK = timedelta(days=7)
WINDOWS_PER_HOUR = 12.0  # the rule's value is a 5-minute window's requests


def hour_of_week_start(now: datetime) -> datetime:
    """The start of ``now``'s hour (aware datetime in; same zone out)."""
    return now.replace(minute=0, second=0, microsecond=0)


def weekly_baseline(history, now: datetime, weeks: int) -> list[float]:
    """Requests per 5 minutes in the same hour of each of the last ``weeks`` weeks (a week with no stored
    counter in that hour is left out), oldest first. One bounded range read per week."""
    start = hour_of_week_start(now)
    out = []
    for k in range(weeks, 0, -1):
        rows = history.app_rows(["ai_total_requests"], start - k * WEEK, start - k * WEEK + timedelta(hours=1))
        grown = increase(row[1] for row in rows) if len(rows) >= 2 else None
        if grown is not None:
            out.append(grown / WINDOWS_PER_HOUR)
    return out


def is_anomalous(value: float, baseline: list[float], factor: float, min_count: float, min_weeks: int) -> bool:
    """True when ``value`` (requests in 5 minutes) is a spike or a drop against ``baseline`` (see the module
    docstring); false with fewer than ``min_weeks`` baseline values."""
    if len(baseline) < max(1, min_weeks):
        return False
    mid = median(baseline)
    mad = median(abs(b - mid) for b in baseline)
    band = factor * max(1.4826 * mad, 0.1 * mid, 1.0)
    if value > mid + band:
        return value >= min_count
    return value < mid - band and mid >= min_count
