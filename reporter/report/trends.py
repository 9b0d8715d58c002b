"""AI over time: the report's period cut into buckets of local calendar time (one hour of a daily report, one local
day of a weekly or monthly report), each with its requests, p50/p95 response time, success rate, cache hit rate
and model availability; and the per-feature figures with their change against the previous period. Also the entry
point that fills ``Report.trends`` (the usage part is :mod:`reporter.report.usage_trends`).

Every figure is computed as :func:`reporter.report.build.build_report` computes the period's: requests are counter
increases between consecutive app samples (a decrease is a reset: the step is the new value), the increase ending
at a sample counts in that sample's bucket (so the buckets add up to the period's requests); the response time of
one interval is its time increase over its request increase, and a bucket's p50/p95 are percentiles of those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from reporter.base.ms import from_ms, to_ms
from reporter.report.period import Period
from reporter.report.samples import Samples

if TYPE_CHECKING:
    from reporter.report.model import FeatureDay, Report
    from reporter.report.usage_trends import UsageTrend
    from reporter.settings import Settings


@dataclass(frozen=True)
class AIBucket:
    """One bucket of local calendar time (``start``/``end`` aware UTC; an hour, or a local day of 23 to 25 h):
    ``requests`` (counter increases, None without two consecutive samples), ``p50``/``p95`` of the per-interval
    response time (seconds), ``success_rate``, ``cache_hit_rate`` and ``model_availability`` (percent 0-100, the
    model probes of the report's own host). None where the bucket holds no data."""

    start: datetime
    end: datetime
    requests: float | None
    p50: float | None
    p95: float | None
    success_rate: float | None
    cache_hit_rate: float | None
    model_availability: float | None


@dataclass(frozen=True)
class FeatureTrend:
    """One AI feature over the period and its change against the previous period of the same kind:
    ``requests_change`` and ``time_change`` in percent of the previous value, ``success_change`` in percentage
    points; None when either side is unknown (or the previous value is 0)."""

    name: str
    requests: float | None
    success_rate: float | None
    avg_time: float | None
    requests_change: float | None
    success_change: float | None
    time_change: float | None


@dataclass
class AITrend:
    """The AI figures over the period: ``bucket`` is ``"hour"`` (daily report) or ``"day"`` (weekly, monthly),
    ``buckets`` in time order (every bucket of the whole period, also after "now" in a partial report: empty),
    ``features`` as in ``Report.ai.features`` with their changes, ``previous`` True when there is a previous
    period to compare with."""

    bucket: str
    buckets: list[AIBucket]
    features: list[FeatureTrend]
    previous: bool

    @property
    def known(self) -> bool:
        """Some bucket has a figure."""
        return any(b.requests is not None or b.model_availability is not None for b in self.buckets)


@dataclass
class Trends:
    """``Report.trends``: the AI section's figures over time and the usage section's (None when usage is not
    computed, e.g. for the previous period's report)."""

    ai: AITrend
    usage: UsageTrend | None = None
    notes: list[str] = field(default_factory=list)


def bucket_edges(period: Period) -> list[datetime]:
    """The bucket boundaries of ``period`` (aware UTC, first = ``period.start``, last = ``period.end``): every local
    hour of a day (23 or 25 buckets on DST change days), every local midnight of a week or month (so a DST
    change day is one bucket of 23 or 25 h)."""
    if period.kind == "day":
        hours = round(period.hours)
        return [period.start + timedelta(hours=h) for h in range(hours)] + [period.end]
    return [Period.day(d, period.timezone).start for d in period.local_days] + [period.end]


def _sums(where: np.ndarray, values: np.ndarray, count: int) -> list[float | None]:
    """The sum of the non-NaN ``values`` per bucket ``where`` (0..count-1), None for a bucket without any."""
    ok = ~np.isnan(values)
    sums = np.bincount(where[ok], weights=values[ok], minlength=count)
    seen = np.bincount(where[ok], minlength=count)
    return [float(s) if n else None for s, n in zip(sums, seen, strict=True)]


def ai_buckets(period: Period, samples: Samples, features: list[str], model: np.ndarray) -> list[AIBucket]:
    """The :class:`AIBucket` list of ``period`` from the app ``samples`` (oldest first; a row before the period
    may come first as the base of the first increase) and the own host's model probes ``model`` (an (n, 2) array
    of ts_ms, 0/1 or NaN)."""
    edges = np.array([to_ms(e) for e in bucket_edges(period)], dtype=np.int64)
    count = len(edges) - 1
    where = np.searchsorted(edges, samples.ts[1:], side="right") - 1  # each increase in the bucket of its end
    inside = (where >= 0) & (where < count)
    where = where[inside]

    def increases(name: str) -> np.ndarray:
        return samples.increases(name)[inside] if len(samples) > 1 else np.array([], dtype=float)

    req, spent = increases("ai_total_requests"), increases("ai_total_time_seconds")
    requests, hits = _sums(where, req, count), _sums(where, increases("ai_cache_hits"), count)
    timed = (req > 0) & ~np.isnan(spent)
    per_interval, timed_in = spent[timed] / req[timed], where[timed]
    ok, asked, inconsistent = [0.0] * count, [0.0] * count, [False] * count
    for f in features:
        f_req = _sums(where, increases(f"ai_{f}_requests"), count)
        f_ok = _sums(where, increases(f"ai_{f}_success"), count)
        for b in range(count):
            if f_ok[b] is not None and f_ok[b] > (f_req[b] or 0.0):  # type: ignore[operator]
                inconsistent[b] = True
            if f_req[b]:
                ok[b] += f_ok[b] or 0.0
                asked[b] += f_req[b] or 0.0
    probes = model[:, 1]
    probe_where = np.searchsorted(edges, model[:, 0].astype(np.int64), side="right") - 1
    probe_in = (probe_where >= 0) & (probe_where < count)
    up = _sums(probe_where[probe_in], probes[probe_in], count)
    probed = np.bincount(probe_where[probe_in][~np.isnan(probes[probe_in])], minlength=count)
    out = []
    for b in range(count):
        times = per_interval[timed_in == b]
        total, cached = requests[b], hits[b]
        out.append(AIBucket(
            start=from_ms(int(edges[b])), end=from_ms(int(edges[b + 1])), requests=total,
            p50=float(np.percentile(times, 50)) if len(times) else None,
            p95=float(np.percentile(times, 95)) if len(times) else None,
            success_rate=None if inconsistent[b] or not asked[b] else ok[b] / asked[b] * 100.0,
            cache_hit_rate=None if cached is None or not total or cached > total else cached / total * 100.0,
            model_availability=(up[b] or 0.0) / int(probed[b]) * 100.0 if probed[b] else None,
        ))
    return out


def relative_change(current: float | None, previous: float | None) -> float | None:
    """``current`` against ``previous`` in percent of ``previous`` (+12.5 = 12.5 % more); None when either is
    unknown or ``previous`` is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous) * 100.0


def _points(current: float | None, previous: float | None) -> float | None:
    return None if current is None or previous is None else current - previous


def feature_trends(current: list[FeatureDay], previous: list[FeatureDay] | None) -> list[FeatureTrend]:
    """Each feature of ``current`` (``Report.ai.features``) with its changes against the feature of the same name in
    ``previous`` (``Report.previous.ai.features``; None: no previous period, every change None)."""
    before = {f.name: f for f in previous or []}
    out = []
    for f in current:
        p = before.get(f.name)
        out.append(FeatureTrend(
            f.name, f.requests, f.success_rate, f.avg_time,
            requests_change=relative_change(f.requests, p.requests if p else None),
            success_change=_points(f.success_rate, p.success_rate if p else None),
            time_change=relative_change(f.avg_time, p.avg_time if p else None),
        ))
    return out


def trends_of(report: Report, samples: Samples, model: np.ndarray, features: list[str],
              settings: Settings | None = None) -> Trends:
    """``Report.trends`` of ``report`` (built, with its ``previous``): the AI buckets from the app ``samples`` it
    read (the base row before the period first when there is one), the own host's model probes ``model``
    (:func:`reporter.report.build.host_day`: an (n, 2) array of ts_ms, 0/1), the per-feature changes, and the
    usage over time (:func:`reporter.report.usage_trends.usage_trend`: period lists from the application's database
    when ``settings`` is given and it answers, else the stored lifetime lists)."""
    from reporter.report.usage_trends import usage_trend

    previous = report.previous.ai.features if report.previous is not None else None
    ai = AITrend(bucket="hour" if report.period.kind == "day" else "day",
                 buckets=ai_buckets(report.period, samples, features, model),
                 features=feature_trends(report.ai.features, previous), previous=report.previous is not None)
    return Trends(ai=ai, usage=usage_trend(report, samples, settings))
