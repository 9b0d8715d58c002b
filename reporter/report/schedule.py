"""Which days need a report, and claiming a day so it is rendered exactly once.

The source of truth is the ``reports`` table, not a cron firing: every finished day (local to the report
timezone) inside retention that has no ``done`` row is due once the local clock has passed the report time of
the next day. A day is claimed with an INSERT (or a conditional UPDATE of a failed or abandoned claim) before
rendering, so two processes on one history, or a restart, never render it twice.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from reporter.report.holder import is_dead, this_process
from reporter.store.history import to_ms
from reporter.store.report_schema import report_emails, reports

log = logging.getLogger(__name__)
RETRY_BASE_SECONDS = 300.0
RETRY_MAX_SECONDS = 6 * 3600.0


def owner() -> str:
    """``host:pid:start`` of this process, recorded with a claim (see :mod:`reporter.report.holder`)."""
    return str(this_process())


class ReportSchedule:
    """Due days and claims in the ``reports`` table. ``report_time`` is ``HH:MM`` local to ``tz``."""

    def __init__(self, engine: Engine, tz: ZoneInfo, report_time: str = "00:10", retention_days: int = 30) -> None:
        self.engine, self.tz, self.retention_days = engine, tz, retention_days
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
            rows = {r.day: r for r in conn.execute(select(reports))}
        now_ms, days = to_ms(now), []
        day = first
        while day < today:
            row = rows.get(day.isoformat())
            if now >= self.due_at(day) and (row is None or self._reclaimable(row, now_ms)):
                days.append(day)
            day += timedelta(days=1)
        return days

    @staticmethod
    def _reclaimable(row, now_ms: int) -> bool:
        if row.status == "failed":
            return (row.next_attempt_at or 0) <= now_ms
        if row.status == "claimed":  # the renderer died: its lease ran out, or its process is gone
            return (row.lease_until or 0) <= now_ms or is_dead(row.claimed_by)
        return False

    def claim(self, day: date, now: datetime, lease_seconds: float) -> bool:
        """Claim ``day`` for rendering; False when another live process holds it or it is done.

        A failed day is claimed once its retry time has come; a claimed one once its lease ran out, or at once
        when its holder was a process on this host that is no longer running (a killed daemon)."""
        now_ms, key = to_ms(now), day.isoformat()
        values = {"status": "claimed", "claimed_by": owner(), "lease_until": now_ms + int(lease_seconds * 1000),
                  "updated_at": now_ms}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(reports).values(day=key, attempts=0, **values))
            return True
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(select(reports.c.status, reports.c.claimed_by, reports.c.lease_until)
                               .where(reports.c.day == key)).first()
        reclaimable = or_(and_(reports.c.status == "failed", reports.c.next_attempt_at <= now_ms),
                          and_(reports.c.status == "claimed", reports.c.lease_until <= now_ms))
        dead = (row is not None and row.status == "claimed" and (row.lease_until or 0) > now_ms
                and is_dead(row.claimed_by))
        if dead:  # compare-and-set on the dead holder: a live process claiming it meanwhile wins
            reclaimable = or_(reclaimable, and_(reports.c.status == "claimed",
                                                reports.c.claimed_by == row.claimed_by))
        with self.engine.begin() as conn:
            result = conn.execute(update(reports).where(reports.c.day == key, reclaimable).values(**values))
        if dead and result.rowcount == 1:
            log.warning("report %s: took over the claim of %s, which is no longer running", key, row.claimed_by)
        return result.rowcount == 1

    def done(self, day: date, files: list[str], now: datetime, email: bool) -> None:
        """Mark ``day`` rendered; queue its email in the same transaction when ``email``."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            conn.execute(update(reports).where(reports.c.day == day.isoformat()).values(
                status="done", rendered_at=now_ms, files=json.dumps(files), lease_until=None, error=None,
                attempts=reports.c.attempts + 1, updated_at=now_ms))
            if email:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(report_emails).values(day=day.isoformat(), status="pending", attempts=0,
                                                                  next_attempt_at=now_ms, created_at=now_ms))
                except IntegrityError:
                    pass  # already queued (or sent) once

    def failed(self, day: date, error: str, now: datetime) -> float:
        """Record a failed rendering; returns the seconds until it is tried again (backoff up to 6 h)."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            attempts = conn.execute(select(reports.c.attempts).where(reports.c.day == day.isoformat())).scalar() or 0
            delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** attempts)
            conn.execute(update(reports).where(reports.c.day == day.isoformat()).values(
                status="failed", error=error[:2000], lease_until=None, attempts=attempts + 1,
                next_attempt_at=now_ms + int(delay * 1000), updated_at=now_ms))
        return delay

    def rows(self) -> list[dict]:
        """Every report row, newest day first (for the CLI)."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(reports).order_by(reports.c.day.desc())).mappings()]
