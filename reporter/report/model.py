"""The daily report model: every figure of one local day, computed from the stored samples.

Units: percentages 0-100, durations in seconds, times are aware datetimes (UTC; templates show them in the
report's timezone). A figure that cannot be computed (no samples) is None and shows as "n/a".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Stats:
    """min / average / 95th percentile / max of one metric over the day (None without samples)."""

    min: float | None
    avg: float | None
    p95: float | None
    max: float | None
    samples: int


@dataclass(frozen=True)
class Span:
    """A period with a start and an end (``end`` None while still open at the end of the data)."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class ServiceDay:
    """One service: availability percent over the samples that probed it, and its outages."""

    name: str
    availability: float | None
    probes: int
    outages: list[Span]


@dataclass(frozen=True)
class FeatureDay:
    """One AI feature over the day: requests, success rate percent, average time seconds."""

    name: str
    requests: float | None
    success_rate: float | None
    avg_time: float | None


@dataclass(frozen=True)
class AIDay:
    """AI figures from counter increases (resets handled): requests, average and p95 of the per-interval
    response time (seconds), success rate and cache hit rate (percent), model availability (percent)."""

    requests: float | None
    avg_response_time: float | None
    p95_response_time: float | None
    success_rate: float | None
    cache_hit_rate: float | None
    model_availability: float | None
    features: list[FeatureDay]


@dataclass(frozen=True)
class UsageFigure:
    """An end-of-day usage figure and its change against the previous day's end (None when unknown)."""

    name: str
    value: float | None
    change: float | None


@dataclass(frozen=True)
class AlertEpisode:
    """An alert that fired or resolved during the day: ``end`` None while still firing at the day's end."""

    alertname: str
    labels: dict[str, str]
    severity: str
    start: datetime
    end: datetime | None
    summary: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass
class DailyReport:
    """Everything shown in one day's report."""

    day: date
    timezone: str
    host: str
    start: datetime
    end: datetime
    sample_interval: float
    samples: int
    expected_samples: int
    gaps: list[Span]
    system: dict[str, Stats]
    uptime_seconds: float | None
    series: dict[str, list[tuple[datetime, float | None]]]
    services: list[ServiceDay]
    ai: AIDay
    usage: list[UsageFigure]
    top_users: list[dict]
    popular_scenarios: list[dict]
    alerts: list[AlertEpisode] = field(default_factory=list)
    top_n: int = 10

    @property
    def hours(self) -> float:
        """Length of the day in hours: 24, or 23/25 on DST change days."""
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def coverage(self) -> float | None:
        """Samples present against expected, percent."""
        return None if not self.expected_samples else min(100.0, self.samples / self.expected_samples * 100.0)

    @property
    def empty(self) -> bool:
        return self.samples == 0
