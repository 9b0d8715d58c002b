"""The daemon's report job: render every due period once (in one render child each), then send queued
emails."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reporter.alerting.inhibition import DEFAULT_RULES, InhibitRule
from reporter.failures import FailureLog
from reporter.report.files import remove_stale_temps, render_time_limit
from reporter.report.period import Period
from reporter.report.render import FORMATS, RenderError, kill, render_in_child
from reporter.report.schedule import ReportSchedule
from reporter.settings import Settings
from reporter.store.fence import Fenced
from reporter.store.health import describe, is_store_error
from reporter.store.history import History
from reporter.store.leases import FenceCheck

if TYPE_CHECKING:
    from reporter.report.mail import ReportMailer

log = logging.getLogger(__name__)


class ReportJob:
    """Runs every minute on the daemon's report executor (never the sampling thread).

    Each due period is claimed, then rendered by one render child with a time limit
    (:func:`reporter.report.render.render_in_child`: the model, the HTML and the PDF all in that child, so
    WeasyPrint's time and memory stay out of the daemon); success marks it done and queues its email. The child
    dies with the daemon (:mod:`reporter.report.lifeline`); a claim left by a dead daemon is taken over at the
    next start (:meth:`ReportSchedule.claim`).
    """

    def __init__(self, settings: Settings, history: History, env_file: Path | None = None,
                 inhibit_rules: Sequence[InhibitRule] = DEFAULT_RULES) -> None:
        self.settings, self.history, self.env_file = settings, history, env_file
        # the inhibition rules in force (the alerting configuration's; a reload replaces them): they mark the
        # report's inhibited alert episodes
        self.inhibit_rules: Sequence[InhibitRule] = inhibit_rules
        # one schedule per report produced (REPORTER_REPORTS): daily, weekly, monthly; all in the ``reports`` table,
        # whose keys (2026-12-03, 2026-W48, 2026-11) never collide
        self.schedules = [ReportSchedule(history.engine, settings.tz, settings.report_time_of(kind),
                                         settings.retention_days, kind=kind) for kind in settings.report_kinds]
        self.host = settings.host_name  # REPORTER_HOST_NAME: the name alerts and samples carry
        self.email = bool(settings.smtp_host and settings.email_to)
        self.mailer: ReportMailer | None = None
        if self.email:  # smtplib/ssl load only when email is configured
            from reporter.report.mail import ReportMailer

            self.mailer = ReportMailer(history.engine, settings, self.host)
        self.limit = render_time_limit(settings.report_timeout)  # the render child is killed then
        self.failures = FailureLog(log, level=logging.ERROR)
        self._stopping = threading.Event()
        self._child_lock = threading.Lock()
        self._child: subprocess.Popen | None = None  # the render child running, killed by stop()

    def stop(self) -> None:
        """At daemon shutdown: kill the rendering in progress (its period is released, rendered again at the next
        start) and render or email nothing more. Without it a SIGTERM waited for every due period to render (the
        catch-up after downtime: minutes) and every due email to go out, after "reporter stopped" (forever with an
        SMTP server that answers a byte at a time)."""
        self._stopping.set()
        if self.mailer is not None:
            self.mailer.stopping.set()  # an email in progress ends now (sent again at the next start)
        with self._child_lock:
            if self._child is not None:
                kill(self._child)

    def _started(self, child: subprocess.Popen | None) -> None:
        with self._child_lock:
            self._child = child
            if child is not None and self._stopping.is_set():
                kill(child)

    def fence(self, fence: FenceCheck | None) -> None:
        """Check ``fence`` (the leader's, set at each election) with every claim and recorded outcome of the
        report claims and the email queue."""
        for schedule in self.schedules:
            schedule.fence = fence
        if self.mailer is not None:
            self.mailer.fence = fence

    def __call__(self) -> None:
        """One run; a failure is logged once (not every minute) and once when the job works again."""
        try:
            self.remove_stale_temps(time.time())
            first = self.history.first_time()
            for schedule in self.schedules:
                for period in schedule.due_periods(datetime.now(UTC), first):
                    if self._stopping.is_set():
                        return
                    self.render(period, schedule)
            if self.mailer is not None and not self._stopping.is_set():  # email configured
                self.mailer.deliver_due()
        except Fenced as exc:
            log.info("report job: stopped, this node is no longer the leader (%s); the leader takes over", exc)
        except Exception as exc:
            if is_store_error(exc):
                self.history.health.failed("report job", exc)
            else:
                self.failures.failed("report job", f"failed ({describe(exc)}); it runs again in a minute",
                                     exc_info=exc)
        else:
            self.failures.ok("report job")

    def remove_stale_temps(self, now: float | None = None) -> list[Path]:
        """Delete temporary files (``.<period key>.*.tmp``) that a killed rendering left in the report folder:
        those older than the longest a rendering may take (``now`` in Unix seconds, default the clock). Called at
        daemon start, every run and before each rendering. Returns the removed paths."""
        removed = remove_stale_temps(Path(self.settings.report_dir), self.limit, now)
        if removed:
            log.info("report folder: removed %d temporary file(s) left by a stopped rendering (%s)", len(removed),
                     ", ".join(p.name for p in removed[:5]))
        return removed

    def needed_since(self, now: datetime) -> datetime | None:
        """The oldest time whose samples the reports produced still need (:meth:`ReportSchedule.needed_since` of
        each; None when no report is produced): the prune job keeps them past the retention. A period that ended
        before the history's first sample is never rendered, so it holds nothing back."""
        if not self.schedules:
            return None
        first = self.history.first_time()
        return min(schedule.needed_since(now, first) for schedule in self.schedules)

    def schedule_of(self, period: Period) -> ReportSchedule:
        """The schedule of ``period``'s kind (a kind not produced gets an unscheduled one: ``reporter report``)."""
        for schedule in self.schedules:
            if schedule.kind == period.kind:
                return schedule
        return ReportSchedule(self.history.engine, self.settings.tz, self.settings.report_time_of(period.kind),
                              self.settings.retention_days, kind=period.kind)

    def render(self, period: Period, schedule: ReportSchedule | None = None) -> bool:
        """Claim and render one period (in one render child); False when another process has it or the
        rendering failed."""
        schedule = schedule or self.schedule_of(period)
        if not schedule.claim(period, datetime.now(UTC), self.limit + 30):
            return False
        log.info("report %s: rendering", period)
        self.remove_stale_temps()
        folder = Path(self.settings.report_dir).resolve()
        try:
            # nice 10: a rendering yields the CPU to sampling and HTTP answers
            render_in_child(self.settings, period, folder, FORMATS, timeout=self.limit, nice=10, host=self.host,
                            inhibit_rules=self.inhibit_rules, started=self._started)
            ok, detail, reason = True, "", ""
        except RenderError as exc:
            ok, detail, reason = False, str(exc)[-1500:], exc.reason
        if self._stopping.is_set() and not ok:  # killed by stop(): not a failure, no retry delay
            schedule.queue.release(period.key)
            log.info("report %s: rendering stopped by the shutdown; it is rendered at the next start", period)
            return False
        now = datetime.now(UTC)
        if ok:
            files = sorted(str(p) for p in folder.glob(f"{period.key}.*"))
            schedule.done(period, files, now, email=self.email)
            log.info("report %s: done (%s)%s", period, ", ".join(Path(f).name for f in files),
                     "; email queued" if self.email else "")
            return True
        delay = schedule.failed(period, detail, now)
        log.error("report %s: rendering failed (%s); trying again in %.0f min", period, reason, delay / 60)
        return False
