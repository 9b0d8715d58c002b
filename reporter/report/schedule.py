"""Which report periods need a report, and claiming a period so it is rendered exactly once.

The source of truth is the ``reports`` table (one row per period, keyed by :attr:`Period.key`), not a cron
firing: every finished period (local days of the report timezone; a day for the daily report) inside retention
that has no ``done`` row is due once the local clock has passed the report time of the day after it. A period
is claimed with an INSERT (or a conditional UPDATE of a failed or abandoned claim) before rendering, so two
processes on one history, or a restart, never render it twice; claims, leases, attempts and the retry backoff
are the leased queues' (:mod:`reporter.store.leases`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from reporter.base.ms import to_ms
from reporter.report.holder import is_dead, this_process
from reporter.report.period import Period
from reporter.store.fence import Fenced
from reporter.store.leases import Backoff, FenceCheck, LeasedQueue
from reporter.store.report_schema import report_emails, reports

log = logging.getLogger(__name__)
BACKOFF = Backoff(300.0, 6 * 3600.0)  # between renderings of a failed period: 5 min doubling to 6 h, jittered


def owner() -> str:
    """``host:pid:start`` of this process, recorded with a claim (see :mod:`reporter.report.holder`)."""
    return str(this_process())


class ReportSchedule:
    """Due periods and claims in the ``reports`` table. ``report_time`` is ``HH:MM`` local to ``tz``; ``kind``
    the kind of period scheduled (``"day"``: the daily report). ``fence``: the leader's fence, checked with every
    claim and every recorded outcome (None: unfenced, the CLI and a single host; the daemon sets it at election)."""

    def __init__(self, engine: Engine, tz: ZoneInfo, report_time: str = "00:10", retention_days: int = 30,
                 backoff: Backoff = BACKOFF, kind: str = "day") -> None:
        self.engine, self.tz, self.retention_days, self.backoff = engine, tz, retention_days, backoff
        self.kind = kind
        self.fence: FenceCheck | None = None
        # a claim is ``claimed`` (leased, its holder recorded) until ``done`` or ``failed`` (due again later)
        self.queue = LeasedQueue(engine, reports, "day", ("claimed", "failed"), claimed_status="claimed",
                                 holder="claimed_by", is_dead=is_dead)
        hours, minutes = (int(p) for p in report_time.split(":"))
        self.report_time = time(hours, minutes)

    def due_at(self, period: Period) -> datetime:
        """When ``period``'s report becomes due: the report time of the local day after it (UTC)."""
        return datetime.combine(period.last_day + timedelta(days=1), self.report_time,
                                tzinfo=self.tz).astimezone(UTC)

    def due_periods(self, now: datetime, first_sample: datetime | None) -> list[Period]:
        """Finished periods from the one of the first sample (within retention) to the one before ``now``'s that
        lack a report and are due, oldest first; periods whose last attempt failed are due again after their
        retry time."""
        if first_sample is None:
            return []
        current = Period.containing(now, self.tz, self.kind)
        oldest = now.astimezone(self.tz).date() - timedelta(days=self.retention_days)
        period = Period.of(self.kind, max(first_sample.astimezone(self.tz).date(), oldest), self.tz)
        with self.engine.connect() as conn:
            rows = {r["day"]: r for r in conn.execute(select(reports)).mappings()}
        due = []
        while period.start < current.start:
            row = rows.get(period.key)
            if now >= self.due_at(period) and (row is None or self.queue.is_claimable(row, now)):
                due.append(period)
            period = period.next()
        return due

    def needed_since(self, now: datetime, first_sample: datetime | None) -> datetime:
        """The oldest time whose samples this schedule's reports still need (UTC): the start of the period
        before ``now``'s while its report is not done, else the start of ``now``'s period (its report comes).
        ``first_sample``: the history's oldest sample; a period that ended before it (or any, in an empty history)
        is never rendered (:meth:`due_periods`), so it needs nothing: ``now``'s period start."""
        current = Period.containing(now, self.tz, self.kind)
        before = current.previous()
        if first_sample is None or before.end <= first_sample:
            return current.start
        with self.engine.connect() as conn:
            status = conn.execute(select(reports.c.status).where(reports.c.day == before.key)).scalar()
        return before.start if status != "done" else current.start

    def claim(self, period: Period, now: datetime, lease_seconds: float) -> bool:
        """Claim ``period`` for rendering; False when another live process holds it or it is done.

        A failed period is claimed once its retry time has come; a claimed one once its lease ran out, or at once
        when its holder was a process on this host that is no longer running (a killed daemon). The claim is
        :meth:`reporter.store.leases.LeasedQueue.claim` (the row is created on first claim). A fenced claim (this
        node is no longer the leader) is False too."""
        try:
            claim = self.queue.claim(period.key, now, lease_seconds, holder=owner(), fence=self.fence,
                                     values={"updated_at": to_ms(now)}, create={"attempts": 0})
        except Fenced as exc:
            log.info("report %s: not claimed, this node is no longer the leader (%s)", period, exc)
            return False
        if claim is not None and claim.took_over is not None:
            log.warning("report %s: took over the claim of %s, which is no longer running", period,
                        claim.took_over)
        return claim is not None

    def done(self, period: Period, files: list[str], now: datetime, email: bool) -> None:
        """Mark ``period`` rendered; queue its email in the same transaction when ``email``. Raises
        :class:`reporter.store.fence.Fenced` (nothing recorded) when this node is no longer the leader."""
        now_ms, key = to_ms(now), period.key
        with self.engine.begin() as conn:
            self.queue.attempted(key, now, status="done", conn=conn, fence=self.fence, values={
                "rendered_at": now_ms, "files": json.dumps(files), "error": None, "updated_at": now_ms})
            if email:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(report_emails).values(day=key, status="pending", attempts=0,
                                                                  next_attempt_at=now_ms, created_at=now_ms))
                except IntegrityError:
                    pass  # already queued (or sent) once

    def failed(self, period: Period, error: str, now: datetime) -> float:
        """Record a failed rendering of ``period``; returns the seconds until it is tried again (``backoff``:
        5 min doubling up to 6 h, jittered). Raises :class:`reporter.store.fence.Fenced` as :meth:`done` does."""
        attempt = self.queue.attempted(period.key, now, status="failed", retry=self.backoff, fence=self.fence,
                                       values={"error": error[:2000], "updated_at": to_ms(now)})
        return attempt.delay or 0.0

    def rows(self) -> list[dict]:
        """Every report row, newest period first (for the CLI)."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(reports).order_by(reports.c.day.desc())).mappings()]
