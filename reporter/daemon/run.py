"""``reporter run``: the scheduler (sampling, pruning) in background threads, the HTTP server in the main one.

SIGTERM or SIGINT: stop the HTTP server, let the in-flight sample finish its write, close, exit 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from reporter.alerting.config import AlertingConfig
from reporter.alerting.pipeline import Alerting
from reporter.api.app import create_app
from reporter.api.latest import Latest
from reporter.collect.sampler import Sampler
from reporter.daemon.jobs import PruneJob, SampleJob
from reporter.report.job import ReportJob
from reporter.settings import Settings, mask_url
from reporter.store.history import History

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The daemon cannot start (port taken, history not writable); the message says what to do."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGINT and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; raises StartupError naming the setting when it cannot bind."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                           "set REPORTER_HTTP_PORT or REPORTER_HTTP_HOST") from None
    sock.setblocking(False)
    return sock


def scheduler_for(sample: SampleJob, prune: PruneJob, reports: ReportJob, interval: float) -> BackgroundScheduler:
    """APScheduler: sampling every ``interval`` s (never two at once, missed runs coalesced), prune daily, the
    report job every minute on its own executor (a long rendering never delays a sample)."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(2), "reports": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(interval))},
        timezone=UTC,
    )
    now = datetime.now(UTC)
    scheduler.add_job(sample, "interval", seconds=interval, id="sample", next_run_time=now)
    scheduler.add_job(prune, "interval", days=1, id="prune", next_run_time=now + timedelta(seconds=30))
    scheduler.add_job(reports, "interval", minutes=1, id="reports", executor="reports",
                      next_run_time=now + timedelta(seconds=5))
    return scheduler


def run(settings: Settings, alerting_config: AlertingConfig, env_file: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code (0 after a clean stop). Raises StartupError."""
    sock = bind(settings.http_host, settings.http_port)
    try:
        history = History(settings.history_url, settings.ai_features)
    except Exception as exc:
        sock.close()
        raise StartupError(f"cannot open history {mask_url(settings.history_url)} ({exc.__class__.__name__}: "
                           f"{str(exc).splitlines()[0][:200]}); check REPORTER_HISTORY_URL") from None
    host, port = sock.getsockname()[:2]
    latest = Latest()
    sampler = Sampler.from_settings(settings)
    alerting = Alerting(settings, alerting_config, history, port)
    sample_job = SampleJob(sampler, history, latest, alerting)
    sample_job.seed()
    report_job = ReportJob(settings, history, env_file)
    scheduler = scheduler_for(sample_job, PruneJob(history, settings.retention_days), report_job,
                              settings.sample_interval)

    app = create_app(latest, settings.sample_interval)
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=1,
                            timeout_keep_alive=5, limit_concurrency=1000, server_header=False)
    server = _Server(config)

    def stop(signum: int, _frame) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    path = settings.history_path()
    log.info("reporter started: sampling every %g s into %s; snapshot at http://%s:%s/snapshot",
             settings.sample_interval, path.resolve() if path else mask_url(settings.history_url), host, port)
    alerting.start()
    scheduler.start()
    try:
        server.run(sockets=[sock])
    finally:
        scheduler.shutdown(wait=True)  # lets the in-flight sample finish its write
        alerting.stop()
        sampler.close()
        history.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("reporter stopped")
    return 0
