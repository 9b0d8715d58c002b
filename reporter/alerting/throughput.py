"""``ai_throughput_drop`` (kind ``throughput_drop``): the AI service's tokens per second against its usual rate.

Value: ``ai.windows.5m.tokens_per_second`` (every feature's completion tokens / generation seconds over the
5-minute window, from the application's optional token counters). Baseline: the median of hourly tokens per
second over the last ``baseline`` seconds (7 days), each hour's rate computed from the history's counter columns
as the sum over features of the ``ai_{feature}_completion_tokens`` increase divided by the sum of the
``ai_{feature}_generation_seconds`` increase within that clock hour (UTC), counter resets handled
(:func:`reporter.counters.increase`). An hour whose ``ai_{feature}_requests`` increase (summed) is below
``min_count``, or with no generation time, is left out. Fires while the value is below ``factor`` (0.5) x the
median, with at least ``min_count`` requests in the window; inactive (false: no alert, no ``no_data``) while the
baseline has fewer than ``min_range`` seconds of hours (24 h).

Cost: the hourly rates of complete hours never change, so they are kept; each new clock hour reads only the
hours not yet read. At start (and after a reload) the ``baseline`` is read a day per evaluation (7 days: the
first 7 evaluations, 20-60 ms each for 10 s samples of 4 features on SQLite, the rule inactive meanwhile), so no
evaluation reads a week of rows at once. Between hours, nothing is read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import median

from reporter.base.ms import to_ms
from reporter.counters import increase

HOUR_MS = 3_600_000
CHUNK_MS = 24 * HOUR_MS  # the most one evaluation reads


def feature_columns(features: list[str], known) -> list[tuple[str, str, str]]:
    """``[(completion_tokens, generation_seconds, requests) column names]`` of the features whose three columns
    the history has (``known``: a container of column names)."""
    out = []
    for feature in features:
        names = (f"ai_{feature}_completion_tokens", f"ai_{feature}_generation_seconds", f"ai_{feature}_requests")
        if all(name in known for name in names):
            out.append(names)
    return out


def hourly_rates(rows, width: int, min_requests: float) -> dict[int, float]:
    """``{hour start (ms): tokens per second}`` from history rows ``(ts_ms, tokens_1, seconds_1, requests_1,
    tokens_2, ...)`` (``width`` features, oldest first): per clock hour, summed increases over features (only a
    feature whose tokens and seconds both grew in that hour counts); hours with fewer than ``min_requests``
    requests or no generation time are left out."""
    buckets: dict[int, list[tuple]] = {}
    for row in rows:
        buckets.setdefault(row[0] - row[0] % HOUR_MS, []).append(row)
    rates = {}
    for hour, hour_rows in buckets.items():
        tokens = seconds = requests = 0.0
        for f in range(width):
            base = 1 + 3 * f
            t = increase(r[base] for r in hour_rows)
            s = increase(r[base + 1] for r in hour_rows)
            n = increase(r[base + 2] for r in hour_rows)
            requests += n or 0.0
            if t is not None and s is not None and s > 0:
                tokens, seconds = tokens + t, seconds + s
        if seconds > 0 and requests >= min_requests:
            rates[hour] = tokens / seconds
    return rates


class ThroughputBaseline:
    """The hourly tokens-per-second rates of one rule's baseline, kept between evaluations and extended once
    per clock hour (see the module docstring). ``median(now)`` is the baseline median, or None while fewer than
    ``min_hours`` hours qualify."""

    def __init__(self, history, features: list[str], span_seconds: float, min_requests: float,
                 min_hours: float) -> None:
        self.history = history
        self.columns = feature_columns(features, getattr(history, "metrics", {}))
        self.span_ms = int(span_seconds * 1000)
        self.min_requests, self.min_hours = min_requests, min_hours
        self.rates: dict[int, float] = {}
        self.read_to: int | None = None  # hour start (ms): the hours before it have been read
        self._median: float | None = None

    def median(self, now: datetime) -> float | None:
        """The median hourly tokens per second over the complete hours of the baseline span before ``now``'s
        hour; None without enough qualifying hours (or without token columns), and while the span is still
        being read (a day per call)."""
        now_ms = to_ms(now)
        hour = now_ms - now_ms % HOUR_MS
        if self.read_to == hour:
            return self._median
        if self.read_to is None or hour < self.read_to:  # first read, or the clock went back: read it all again
            self.rates, self.read_to = {}, None
        start = max(hour - self.span_ms, self.read_to if self.read_to is not None else hour - self.span_ms)
        start -= start % HOUR_MS
        end = min(hour, start + CHUNK_MS)
        if self.columns and start < end:
            names = [name for triple in self.columns for name in triple]
            rows = self.history.app_rows(names, _utc(start), _utc(end))
            self.rates.update(hourly_rates(rows, len(self.columns), self.min_requests))
        self.rates = {h: r for h, r in self.rates.items() if h >= hour - self.span_ms}
        self.read_to = end
        if end < hour:  # more to read at the next evaluations: inactive until then
            return None
        enough = len(self.rates) >= max(1.0, self.min_hours)
        self._median = median(self.rates.values()) if enough else None
        return self._median


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=ms)
