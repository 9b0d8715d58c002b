"""The leader's duties, started when this node is elected and stopped when it is deposed.

A fleet's leader (every single host, which always leads: :class:`reporter.fleet.leader.SoloLeadership`)
evaluates the alerting rules, dispatches and delivers notifications (the notifier thread), renders and emails
the reports, prunes the history and samples the app-wide collectors. At each election the alerting is built
afresh, so its state is the store's (the previous leader's alert records and ``for`` windows), the AI counter
window is seeded from history, and the outbox, report claims and report emails are fenced with the new epoch.
At deposition evaluation stops at once, the notifier is told to stop (an attempt in flight is fenced), and the
report and prune jobs are unscheduled.

The alerting, notification and report code is imported at the first election only: an agent, which never
leads, never loads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reporter.api.latest import Delivery
from reporter.base.errors import one_line
from reporter.failures import FailureLog
from reporter.settings import Settings
from reporter.store.fence import Fence
from reporter.store.history import History

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from reporter.alerting.config import AlertingConfig
    from reporter.alerting.pipeline import Alerting
    from reporter.daemon.jobs import SampleJob
    from reporter.report.job import ReportJob

log = logging.getLogger(__name__)


def scheduler_for() -> BackgroundScheduler:
    """APScheduler for the leader's jobs: prune on the default executor, the report job on its own (never two
    at once, missed runs coalesced). A run missed by any time (the process frozen, the host suspended, the
    wall clock stepped forward) runs once as soon as it can: no grace time, so neither APScheduler's "Run time
    of job ... was missed" warning nor a day without pruning. Sampling is not here: APScheduler schedules on
    the wall clock (see :class:`reporter.daemon.loop.SamplingLoop`)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(1), "reports": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )


class LeaderDuties:
    """Starts and stops the leader's work; :meth:`elected` and :meth:`deposed` are the leadership callbacks
    (they run in the sampling thread, between two samples, or at start).

    ``fenced``: a fleet node (its claims carry ``Fence(epoch)``); a single host's are unfenced. ``config``: the
    alerting configuration (None for an agent, which is never elected). ``sample_job`` gets the evaluator (its
    ``alerting``) and seeds the AI counter window.
    """

    def __init__(self, settings: Settings, config: AlertingConfig | None, history: History, port: int,
                 env_file: Path | None, sample_job: SampleJob, fenced: bool) -> None:
        self.settings, self.config, self.history, self.port = settings, config, history, port
        self.env_file, self.sample_job, self.fenced = env_file, sample_job, fenced
        self.alerting: Alerting | None = None
        self.report_job: ReportJob | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.epoch: int | None = None
        self._lock = threading.Lock()  # elections (sampling thread) vs reloads (SIGHUP) and the stop
        self._stopped = False
        self._listing = FailureLog(log)

    @property
    def leading(self) -> bool:
        """True while the duties run."""
        return self.epoch is not None

    def elected(self, epoch: int) -> None:
        """Start the duties for ``epoch``: alerting built from the store (alert records, ``for`` windows), the AI
        counter window seeded from history, the notifier, the report and prune jobs; all fenced with ``epoch``
        on a fleet. Raises what building them raised (the leadership then steps down)."""
        from reporter.alerting.pipeline import Alerting
        from reporter.daemon.jobs import PruneJob
        from reporter.report.job import ReportJob

        assert self.config is not None, "an agent is never elected"
        fence = Fence(epoch, self.settings.leader_keepalive) if self.fenced else None
        with self._lock:
            if self._stopped:
                return
            alerting = Alerting(self.settings, self.config, self.history, self.port)
            alerting.outbox.fence = fence
            if self.report_job is None:
                self.report_job = ReportJob(self.settings, self.history, self.env_file)
                self.report_job.remove_stale_temps()  # what a rendering killed with the previous leader left
            self.report_job.inhibit_rules = self.config.inhibit_rules  # those in force (a reload may have changed them)
            self.report_job.fence(fence)
            try:
                self.sample_job.seed()  # the AI counter window, from the previous leader's samples
            except Exception as exc:
                log.warning("leadership: cannot seed the AI counter window from history (%s); windowed AI "
                            "values start afresh", one_line(exc))
            alerting.start()
            self.alerting, self.epoch = alerting, epoch
            self.sample_job.alerting = alerting
            if self.scheduler is None:
                self.scheduler = scheduler_for()
                self.scheduler.start()
            now = datetime.now(UTC)
            prune = PruneJob(self.history, self.settings.retention_days, self.settings.sample_interval,
                             hold=self.report_job.needed_since)
            self.scheduler.add_job(prune, "interval", days=1, id="prune", replace_existing=True,
                                   next_run_time=now + timedelta(seconds=30))
            self.scheduler.add_job(self.report_job, "interval", minutes=1, id="reports", executor="reports",
                                   replace_existing=True, next_run_time=now + timedelta(seconds=5))

    def listed_alerts(self, now: datetime) -> list | None:
        """The fleet's active alerts for a node that does not lead (read from the store; see
        :func:`reporter.alerting.pipeline.stored_alerts`); None while this node leads (its evaluator lists
        them), on an agent (which keeps the alerting code unloaded) and when the store cannot be read (logged
        once while it lasts)."""
        if self.leading or self.config is None:
            return None
        from reporter.alerting.pipeline import stored_alerts

        try:
            alerts = stored_alerts(self.history, now, self.config.inhibit_rules)
        except Exception as exc:
            self._listing.failed("alerts", f"cannot list the fleet's alerts from the store ({one_line(exc)}); "
                                 "this node's /alerts is empty meanwhile (the leader's lists them)")
            return None
        self._listing.ok("alerts")
        return alerts

    def deposed(self, reason: str) -> None:
        """Stop the duties now: no evaluation from the next sample on, the notifier stops (not waited for: an
        attempt in flight is fenced), the report and prune jobs are unscheduled (a rendering in progress finishes
        but cannot record itself)."""
        with self._lock:
            self._halt(wait=0.0)

    def _halt(self, wait: float) -> None:
        self.sample_job.alerting = None
        alerting, self.alerting, self.epoch = self.alerting, None, None
        if alerting is not None:
            if self.fenced:
                alerting.outbox.fence = Fence(-1)  # nothing passes until re-elected (also after a step-down)
            alerting.notifier.stop(wait)
        if self.report_job is not None:
            self.report_job.fence(None if not self.fenced else Fence(-1))  # nothing passes until re-elected
        if self.scheduler is not None:
            for job in ("prune", "reports"):
                if self.scheduler.get_job(job) is not None:
                    self.scheduler.remove_job(job)

    def stop(self) -> None:
        """At shutdown (once sampling has stopped): no election from now on; stop the scheduler, waiting for a
        job in progress. Then :meth:`stop_alerting`."""
        with self._lock:
            self._stopped = True
            scheduler = self.scheduler
        self.stop_reports()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)

    def stop_reports(self) -> None:
        """At shutdown, first: the report job kills its rendering in progress (the period is rendered at the next
        start) and renders or emails nothing more, so that stopping never waits for a catch-up of reports."""
        report_job = self.report_job
        if report_job is not None:
            report_job.stop()

    def stop_alerting(self) -> None:
        """At shutdown: stop the notifier, waiting for its current attempts (bounded)."""
        with self._lock:
            alerting, self.alerting = self.alerting, None
            self.sample_job.alerting = None
        if alerting is not None:
            alerting.stop()

    def reload(self, config: AlertingConfig) -> str:
        """Use ``config`` from now on (SIGHUP): the running alerting swaps it in (states kept); a follower keeps it
        for its next election. Returns a one-line summary."""
        with self._lock:
            self.config = config
            if self.report_job is not None:
                self.report_job.inhibit_rules = config.inhibit_rules
            if self.alerting is not None:
                return self.alerting.reload(config)
        return f"{len(config.rules)} rules, {len(config.receivers)} receiver(s); applied when this node leads"

    def pending_counts(self) -> dict[str, int] | None:
        """Queued notifications by receiver (the leader's outbox); None when unreadable or not leading."""
        alerting = self.alerting
        if alerting is None:
            return None
        try:
            return alerting.outbox.pending_counts()
        except Exception:
            return None

    def delivery(self) -> Delivery | None:
        """The notifier's health for ``/metrics`` (the leader's outbox); None when unreadable or not leading."""
        alerting = self.alerting
        if alerting is None:
            return None
        from reporter.notify.template_errors import error_counts as template_error_counts

        try:
            return Delivery(dict(alerting.outbox.outcomes), alerting.outbox.backlog(), template_error_counts())
        except Exception:
            return None

    def shift(self, seconds: float) -> None:
        """A wall-clock step (``on_step`` of the sample job): after a backward step APScheduler would wait out
        the step before any job's next run; move those runs back by the step (never before now)."""
        scheduler = self.scheduler
        if scheduler is not None:
            rescheduler(scheduler)(seconds)


def rescheduler(scheduler: Any) -> Callable[[float], None]:
    """A callback for a wall-clock step of ``seconds``: after a backward step, APScheduler would wait out the
    step before any job's next run; move those runs back by the step (never before now). A forward step needs
    nothing: due jobs run once (missed runs are coalesced)."""

    def adjust(seconds: float) -> None:
        if seconds >= 0:
            return
        now = datetime.now(UTC)
        for job in scheduler.get_jobs():
            if job.next_run_time is not None:
                job.modify(next_run_time=max(now, job.next_run_time + timedelta(seconds=seconds)))

    return adjust
