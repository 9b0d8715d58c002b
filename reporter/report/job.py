"""The daemon's report job: render every due day once (in a child process), then send queued emails."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reporter.failures import FailureLog
from reporter.report.files import remove_stale_temps, render_time_limit
from reporter.report.lifeline import child_env, die_with_parent
from reporter.report.schedule import ReportSchedule
from reporter.settings import Settings
from reporter.store.health import describe, is_store_error
from reporter.store.history import History

if TYPE_CHECKING:
    from reporter.report.mail import ReportMailer

log = logging.getLogger(__name__)


class ReportJob:
    """Runs every minute on the daemon's report executor (never the sampling thread).

    Each due day is claimed, then rendered by ``reporter report --date D`` as a child process with a time limit
    (WeasyPrint's time and memory stay out of the daemon); success marks it done and queues its email. The child
    dies with the daemon (:mod:`reporter.report.lifeline`); a claim left by a dead daemon is taken over at the
    next start (:meth:`ReportSchedule.claim`).
    """

    def __init__(self, settings: Settings, history: History, env_file: Path | None = None) -> None:
        self.settings, self.history, self.env_file = settings, history, env_file
        self.schedule = ReportSchedule(history.engine, settings.tz, settings.report_time, settings.retention_days)
        self.host = socket.gethostname()
        self.email = bool(settings.smtp_host and settings.email_to)
        self.mailer: ReportMailer | None = None
        if self.email:  # smtplib/ssl load only when email is configured
            from reporter.report.mail import ReportMailer

            self.mailer = ReportMailer(history.engine, settings, self.host)
        self.limit = render_time_limit(settings.report_timeout)  # the child's own PDF limit is report_timeout
        self.failures = FailureLog(log, level=logging.ERROR)

    def __call__(self) -> None:
        """One run; a failure is logged once (not every minute) and once when the job works again."""
        try:
            self.remove_stale_temps(time.time())
            for day in self.schedule.due_days(datetime.now(UTC), self.history.first_time()):
                self.render(day)
            if self.mailer is not None:  # email configured
                self.mailer.deliver_due()
        except Exception as exc:
            if is_store_error(exc):
                self.history.health.failed("report job", exc)
            else:
                self.failures.failed("report job", f"failed ({describe(exc)}); it runs again in a minute",
                                     exc_info=exc)
        else:
            self.failures.ok("report job")

    def remove_stale_temps(self, now: float | None = None) -> list[Path]:
        """Delete temporary files (``.YYYY-MM-DD.*.tmp``) that a killed rendering left in the report folder:
        those older than the longest a rendering may take (``now`` in Unix seconds, default the clock). Called at
        daemon start, every run and before each rendering. Returns the removed paths."""
        removed = remove_stale_temps(Path(self.settings.report_dir), self.limit, now)
        if removed:
            log.info("report folder: removed %d temporary file(s) left by a stopped rendering (%s)", len(removed),
                     ", ".join(p.name for p in removed[:5]))
        return removed

    def command(self, day) -> list[str]:
        env = ["--env-file", str(self.env_file)] if self.env_file else []
        # -P: the child imports the installed package, not a ``reporter/`` folder in the working directory;
        # nice 10: a rendering yields the CPU to sampling and HTTP answers
        nice = ["nice", "-n", "10"] if shutil.which("nice") else []
        return [*nice, sys.executable, "-P", "-m", "reporter", *env, "report", "--date", day.isoformat(),
                "--format", "html,pdf", "--out", str(Path(self.settings.report_dir).resolve())]

    def render(self, day) -> bool:
        """Claim and render one day; False when another process has it or the rendering failed."""
        if not self.schedule.claim(day, datetime.now(UTC), self.limit + 30):
            return False
        log.info("report %s: rendering", day)
        self.remove_stale_temps()
        try:
            result = subprocess.run(self.command(day), capture_output=True, text=True, timeout=self.limit,
                                    stdin=subprocess.DEVNULL, env=child_env(), preexec_fn=die_with_parent)
            ok, detail = result.returncode == 0, (result.stderr or result.stdout).strip()[-1500:]
        except subprocess.TimeoutExpired:
            ok, detail = False, f"rendering took longer than {self.limit:g} s and was stopped"
        now = datetime.now(UTC)
        if ok:
            files = sorted(str(p) for p in Path(self.settings.report_dir).glob(f"{day}.*"))
            self.schedule.done(day, files, now, email=self.email)
            log.info("report %s: done (%s)%s", day, ", ".join(Path(f).name for f in files),
                     "; email queued" if self.email else "")
            return True
        delay = self.schedule.failed(day, detail, now)
        log.error("report %s: rendering failed (%s); trying again in %.0f min", day, detail.splitlines()[-1:]
                  and detail.splitlines()[-1], delay / 60)
        return False
