"""Usage over the report's period: active users and new users per local day, the top users and the scenarios of the
period.

- **Daily active users**: ``usage_active_users_24h`` (users whose ``last_active_at`` is within the last 24 h) as
  last sampled within each local day, so the figure at the end of the day; n/a for a day without a usage reading.
- **New users**: rows of ``users`` whose ``created_at`` is in the period (per local day), read from the
  application's database; when it cannot be read, the net change of ``usage_total_users`` (the last reading of the
  day against the last before it: users deleted in the day offset new ones), labelled as such.
- **Top users** and **scenarios** of the period: activity rows (conversations started, quiz attempts, grammar
  checks) and conversations started within the period, by :data:`PERIOD_QUERIES` against the reference schema,
  run when the report is built, each bounded by :data:`QUERY_TIMEOUT` seconds. When the database cannot be reached
  (or the schema differs), the stored lifetime lists are shown instead, labelled "lifetime".

Emails are masked (``u***@example.com``) unless ``REPORTER_SHOW_EMAILS`` is true; every user carries a short stable
id (:func:`short_id`) so two users with the same masked email are told apart.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text

from reporter.base.errors import one_line
from reporter.base.ms import to_ms
from reporter.masking import mask
from reporter.report.period import Period

if TYPE_CHECKING:
    from reporter.report.model import Report
    from reporter.report.samples import Samples
    from reporter.settings import Settings

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 5.0  # seconds each period query may take (connect and statement)
MAX_NEW_USERS = 100_000  # created_at values read for the per-day count of new users

_ACTIVITY = """
    SELECT user_id, started_at AS at FROM conversations WHERE started_at >= :start AND started_at < :end
    UNION ALL SELECT user_id, created_at AS at FROM quiz_attempts WHERE created_at >= :start AND created_at < :end
    UNION ALL SELECT user_id, created_at AS at FROM grammar_checks WHERE created_at >= :start AND created_at < :end
"""
PERIOD_QUERIES = {
    "new_users": "SELECT created_at FROM users WHERE created_at >= :start AND created_at < :end "
                 "ORDER BY created_at LIMIT :max_rows",
    "top_users": f"""
        SELECT u.id AS user_id, u.email AS email, COUNT(*) AS activity_count, MAX(a.at) AS last_active
        FROM ({_ACTIVITY}) a JOIN users u ON u.id = a.user_id
        GROUP BY u.id, u.email
        ORDER BY activity_count DESC, u.id
        LIMIT :limit
    """,
    "scenarios": """
        SELECT s.id AS scenario_id, s.name AS name, COUNT(c.id) AS start_count,
               SUM(CASE WHEN c.completed THEN 1 ELSE 0 END) AS completed_count
        FROM conversations c JOIN scenarios s ON s.id = c.scenario_id
        WHERE c.started_at >= :start AND c.started_at < :end
        GROUP BY s.id, s.name
        ORDER BY start_count DESC, s.id
        LIMIT :limit
    """,
}


def short_id(user_id: Any) -> str:
    """A short stable id of a user: the first 6 hex digits of the SHA-256 of the user's id (the same in every
    report; the id itself is not shown)."""
    return hashlib.sha256(str(user_id).encode()).hexdigest()[:6]


@dataclass(frozen=True)
class UsageDay:
    """One local day: ``active_users`` (the day's last ``usage_active_users_24h`` reading) and ``new_users``
    (from the application's database, or the net change of the user count: see ``UsageTrend.new_users_source``);
    None without a reading."""

    day: date
    active_users: float | None
    new_users: float | None


PERIOD_LIST_ROWS = 500  # rows of the period's top users and scenarios read: the report shows top_n, the CSV all


@dataclass(frozen=True)
class PeriodUser:
    """A user of the top users list: ``short`` its :func:`short_id`, ``email`` masked (unless
    ``REPORTER_SHOW_EMAILS``), ``activity`` its activity rows (in the period, or lifetime in the fallback),
    ``last_active`` its latest activity (aware UTC, or None)."""

    short: str
    email: str | None
    activity: int
    last_active: datetime | None


@dataclass(frozen=True)
class PeriodScenario:
    """A scenario with its conversations ``starts`` and ``completion`` (percent of them completed, None unknown)."""

    scenario_id: str
    name: str | None
    starts: int
    completion: float | None


@dataclass
class UsageTrend:
    """The usage over the period. ``lists`` says where ``top_users`` and ``scenarios`` come from: ``"period"``
    (the application's database, activity within the period) or ``"lifetime"`` (the stored lists, all time);
    ``new_users_source``: ``"created"`` (users.created_at) or ``"net"`` (the change of the user count);
    ``error``: why the application's database was not used (masked; None when it was, or was not asked)."""

    days: list[UsageDay]
    new_users: float | None
    new_users_source: str
    top_users: list[PeriodUser]
    scenarios: list[PeriodScenario]
    lists: str
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return bool(self.top_users or self.scenarios or any(d.active_users is not None for d in self.days))


def _last_per_day(days: list[Period], ts: np.ndarray, values: np.ndarray) -> list[float | None]:
    """The last non-missing value of each local day (samples at ``ts`` ms, oldest first)."""
    out: list[float | None] = []
    for day in days:
        lo, hi = np.searchsorted(ts, [to_ms(day.start), to_ms(day.end)])
        present = np.flatnonzero(~np.isnan(values[lo:hi]))
        out.append(float(values[lo + present[-1]]) if len(present) else None)
    return out


def _bound(value: datetime, backend: str) -> Any:
    """A UTC bound as the database compares it: naive UTC (the reference schema's timestamps are naive UTC); on
    SQLite the text the sqlite3 module stores datetimes as (``2026-11-30 23:00:00``)."""
    naive = value.replace(tzinfo=None)
    return naive.isoformat(sep=" ") if backend == "sqlite" else naive


def _period_rows(settings: Settings, start: datetime, end: datetime, limit: int) -> dict[str, list[dict]]:
    """The rows of every :data:`PERIOD_QUERIES` for start <= t < end; raises whatever the driver raises."""
    from reporter.collect.sources import app_database_engine

    engine = app_database_engine(settings.app_database_url, QUERY_TIMEOUT)
    backend = engine.url.get_backend_name()
    params = {"start": _bound(start, backend), "end": _bound(end, backend), "limit": limit,
              "max_rows": MAX_NEW_USERS}
    try:
        with engine.connect() as conn:
            out = {}
            for name, sql in PERIOD_QUERIES.items():
                result = conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
                out[name] = [dict(r) for r in result.mappings()]
            return out
    finally:
        engine.dispose()


def _users(rows: list[dict], show_emails: bool) -> list[PeriodUser]:
    from reporter.collect.usage import as_utc, clip, mask_email

    return [PeriodUser(short_id(r["user_id"]), clip(r.get("email")) if show_emails else mask_email(clip(r.get("email"))),
                       int(r["activity_count"]), as_utc(r.get("last_active"))) for r in rows]


def _scenarios(rows: list[dict]) -> list[PeriodScenario]:
    from reporter.collect.usage import clip

    out = []
    for r in rows:
        starts, done = int(r["start_count"]), r.get("completed_count")
        out.append(PeriodScenario(clip(r["scenario_id"]) or "", clip(r.get("name")), starts,
                                  None if done is None or not starts else int(done) / starts * 100.0))
    return out


def _lifetime(report: Report) -> tuple[list[PeriodUser], list[PeriodScenario]]:
    """The stored lifetime lists (emails as stored: masked at collection unless ``REPORTER_SHOW_EMAILS``)."""
    from reporter.collect.usage import as_utc

    users = [PeriodUser(short_id(u.get("user_id", "")), u.get("email"), int(u.get("activity_count") or 0),
                        as_utc(u.get("last_active"))) for u in report.top_users]
    scenarios = [PeriodScenario(str(s.get("scenario_id", "")), s.get("name"), int(s.get("start_count") or 0),
                                s.get("completion_rate")) for s in report.popular_scenarios]
    return users, scenarios


def usage_trend(report: Report, samples: Samples, settings: Settings | None) -> UsageTrend:
    """The :class:`UsageTrend` of ``report`` from the app ``samples`` it read (a row before the period may come
    first) and, with ``settings``, the application's database (``REPORTER_APP_DATABASE_URL``; any error there falls
    back to the stored lifetime lists, never raises)."""
    period = report.period
    days = [Period.day(d, period.timezone) for d in period.local_days]
    active = _last_per_day(days, samples.ts, samples.column("usage_active_users_24h"))
    totals = samples.column("usage_total_users")
    known = np.flatnonzero(~np.isnan(totals) & (samples.ts < to_ms(period.start)))
    base = float(totals[known[-1]]) if len(known) else None
    count = next((u for u in report.usage if u.name == "total_users"), None)
    if base is None and count is not None and count.value is not None and count.change is not None:
        base = count.value - count.change  # the previous period's last reading (build_report read it)
    net: list[float | None] = []
    for end_of_day in _last_per_day(days, samples.ts, totals):
        net.append(None if end_of_day is None or base is None else end_of_day - base)
        base = end_of_day if end_of_day is not None else base
    fetched, error = None, None
    if settings is not None:
        try:
            fetched = _period_rows(settings, report.start, report.end, max(report.top_n, PERIOD_LIST_ROWS))
        except Exception as exc:  # unreachable, timed out, another schema: the stored lists instead
            error = mask(one_line(getattr(exc, "orig", None) or exc))
            log.warning("report %s: the period's usage lists could not be read from the application's database "
                        "(%s); the report shows the lifetime lists", period.key, error)
    if fetched is not None:
        from reporter.collect.usage import as_utc

        created = [to_ms(at) for r in fetched["new_users"] if (at := as_utc(r["created_at"])) is not None]
        edges = [to_ms(d.start) for d in days] + [to_ms(period.end)]
        per_day = [0.0] * len(days)
        for ms in created:
            i = bisect.bisect_right(edges, ms) - 1
            if 0 <= i < len(days):
                per_day[i] += 1
        return UsageTrend(
            days=[UsageDay(d.first_day, a, n if d.start < report.end else None)
                  for d, a, n in zip(days, active, per_day, strict=True)],
            new_users=float(len(created)), new_users_source="created",
            top_users=_users(fetched["top_users"], settings is not None and settings.show_emails),
            scenarios=_scenarios(fetched["scenarios"]), lists="period")
    users, scenarios = _lifetime(report)
    # the period's net change: its last user count against the previous period's last (as the usage table shows)
    change = count.change if count is not None else None
    return UsageTrend(days=[UsageDay(d.first_day, a, n) for d, a, n in zip(days, active, net, strict=True)],
                      new_users=change, new_users_source="net", top_users=users,
                      scenarios=scenarios, lists="lifetime", error=error)
