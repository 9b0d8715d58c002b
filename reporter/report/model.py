"""The report model: every figure of one report period (a local day for the daily report), computed from the
stored samples.

Units: percentages 0-100, durations in seconds, times are aware datetimes (UTC; templates show them in the
report's timezone). A figure that cannot be computed (no samples) is None and shows as "n/a".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from reporter.report.period import Period

if TYPE_CHECKING:  # capacity.py, slo.py, incidents.py, trends.py and ai_service.py read this module's classes
    from reporter.report.ai_service import AIService, Residency
    from reporter.report.capacity import CapacityTrend
    from reporter.report.incidents import Incidents
    from reporter.report.slo import Objective
    from reporter.report.trends import Trends


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


SEVERITY_RANK = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}  # lower is more severe; else 4


def severity_rank(severity: str | None) -> int:
    """0 for ``critical``/``page``, 1 ``error``, 2 ``warning``, 3 ``info``, 4 anything else or none."""
    return SEVERITY_RANK.get((severity or "").strip().lower(), len(set(SEVERITY_RANK.values())))


@dataclass(frozen=True)
class AlertEpisode:
    """One episode of one alert (one fingerprint, firing to resolved) that was firing during the report's
    period: ``end`` None while still firing at the period's end. ``seconds`` is the part of it inside the
    period (an episode that began the day before, or is still firing, is clipped), so never more than the period.
    ``inhibited_by``: the alert that inhibited it when it began firing (``service_down{service=ollama}``, see
    :mod:`reporter.report.inhibited`), "" when none did.
    """

    alertname: str
    labels: dict[str, str]
    severity: str
    start: datetime
    end: datetime | None
    summary: str = ""
    seconds: float = 0.0
    acknowledged_by: str = ""  # who acknowledged the episode ("" when nobody did), and when
    acknowledged_at: datetime | None = None
    inhibited_by: str = ""

    @property
    def firing(self) -> bool:
        """Still firing at the end of the report's period."""
        return self.end is None

    @property
    def distinguishing_labels(self) -> dict[str, str]:
        """The labels that tell this episode from others of its name (all but ``alertname`` and ``severity``)."""
        return {k: v for k, v in self.labels.items() if k not in ("alertname", "severity")}


@dataclass(frozen=True)
class ReceiverDay:
    """One receiver's notifications queued during the report's period, by their outcome now: ``delivered``,
    ``failed`` (permanently: refused by the receiver), ``expired`` (given up after ``max_age``) and ``pending``
    (still being tried)."""

    name: str
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    pending: int = 0


@dataclass
class HostDay:
    """The figures of one host over the report's period: samples against expected (coverage), gaps, the system
    table (min / average / p95 / max per metric), its uptime at the end, the chart series, its services (as it
    probed them) and the alert episodes labelled with its ``host``. A host of a large fleet that the report does
    not detail (``detailed`` False) has only its samples, system table and alerts (no gaps, series, services
    or uptime)."""

    name: str
    samples: int
    expected_samples: int
    gaps: list[Span]
    system: dict[str, Stats]
    uptime_seconds: float | None
    series: dict[str, list[tuple[datetime, float | None]]]
    services: list[ServiceDay]
    alerts: list[AlertEpisode] = field(default_factory=list)
    detailed: bool = True
    residency: Residency | None = None  # ai_service.py: the model in Ollama's memory (None: not read, not detailed)

    @property
    def coverage(self) -> float | None:
        """Samples present against expected, percent."""
        return None if not self.expected_samples else min(100.0, self.samples / self.expected_samples * 100.0)

    @property
    def empty(self) -> bool:
        """No sample of this host in the period."""
        return self.samples == 0


@dataclass
class Report:
    """Everything shown in one report: the figures of one :class:`~reporter.report.period.Period` (a local day
    for the daily report).

    ``start``/``end`` bound what the figures cover: the period's start to its end, except for the current
    period, whose figures end at "now" (``end`` < ``period.end``): its figures, coverage, gaps and alert
    durations stop there.

    The host figures at the top level (``samples``, ``system``, ``services``, ``gaps``...) are those of the
    report's own host (``host``); ``alerts`` holds every episode of the period. ``hosts``: every host of the
    period (those with samples in it, and those named by an alert episode's ``host`` label), by name, each with
    its own figures and episodes; ``fleet_alerts``: the episodes without a ``host`` label (app-wide rules) when
    the report covers a fleet. A single-host history gives one host, the top-level figures. ``receivers``: the
    notifications queued during the period per receiver, by outcome (none without alerting).
    """

    period: Period
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
    hosts: list[HostDay] = field(default_factory=list)
    fleet_alerts: list[AlertEpisode] = field(default_factory=list)
    receivers: list[ReceiverDay] = field(default_factory=list)
    # the same figures of the period before (same kind), for the changes the report shows; None when the history
    # does not reach back that far, or for the previous report itself (no chain)
    previous: Report | None = None
    # the sections of the weekly/monthly work (issue 12), each filled by its own module of reporter.report:
    objectives: list[Objective] = field(default_factory=list)  # slo.py: one per objective (the previous: none)
    incidents: Incidents | None = None  # incidents.py: count, MTTR, longest, noisiest rules (None: not computed)
    trends: Trends | None = None  # trends.py: AI and usage over the period (None for the previous period's report)
    capacity: list[CapacityTrend] = field(default_factory=list)  # capacity.py: disk and memory trend, projected full
    ai_service: AIService | None = None  # ai_service.py: model residency, tokens per second, cold loads

    @property
    def day(self) -> date:
        """The period's first local day (the day of a daily report; override templates use ``report.day``)."""
        return self.period.first_day

    @property
    def midnight(self) -> datetime:
        """The end of the period (the next local midnight), also for a report of the current period."""
        return self.period.end

    @property
    def hours(self) -> float:
        """Length of the period in hours: 24 for a day, 23/25 on DST change days (of the whole period, even when
        the report is partial)."""
        return self.period.hours

    @property
    def period_hours(self) -> float:
        """Hours the report covers: ``hours``, or the part of the current period until "now"."""
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def partial(self) -> bool:
        """True for a report of the current period, which ends at "now" rather than at the period's end."""
        return self.end < self.midnight

    @property
    def coverage(self) -> float | None:
        """Samples present against expected, percent."""
        return None if not self.expected_samples else min(100.0, self.samples / self.expected_samples * 100.0)

    @property
    def fleet(self) -> bool:
        """More than one host in the period: the report shows a fleet summary and a section per host."""
        return len(self.hosts) > 1

    @property
    def empty(self) -> bool:
        """No sample in the period (of any host)."""
        return self.samples == 0 and all(h.empty for h in self.hosts)
