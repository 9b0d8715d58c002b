"""The scheduled jobs: take a sample (publish, then store), and prune history by retention."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from reporter.api.latest import Latest
from reporter.base.timefmt import format_utc
from reporter.clock import SYSTEM_CLOCK, Clock, StepDetector, describe_step, step_tolerance
from reporter.collect.ai import WINDOWS
from reporter.collect.sampler import Sampler
from reporter.daemon.spooling import Spooler
from reporter.failures import FailureLog
from reporter.snapshot import Snapshot, Status
from reporter.store.health import describe, is_store_error
from reporter.store.history import History

log = logging.getLogger(__name__)


class SampleJob:
    """One sampling cycle: sample -> write to history -> evaluate alerts -> publish to the HTTP endpoints.

    A failed history write does not stop the cycle: the snapshot is still evaluated and served, and names the
    history error (``errors["history"]``, status not healthy; ``/healthz`` answers 503). The failure is logged
    once when it starts, reminded every 5 minutes and logged once when writes work again (``history.health``).

    Fleet mode (``spooler`` given, PostgreSQL history): the sample goes through
    :class:`reporter.daemon.spooling.Spooler` (its writer thread writes it, waited for at most min(1 s,
    interval / 2); while the history fails with a store error — server down, restarting, hung — samples are
    spooled and drained oldest first when it works again). The published snapshot carries ``spooled`` (rows
    held) and its history error says it is spooling. Without a spooler (SQLite) a failed write only names the
    error.

    Each cycle reads ``clock`` (wall and monotonic); a wall-clock step between two cycles (see
    :class:`reporter.clock.StepDetector`) is logged once as a warning and applied to everything that holds wall
    times: the sampler's counter window, pending alerts, and each ``on_step(seconds)`` callback (the daemon
    reschedules its other jobs). Snapshots keep the wall-clock time.

    ``leadership`` (:class:`reporter.fleet.leader.Leadership` or ``SoloLeadership``): ticked at the start of each
    cycle (its callbacks set :attr:`alerting` while this node leads); a fleet node whose history write fails
    gives leadership up (said once) and does not try to lead again until a write works.
    """

    def __init__(self, sampler: Sampler, history: History, latest: Latest, alerting=None,
                 clock: Clock = SYSTEM_CLOCK, on_step: Iterable[Callable[[float], None]] = (),
                 leadership=None, spooler: Spooler | None = None) -> None:
        self.sampler, self.history, self.latest, self.alerting = sampler, history, latest, alerting
        self.leadership = leadership
        self.spooler = spooler
        # a node that does not lead lists the fleet's alerts from the store (set by the daemon; None: not listed)
        self.listing: Callable[[datetime], list | None] | None = None
        self.clock = clock
        self.interval = sampler.settings.sample_interval
        self.steps = StepDetector(step_tolerance(self.interval))
        self.on_step = list(on_step)
        self.failures = FailureLog(log, level=logging.ERROR)

    def seed(self) -> None:
        """Load the last minutes of AI counters from history so windowed values continue across a restart
        (not when the counters were read under another key prefix: those are other counters)."""
        prefix = self.sampler.settings.ai_key_prefix
        stored = self.history.get_meta("ai_key_prefix")
        if stored is not None and stored != prefix:
            log.info("AI key prefix changed from %r to %r: windowed AI values start afresh", stored, prefix)
        else:
            end = datetime.now(UTC)
            start = end - timedelta(seconds=max(WINDOWS.values()) * 2)
            self.sampler.seed_window(self.history.counter_samples(start, end))
        if stored != prefix:
            self.history.set_meta("ai_key_prefix", prefix)

    def __call__(self) -> None:
        now = self.clock.wall()
        step = self.steps.observe(now, self.clock.monotonic())
        if step:
            self._stepped(step)
        if self.leadership is not None:
            spooling = self.spooler is not None and self.spooler.spooling
            self.leadership.tick(may_lead=self.history.health.error is None and not spooling)
        snapshot = self.sampler.sample(now)
        self._write(snapshot)
        if self.alerting is not None and self._store_answers():
            try:
                snapshot = self.alerting.evaluate(snapshot)
            except Exception as exc:  # logged once while it lasts (the history may be unreadable), not per sample
                if is_store_error(exc):
                    self.history.health.failed("alert evaluation", exc, action="read")
                else:
                    self.failures.failed("alerting", f"evaluating the rules failed ({describe(exc)}); alert "
                                         "states are unchanged", exc_info=exc)
            else:
                self.failures.ok("alerting")
        elif self.listing is not None and self._store_readable():
            alerts = self.listing(snapshot.timestamp)
            if alerts is not None:
                snapshot = snapshot.model_copy(update={"alerts": alerts})
        self.latest.publish(self._with_store_state(snapshot))

    def _store_readable(self) -> bool:
        """Whether a follower may read the store in the sampling thread: its writes work, nothing waits in the
        spool and its lock connection answers (a hung store must not hold up sampling)."""
        spooling = self.spooler is not None and self.spooler.spooling
        return (self.history.health.error is None and not spooling
                and bool(getattr(self.leadership, "answering", True)))

    def _store_answers(self) -> bool:
        """False while the leader's lock check waits for the store (a silent link): evaluating would wait on its
        reads and hold up sampling, so it pauses (logged once) until the check is answered or fails."""
        if self.leadership is None or getattr(self.leadership, "answering", True):
            self.failures.ok("leader check")
            return True
        self.failures.failed("leader check", "the store does not answer the leader's lock check; rule evaluation "
                             "pauses until it does (or this node steps down)")
        return False

    def _with_store_state(self, snapshot: Snapshot) -> Snapshot:
        error = self.history.health.error
        if self.spooler is None:
            return with_history_error(snapshot, error)
        spooling = self.spooler.describe()
        if error is not None and spooling is not None:
            error = f"{error}; {spooling}"
        return with_history_error(snapshot, error).model_copy(update={"spooled": len(self.spooler)})

    def _stepped(self, step: float) -> None:
        log.warning("clock: the wall clock stepped %s since the last sample (NTP, date -s or a suspend); "
                    "sampling goes on every %g s, windowed rates and pending `for` windows count real time",
                    describe_step(step), self.interval)
        self.sampler.shift_clock(step)
        if self.alerting is not None:
            self.alerting.shift_clock(step)
        for callback in self.on_step:
            try:
                callback(step)
            except Exception:
                log.exception("clock: adjusting to the step failed")

    def _write(self, snapshot) -> None:
        if self.spooler is not None:  # fleet: written by the store writer thread, or spooled
            self.spooler.store(snapshot)
            if self.spooler.spooling:
                error = self.history.health.error
                self._give_up_leadership(error.split("; ")[0] if error else "a write to it hangs")
            return
        try:
            self.history.write(snapshot)
        except Exception as exc:
            if not is_store_error(exc):
                log.debug("history: writing the sample failed", exc_info=True)
            self.history.health.failed("sample write", exc)
            self._give_up_leadership(describe(exc))
            return
        self.history.health.ok()

    def _give_up_leadership(self, reason: str) -> None:
        """A fleet leader that cannot write the history steps down (said once by the leadership)."""
        if self.leadership is not None and self.leadership.fleet and self.leadership.leader:
            self.leadership.step_down(f"this node cannot write to the history ({reason})")


def with_history_error(snapshot: Snapshot, error: str | None) -> Snapshot:
    """The snapshot naming the history error (``errors["history"]``; a healthy status becomes degraded)."""
    if error is None:
        return snapshot
    status = Status.DEGRADED if snapshot.status == Status.HEALTHY else snapshot.status
    return snapshot.model_copy(update={"errors": {**snapshot.errors, "history": error}, "status": status})


class PruneJob:
    """Deletes samples older than ``retention_days``, then gives the freed space back to the filesystem in
    steps short against the sample interval (``interval`` seconds): a sample write waits one step at most.

    ``hold``: given "now", the oldest time a report still needs (the start of the current month while monthly
    reports are on, or of a finished period whose report is not rendered yet; None: nothing), from
    :meth:`reporter.report.job.ReportJob.needed_since`: samples from then on are kept even past the retention,
    so a 31-day month is whole in its report with a 30-day retention."""

    def __init__(self, history: History, retention_days: int, interval: float = 10.0,
                 hold: Callable[[datetime], datetime | None] | None = None) -> None:
        self.history, self.retention_days, self.hold = history, retention_days, hold
        self.step_seconds = min(0.05, interval / 20)

    def cutoff(self, now: datetime) -> datetime:
        """Samples before this time are deleted: the retention's limit, or earlier when a report needs them."""
        limit = now - timedelta(days=self.retention_days)
        needed = self.hold(now) if self.hold is not None else None
        if needed is not None and needed < limit:
            log.info("history: keeping samples from %s, %.1f days beyond the %d-day retention, for a report not "
                     "rendered yet", format_utc(needed), (limit - needed).total_seconds() / 86400, self.retention_days)
            return needed
        return limit

    def __call__(self) -> None:
        try:
            self.history.prune(self.cutoff(datetime.now(UTC)))
        except Exception as exc:
            log.error("history: pruning failed (%s); will try again in a day", exc)
            return
        try:
            done = self.history.reclaim(self.step_seconds)
        except Exception as exc:
            log.warning("history: giving pruned space back failed (%s); will try again in a day", exc)
            return
        if done.pages:
            log.info("history: gave %d freed pages back in %d steps over %.1f s (longest step %.0f ms); "
                     "file %.1f MB, WAL %.1f MB", done.pages, done.steps, done.seconds, done.longest_step * 1000,
                     done.file_bytes / 1e6, done.wal_bytes / 1e6)
