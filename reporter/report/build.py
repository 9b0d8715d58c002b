"""Build the report model of one period (a local day for the daily report) from the history (and the alert
events)."""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select

from reporter.alerting.acks import AckStore
from reporter.alerting.inhibition import DEFAULT_RULES, InhibitRule
from reporter.alerting.state import AlertStore
from reporter.base.ms import from_ms, to_ms
from reporter.catalog import catalog, report_metrics
from reporter.notify.health import outcomes_between
from reporter.report.ai_service import HOST_COLUMNS, ai_service, compared, loads_before, residency
from reporter.report.capacity import capacity_of
from reporter.report.fleet import HostSummary, detailed_hosts, summaries
from reporter.report.incidents import incidents
from reporter.report.inhibited import mark_inhibited
from reporter.report.model import (
    AIDay,
    AlertEpisode,
    FeatureDay,
    HostDay,
    ReceiverDay,
    Report,
    ServiceDay,
    Span,
    Stats,
    UsageFigure,
    severity_rank,
)
from reporter.report.period import Period
from reporter.report.samples import Samples, last, last_readings, total
from reporter.report.slo import objectives
from reporter.report.trends import trends_of
from reporter.settings import Settings
from reporter.store.history import History

log = logging.getLogger(__name__)

SERVICES = ("database", "redis", "ollama")
CHART_POINTS = 600
GAP_FACTOR = 2.5  # a pause longer than this many sample intervals is a gap in the data


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight, as UTC datetimes (23 h or 25 h on DST change days)."""
    period = Period.day(day, tz)
    return period.start, period.end


def percentile(values: list[float] | np.ndarray, p: float) -> float | None:
    """The ``p``-th percentile with linear interpolation between closest ranks (numpy's default). ``values``: a
    list of floats, or a float array without NaN (sorted by numpy: a month of them is never a Python list; the
    same result, computed with the same Python floats)."""
    if not len(values):
        return None
    ordered = np.sort(values) if isinstance(values, np.ndarray) else sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(k), math.ceil(k)
    below, above = float(ordered[low]), float(ordered[high])
    return below + (above - below) * (k - low)


def stats(values: list[float | None]) -> Stats:
    """min/avg/p95/max of the non-missing, finite values."""
    clean = [v for v in values if v is not None and math.isfinite(v)]
    if not clean:
        return Stats(None, None, None, None, 0)
    return Stats(min(clean), sum(clean) / len(clean), percentile(clean, 95), max(clean), len(clean))


def _ratio(part: float | None, whole: float | None, scale: float = 1.0) -> float | None:
    if part is None or not whole:
        return None
    return part / whole * scale


def downsample(points: list[tuple[datetime, float | None]], limit: int = CHART_POINTS):
    """At most ``limit`` points: bucket means (missing values skipped; an all-missing bucket stays missing)."""
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / limit)
    out = []
    for i in range(0, len(points), size):
        bucket = points[i:i + size]
        clean = [v for _, v in bucket if v is not None]
        out.append((bucket[0][0], sum(clean) / len(clean) if clean else None))
    return out


def outages(times: list[datetime], ups: list[float | None], end: datetime) -> list[Span]:
    """Runs of down probes: from the first down sample to the next up sample (or the end of the data)."""
    spans, down_since = [], None
    for at, up in zip(times, ups, strict=True):
        if up is None:
            continue
        if up < 0.5 and down_since is None:
            down_since = at
        elif up >= 0.5 and down_since is not None:
            spans.append(Span(down_since, at))
            down_since = None
    if down_since is not None:
        spans.append(Span(down_since, min(end, times[-1] if times else end)))
    return spans


def gaps(times: list[datetime], start: datetime, end: datetime, interval: float) -> list[Span]:
    """Periods without samples longer than GAP_FACTOR intervals, including at the day's edges."""
    limit = timedelta(seconds=interval * GAP_FACTOR)
    edges = [start, *times, end]
    return [Span(a, b) for a, b in itertools.pairwise(edges) if b - a > limit]


def covered(period: Period, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) that the report of ``period`` covers: the whole period, except that the current period
    (``now``, default the clock, inside it) ends at ``now``. UTC datetimes."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return period.start, (now if now in period else period.end)


def host_day(history: History, host: str | None, start: datetime, end: datetime, sample_interval: float,
             shown: str | None = None) -> tuple[HostDay, np.ndarray]:
    """The figures of ``host`` (None: the history's own) for start <= t < end, named ``shown`` (default
    the host), and its model-available probes (an (n, 2) float array: ts_ms, ``ollama_model_available`` 0/1 or
    NaN per sample, for the AI section and its trends). Its ``residency`` is read from the same rows."""
    system_names = list(report_metrics("system"))
    ups = [f"{s}_up" for s in SERVICES] + ["ollama_model_available"]
    columns = [*system_names, "uptime_seconds", *ups, *HOST_COLUMNS]
    # read a chunk at a time into arrays (a month of a host's rows as tuples is ~90 MB of Python objects)
    table = Samples.from_chunks(columns, history.row_chunks(columns, start, end, host=host), columns, to_ms(start))
    times = [from_ms(int(t)) for t in table.ts]

    def values(name: str) -> list[float | None]:
        return [None if v != v else v for v in table.column(name).tolist()]  # NaN (missing) -> None

    services = []
    for name in SERVICES:
        probes = [v for v in values(f"{name}_up") if v is not None]
        services.append(ServiceDay(name, _ratio(sum(probes), len(probes), 100.0), len(probes),
                                   outages(times, values(f"{name}_up"), end)))
    day = HostDay(
        name=shown or (history.host if host is None else host), samples=len(table),
        expected_samples=round((end - start).total_seconds() / sample_interval),
        gaps=gaps(times, start, end, sample_interval),
        system={name: stats(values(name)) for name in system_names},
        uptime_seconds=next((v for v in reversed(values("uptime_seconds")) if v is not None), None),
        series={name: downsample(list(zip(times, values(name), strict=True))) for name in system_names},
        services=services,
    )
    read_loads = not np.isnan(table.column("ollama_model_loads")).all()  # then its reading before is the base
    day.residency = residency(day.name, table, loads_before(history, host, start) if read_loads else None)
    return day, np.column_stack((table.ts.astype(float), table.column("ollama_model_available")))


def _brief(name: str, summary: HostSummary | None, alerts: list[AlertEpisode], start: datetime, end: datetime,
           sample_interval: float) -> HostDay:
    """A host the report does not detail: its summary figures only (services without their outages)."""
    expected = round((end - start).total_seconds() / sample_interval)
    if summary is None:
        return HostDay(name, 0, expected, [], {}, None, {}, [], alerts, detailed=False)
    services = [ServiceDay(s, _ratio(up, probes, 100.0), probes, []) for s, (up, probes) in summary.services.items()]
    return HostDay(name, summary.samples, expected, [], summary.system, None, {}, services, alerts, detailed=False)


def _probes(model: np.ndarray) -> tuple[float, int]:
    """(model-available probes that answered 1, probes) of :func:`host_day`'s array."""
    values = model[:, 1]
    return float(np.nansum(values)), int(np.count_nonzero(~np.isnan(values)))


def _with_probes(result: tuple[HostDay, np.ndarray]) -> tuple[HostDay, tuple[float, int]]:
    figures, probes = result
    return figures, _probes(probes)


def build_report(history: History, period: Period, *, sample_interval: float, host: str, top_n: int = 10,
                 now: datetime | None = None, settings: Settings | None = None, compare: bool = True,
                 inhibit_rules: Sequence[InhibitRule] = DEFAULT_RULES) -> Report:
    """The report of ``period`` (a :class:`Period`, e.g. ``Period.day(date, tz)``) from ``history``. Never
    raises for missing data: an empty period gives a report whose figures are None.

    A report of the current period (``now``, default the clock, inside it) covers it until ``now``: samples,
    expected samples, gaps, outages and alert durations all stop there; nothing is counted in the future.

    ``host`` is the name the report shows for its own host (the history's ``host``). On a fleet history
    (PostgreSQL) every host with samples in the period, or named by an alert episode's ``host`` label, gets
    its figures (``Report.hosts``); the AI and usage figures are app-wide (``History.app_rows``), once.

    ``settings``: the objectives and other report settings (None: the defaults). With ``compare``,
    ``Report.previous`` is the report of the period before (built without its own previous), or None when the
    history holds nothing before this period.

    ``inhibit_rules``: the inhibition rules in force (the alerting configuration's; default the built-in ones),
    which mark the episodes inhibited when they began firing (:func:`alert_episodes`).
    """
    day = period.key  # in log lines
    start, end = covered(period, now)
    features = history.features
    # the objectives are mostly SQL over the rolling 30 days, during which the database releases the GIL: they run
    # in a thread beside the rest of the build (the previous period's report has none)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="objectives") if compare else None
    goals = (pool.submit(objectives, history, start, end, sample_interval=sample_interval, settings=settings)
             if pool is not None else None)
    usage_names = [name.removeprefix("usage_") for name in report_metrics("usage")]
    counters = [m.name for m in catalog(features).values() if m.counter]  # the AI table's (and per feature)
    usage_cols = [f"usage_{u}" for u in usage_names]
    app_columns = [*counters, *usage_cols]
    # one sample before the day is the base of the day's counter increases; the rows as arrays (Samples), at once:
    # the list of rows is gone before the host's rows are read (a month's is 200 MB of Python objects)
    samples = Samples.from_chunks(app_columns, history.app_row_chunks(app_columns, start - timedelta(hours=1), end),
                                  app_columns, to_ms(start))

    episodes = alert_episodes(history, start, end, inhibit_rules=inhibit_rules)
    own, model = host_day(history, None, start, end, sample_interval,
                          shown=history.host if history.fleet else host)
    model_up, model_probes = _probes(model)
    hosts: list[HostDay] = [own]
    fleet_alerts: list[AlertEpisode] = []
    if history.fleet:
        labelled = {e.labels["host"] for e in episodes if e.labels.get("host")}
        names = sorted(set(history.hosts_between(start, end)) | labelled)
        alerts: dict[str, list[AlertEpisode]] = {name: [] for name in names}
        for episode in episodes:
            alerts.get(episode.labels.get("host") or "", fleet_alerts).append(episode)
        # a large fleet: every host's summary in one query, the full figures of the top_n hosts only
        summary = summaries(history, start, end, SERVICES) if len(names) > max(1, top_n) else {}
        brief = {name: _brief(name, summary.get(name), alerts[name], start, end, sample_interval)
                 for name in names if summary}
        chosen = detailed_hosts(list(brief.values()), max(1, top_n)) if brief else set(names)
        if names:
            hosts = []
        for name in names:
            probes: tuple[float, int] = (0.0, 0)  # the own host's are counted already
            if name not in chosen:
                figures = brief[name]
                if (s := summary.get(name)) is not None:
                    probes = (s.model_up, s.model_probes)
            elif name == history.host:
                figures = own
                figures.alerts[:] = alerts[name]
            else:
                figures, probes = _with_probes(host_day(history, name, start, end, sample_interval))
                figures.alerts[:] = alerts[name]
            hosts.append(figures)
            model_up, model_probes = model_up + probes[0], model_probes + probes[1]
        if len(hosts) == 1:  # a fleet of one reads as a single host: every alert is that host's
            hosts[0].alerts[:] = episodes
            fleet_alerts = []
    else:
        own.alerts.extend(episodes)  # a single host: every alert is this host's, labelled or not

    req_steps, time_steps = samples.increases("ai_total_requests"), samples.increases("ai_total_time_seconds")
    timed = (req_steps > 0) & ~np.isnan(time_steps)
    per_interval = time_steps[timed] / req_steps[timed]  # no NaN: timed steps only
    requests = total(req_steps)
    feature_days, f_req_total, f_ok_total, inconsistent = [], 0.0, 0.0, []
    for f in features:
        f_req = total(samples.increases(f"ai_{f}_requests"))
        f_ok = total(samples.increases(f"ai_{f}_success"))
        f_time = total(samples.increases(f"ai_{f}_time_seconds"))
        if f_ok is not None and f_ok > (f_req or 0.0):  # more successes than requests: no rate, never > 100 %
            inconsistent.append(f)
        feature_days.append(FeatureDay(f, f_req, None if f in inconsistent else _ratio(f_ok, f_req, 100.0),
                                       _ratio(f_time, f_req)))
        if f_req:
            f_req_total += f_req
            f_ok_total += f_ok or 0.0
    if inconsistent:
        log.warning("report %s: AI success counters grew more than their request counters for %s; their success "
                    "rates are left out", day, ", ".join(f"ai_{f}_success > ai_{f}_requests" for f in inconsistent))
    cache_hits = total(samples.increases("ai_cache_hits"))
    if cache_hits is not None and cache_hits > (requests or 0.0):
        log.warning("report %s: ai_cache_hits > ai_total_requests (the cache hits grew more than the requests); "
                    "the cache hit rate is left out", day)
    ai = AIDay(
        requests=requests,
        avg_response_time=_ratio(total(time_steps[~np.isnan(req_steps)]), requests),
        p95_response_time=percentile(per_interval, 95),
        success_rate=None if inconsistent else _ratio(f_ok_total, f_req_total, 100.0),
        cache_hit_rate=None if cache_hits is not None and cache_hits > (requests or 0.0)
        else _ratio(cache_hits, requests, 100.0),
        model_availability=_ratio(model_up, model_probes, 100.0),  # every host that probes Ollama
        features=feature_days,
    )

    previous = last_readings(history, usage_cols, period.previous().start, start)  # the previous period's end
    usage = []
    inside = samples.ts >= to_ms(start)
    for name in usage_names:
        value = last(samples.column(f"usage_{name}")[inside])
        prev = previous[f"usage_{name}"]
        usage.append(UsageFigure(name, value, None if value is None or prev is None else value - prev))

    report = Report(
        period=period, timezone=period.timezone, host=host, start=start, end=end, sample_interval=sample_interval,
        samples=own.samples, expected_samples=own.expected_samples, gaps=own.gaps, system=own.system,
        uptime_seconds=own.uptime_seconds, series=own.series, services=own.services, ai=ai, usage=usage,
        top_users=_list(history, "top_users", end), popular_scenarios=_list(history, "popular_scenarios", end),
        alerts=episodes, top_n=top_n, hosts=hosts, fleet_alerts=fleet_alerts,
        receivers=receiver_days(history, start, end),
    )
    report.capacity = capacity_of(report)
    report.ai_service = ai_service([h.residency for h in hosts], samples, features)
    if compare:  # the previous period's report is for comparisons: it has no objectives
        report.previous = previous_report(history, period, sample_interval=sample_interval, host=host, top_n=top_n,
                                          settings=settings, inhibit_rules=inhibit_rules)
        report.ai_service = compared(report.ai_service, report.previous.ai_service if report.previous else None)
        report.trends = trends_of(report, samples, model, features, settings)
    if goals is not None and pool is not None:
        report.objectives = goals.result()
        pool.shutdown()
    report.incidents = incidents(report)
    return report


def previous_report(history: History, period: Period, *, sample_interval: float, host: str, top_n: int = 10,
                    settings: Settings | None = None,
                    inhibit_rules: Sequence[InhibitRule] = DEFAULT_RULES) -> Report | None:
    """The report of the period before ``period`` (same kind), without its own previous; None when the history's
    oldest sample is not before ``period`` (nothing to compare with)."""
    first = history.first_time()
    if first is None or first >= period.start:
        return None
    return build_report(history, period.previous(), sample_interval=sample_interval, host=host, top_n=top_n,
                        settings=settings, compare=False, inhibit_rules=inhibit_rules)


def _list(history: History, kind: str, end: datetime) -> list[dict]:
    lists = history.usage_lists
    with history.engine.connect() as conn:
        body = conn.execute(select(lists.c.body).where(lists.c.kind == kind, lists.c.ts < to_ms(end))
                            .order_by(lists.c.ts.desc()).limit(1)).scalar()
    return json.loads(body) if body else []


def receiver_days(history: History, start: datetime, end: datetime) -> list[ReceiverDay]:
    """The notifications queued in [start, end) per receiver, by outcome, by receiver name."""
    counts = outcomes_between(history.engine, start, end)
    return [ReceiverDay(name, **{k: v for k, v in counts[name].items() if k in ("delivered", "failed", "expired",
                                                                              "pending")})
            for name in sorted(counts)]


def alert_episodes(history: History, start: datetime, end: datetime, lookback_days: int = 30,
                   inhibit_rules: Sequence[InhibitRule] = DEFAULT_RULES) -> list[AlertEpisode]:
    """Every episode (one fingerprint, from firing to resolved) that was firing at some point of [start, end),
    each with the part of it inside the period in ``seconds``, most severe first, then the longest, then the
    earliest. An episode still open at ``end`` has ``end`` None. An acknowledged episode names who acknowledged it
    and when (``acks``: the ack of that fingerprint whose episode began after its previous resolution, at the
    latest when it fired)."""
    events = AlertStore(history.engine).events(start - timedelta(days=lookback_days), end)
    open_: dict[str, dict] = {}
    resolved: dict[str, datetime] = {}  # fingerprint -> its latest resolution (an episode begins after it)
    found: list[tuple[AlertEpisode, str, datetime | None, datetime]] = []  # + fingerprint, (after, fired at]
    before: list[AlertEpisode] = []  # resolved before the period: they may have inhibited one of its episodes
    for event in events:
        fp = event["fingerprint"]
        if event["state"] == "firing":
            open_[fp] = {**event, "after": resolved.get(fp)}
        elif event["state"] == "resolved":
            resolved[fp] = event["at"]
            if fp in open_:
                fired = open_.pop(fp)
                if event["at"] >= start:
                    found.append((_episode(fired, event["at"], start, end), fp, fired["after"], fired["at"]))
                elif inhibit_rules:
                    before.append(_episode(fired, event["at"], start, end))
    found += [(_episode(e, None, start, end), fp, e["after"], e["at"]) for fp, e in open_.items()]
    acks = AckStore(history.engine).of_alerts({fp for _, fp, _, _ in found})
    episodes = []
    for episode, fp, after, fired_at in found:
        ack = next((a for a in acks.get(fp, []) if (after is None or a.starts_at > after) and a.starts_at <= fired_at),
                   None)
        episodes.append(replace(episode, acknowledged_by=ack.by, acknowledged_at=ack.at) if ack else episode)
    episodes = mark_inhibited(episodes, [*before, *episodes], inhibit_rules)
    return sorted(episodes, key=lambda e: (severity_rank(e.severity), -e.seconds, e.start, e.alertname))


def _episode(fired: dict, resolved: datetime | None, start: datetime, end: datetime) -> AlertEpisode:
    labels = fired["labels"]
    inside = max(0.0, (min(resolved or end, end) - max(fired["at"], start)).total_seconds())
    return AlertEpisode(labels.get("alertname", fired["rule"]), labels, labels.get("severity", ""), fired["at"],
                        resolved, seconds=inside)
