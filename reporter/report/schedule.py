"""Which days need a report, and claiming a day so it is rendered exactly once.

The source of truth is the ``reports`` table, not a cron firing: every finished day (local to the report
timezone) inside retention that has no ``done`` row is due once the local clock has passed the report time of
the next day. A day is claimed with an INSERT (or a conditional UPDATE of a failed or abandoned claim) before
rendering, so two processes on one history, or a restart, never render it twice; claims, leases, attempts and
the retry backoff are the leased queues' (:mod:`reporter.store.leases`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from reporter.base.ms import to_ms
from reporter.report.holder import is_dead, this_process
from reporter.store.leases import Backoff, LeasedQueue
from reporter.store.report_schema import report_emails, reports

log = logging.getLogger(__name__)
BACKOFF = Backoff(300.0, 6 * 3600.0)  # between renderings of a failed day: 5 min doubling to 6 h, jittered


def owner() -> str:
    """``host:pid:start`` of this process, recorded with a claim (see :mod:`reporter.report.holder`)."""
    return str(this_process())


class ReportSchedule:
    """Due days and claims in the ``reports`` table. ``report_time`` is ``HH:MM`` local to ``tz``."""

    def __init__(self, engine: Engine, tz: ZoneInfo, report_time: str = "00:10", retention_days: int = 30,
                 backoff: Backoff = BACKOFF) -> None:
        self.engine, self.tz, self.retention_days, self.backoff = engine, tz, retention_days, backoff
        # a claim is ``claimed`` (leased, its holder recorded) until ``done`` or ``failed`` (due again later)
        self.queue = LeasedQueue(engine, reports, "day", ("claimed", "failed"), claimed_status="claimed",
                                 holder="claimed_by", is_dead=is_dead)
        hours, minutes = (int(p) for p in report_time.split(":"))
        self.report_time = time(hours, minutes)

    def due_at(self, day: date) -> datetime:
        """When ``day``'s report becomes due: the report time of the next local day (UTC)."""
        return datetime.combine(day + timedelta(days=1), self.report_time, tzinfo=self.tz).astimezone(UTC)

    def due_days(self, now: datetime, first_sample: datetime | None) -> list[date]:
        """Finished days from the first sample (within retention) to yesterday that lack a report and are due,
        oldest first; days whose last attempt failed are due again after their retry time."""
        if first_sample is None:
            return []
        today = now.astimezone(self.tz).date()
        first = max(first_sample.astimezone(self.tz).date(), today - timedelta(days=self.retention_days))
        with self.engine.connect() as conn:
            rows = {r["day"]: r for r in conn.execute(select(reports)).mappings()}
        days = []
        day = first
        while day < today:
            row = rows.get(day.isoformat())
            if now >= self.due_at(day) and (row is None or self.queue.is_claimable(row, now)):
                days.append(day)
            day += timedelta(days=1)
        return days

    def claim(self, day: date, now: datetime, lease_seconds: float) -> bool:
        """Claim ``day`` for rendering; False when another live process holds it or it is done.

        A failed day is claimed once its retry time has come; a claimed one once its lease ran out, or at once
        when its holder was a process on this host that is no longer running (a killed daemon). The claim is
        :meth:`reporter.store.leases.LeasedQueue.claim` (the row is created on first claim)."""
        claim = self.queue.claim(day.isoformat(), now, lease_seconds, holder=owner(),
                                 values={"updated_at": to_ms(now)}, create={"attempts": 0})
        if claim is not None and claim.took_over is not None:
            log.warning("report %s: took over the claim of %s, which is no longer running", day, claim.took_over)
        return claim is not None

    def done(self, day: date, files: list[str], now: datetime, email: bool) -> None:
        """Mark ``day`` rendered; queue its email in the same transaction when ``email``."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            self.queue.attempted(day.isoformat(), now, status="done", conn=conn, values={
                "rendered_at": now_ms, "files": json.dumps(files), "error": None, "updated_at": now_ms})
            if email:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(report_emails).values(day=day.isoformat(), status="pending", attempts=0,
                                                                  next_attempt_at=now_ms, created_at=now_ms))
                except IntegrityError:
                    pass  # already queued (or sent) once

    def failed(self, day: date, error: str, now: datetime) -> float:
        """Record a failed rendering; returns the seconds until it is tried again (``backoff``: 5 min doubling up
        to 6 h, jittered)."""
        attempt = self.queue.attempted(day.isoformat(), now, status="failed", retry=self.backoff,
                                       values={"error": error[:2000], "updated_at": to_ms(now)})
        return attempt.delay or 0.0

    def rows(self) -> list[dict]:
        """Every report row, newest day first (for the CLI)."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(reports).order_by(reports.c.day.desc())).mappings()]
