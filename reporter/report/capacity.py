"""Capacity: the disk and memory trend of each host over the report's period, and when it would be full.

The trend is the least-squares straight line through the daily means of the period's samples (each mean placed
at the mean time of its local day's samples). Daily means, not the samples themselves: a daily cycle (memory
rising with the working day) would otherwise tilt a short fit and project a date of full from nothing but the
time of day; a fit needs :data:`MIN_DAYS` days with samples (a daily report shows the values, no projection).
The samples are read from the host's chart series (:attr:`reporter.report.model.HostDay.series`: the samples,
or their means over at most 600 equal slices of a long period, each slice mean placed at its slice's middle), so
a month of 10 s samples costs no query.

The slope, in percentage points per day, projects the date of full: when the line reaches 100 %. A slope not
above zero by more than twice its standard error is "not filling up" (flat or falling, within the day-to-day
noise); a date more than a year after the period's end is "not within a year".
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from reporter.report.model import HostDay, Report

RESOURCES = (("disk_percent", "Disk"), ("memory_percent", "Memory"))
HORIZON = timedelta(days=365)  # a projected full date later than this after the period's end: "not within a year"
MIN_DAYS = 3  # local days with samples that a fit needs ("short" below)
DAY_SECONDS = 86400.0

# outlooks
FILLING = "filling"  # full_at within a year
BEYOND = "beyond"  # rising, but full later than a year after the period
FLAT = "flat"  # not filling up: flat or falling
SHORT = "short"  # samples on fewer than MIN_DAYS local days: no fit
NO_DATA = "no_data"  # no sample


@dataclass(frozen=True)
class Fit:
    """A least-squares line ``value = intercept + slope * days`` (days since ``origin``), the standard error of
    the slope (percentage points per day) and the number of points."""

    origin: datetime
    slope: float
    intercept: float
    stderr: float
    points: int

    def at(self, when: datetime) -> float:
        """The line's value (percent) at ``when``."""
        return self.intercept + self.slope * (when - self.origin).total_seconds() / DAY_SECONDS

    def reaches(self, level: float) -> datetime | None:
        """When the line reaches ``level`` percent (None when it does not rise)."""
        if self.slope <= 0:
            return None
        days = (level - self.intercept) / self.slope
        if days > 1e6:  # beyond any horizon (and beyond datetime's range)
            return None
        return self.origin + timedelta(days=days)


def least_squares(points: list[tuple[datetime, float]]) -> Fit | None:
    """The least-squares line through ``points`` ((time, percent), at least two distinct times), time in days
    since the first point; None with fewer than two points or a single time."""
    if len(points) < 2:
        return None
    origin = points[0][0]
    xs = [(at - origin).total_seconds() / DAY_SECONDS for at, _ in points]
    ys = [value for _, value in points]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    stderr = math.sqrt(residual / (n - 2) / sxx) if n > 2 else 0.0
    return Fit(origin, slope, intercept, stderr, n)


@dataclass(frozen=True)
class CapacityTrend:
    """One resource of one host over the period: ``last`` the value at its end (percent, the last sample or
    slice mean), ``peak`` the period's maximum (the host's system stats), ``slope`` the trend in percentage
    points per day (None without enough data), ``full_at`` when the trend line reaches 100 % (UTC; set for
    ``outlook`` "filling" and "beyond", never before the period's end), ``outlook`` one of "filling", "beyond"
    (not within a year), "flat" (not filling up), "short" (fewer than :data:`MIN_DAYS` days), "no_data"; ``fit``
    the line, ``daily`` the daily means it was fitted to and ``series`` the samples (for the chart)."""

    host: str
    metric: str
    resource: str
    last: float | None
    peak: float | None
    slope: float | None
    full_at: datetime | None
    outlook: str
    fit: Fit | None = None
    series: list[tuple[datetime, float | None]] = field(default_factory=list)
    daily: list[tuple[datetime, float]] = field(default_factory=list)

    @property
    def filling(self) -> bool:
        """Projected full within a year."""
        return self.outlook == FILLING


def _centred(points: list[tuple[datetime, float | None]], sample_interval: float) -> list[tuple[datetime, float]]:
    """The finite points, each slice mean moved from its slice's first sample to its middle: the chart series of a
    long period holds the means of equal slices of ``n`` samples, stamped with the first one's time."""
    clean = [(at, float(v)) for at, v in points if v is not None and math.isfinite(v)]
    if len(points) < 2:
        return clean
    step = statistics.median((b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points))
    shift = timedelta(seconds=(step - sample_interval) / 2) if step > 1.5 * sample_interval else timedelta(0)
    return [(at + shift, v) for at, v in clean]


def daily_means(points: list[tuple[datetime, float]], tz: ZoneInfo) -> list[tuple[datetime, float]]:
    """One (mean time, mean value) per local day of ``tz`` that has points, in time order."""
    days: dict[date, list[tuple[datetime, float]]] = {}
    for at, value in points:
        days.setdefault(at.astimezone(tz).date(), []).append((at, value))
    out = []
    for day in sorted(days):
        group = days[day]
        origin = group[0][0]
        offset = sum((at - origin).total_seconds() for at, _ in group) / len(group)
        out.append((origin + timedelta(seconds=offset), sum(v for _, v in group) / len(group)))
    return out


def trend(host: HostDay, metric: str, resource: str, end: datetime, sample_interval: float,
          tz: ZoneInfo) -> CapacityTrend:
    """The :class:`CapacityTrend` of ``metric`` of ``host`` over a period that ends at ``end`` (the report's end),
    its days local to ``tz``."""
    series = host.series.get(metric, [])
    stats = host.system.get(metric)
    points = _centred(series, sample_interval)
    last = points[-1][1] if points else None
    peak = stats.max if stats is not None else None
    daily = daily_means(points, tz)
    fit = least_squares(daily) if len(daily) >= MIN_DAYS else None

    def made(outlook: str, full_at: datetime | None = None) -> CapacityTrend:
        return CapacityTrend(host.name, metric, resource, last, peak, fit.slope if fit else None, full_at, outlook,
                             fit, series, daily)

    if fit is None:
        return made(SHORT if points else NO_DATA)
    if fit.slope <= 0 or fit.slope <= 2 * fit.stderr:
        return made(FLAT)
    full = fit.reaches(100.0)
    if full is None or full - end > HORIZON:
        return made(BEYOND, full)
    return made(FILLING, max(full, end))


def capacity_of(report: Report) -> list[CapacityTrend]:
    """Disk and memory of every host the report details (a large fleet's other hosts have no series: left
    out), those filling up first (the soonest full first), then by host and resource. Empty for an empty
    report."""
    if report.empty:
        return []
    tz = ZoneInfo(report.timezone)
    trends = [trend(host, metric, resource, report.end, report.sample_interval, tz)
              for host in report.hosts if host.detailed and not host.empty
              for metric, resource in RESOURCES if metric in host.series]
    order = {metric: i for i, (metric, _) in enumerate(RESOURCES)}
    return sorted(trends, key=lambda t: (0, t.full_at.timestamp(), t.host, order[t.metric])
                  if t.filling and t.full_at is not None else (1, 0.0, t.host, order[t.metric]))
