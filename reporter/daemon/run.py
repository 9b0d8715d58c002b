"""``reporter run``: sampling in its own thread (monotonic schedule), APScheduler for pruning and reports, the HTTP
server in the main thread.

SIGTERM or SIGINT: stop the HTTP server, let the in-flight sample finish its write, close, exit 0.
SIGHUP: reload the alerting file (rules, receivers, defaults), keeping alert states; a bad file is refused with
one log line and the previous configuration stays. SIGUSR1: log one status line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from reporter.api.app import create_app
from reporter.api.hosts import external_host
from reporter.api.latest import Latest
from reporter.api.protocol import HeaderDeadlineProtocol
from reporter.api.usage_log import async_redis_client
from reporter.base.errors import one_line
from reporter.collect.generation_probe import GenerationProber
from reporter.collect.sampler import Sampler
from reporter.daemon.control import RELOAD, STATUS, Control, status_line
from reporter.daemon.duties import LeaderDuties
from reporter.daemon.fleet import node_leadership, register
from reporter.daemon.jobs import SampleJob
from reporter.daemon.lock import HistoryLock
from reporter.daemon.loop import SamplingLoop
from reporter.daemon.migration import MigrationFailed, migrate_in_child
from reporter.daemon.spooling import Spooler
from reporter.fleet.leader import HostNameTaken, Leadership, SoloLeadership
from reporter.fleet.pooler import SessionRequired
from reporter.masking import mask
from reporter.settings import Settings
from reporter.store.health import HistoryHealth
from reporter.store.history import History
from reporter.store.reclaim import CONVERT_AT_START_MAX_BYTES
from reporter.store.spool import Spool

if TYPE_CHECKING:  # the alerting code is imported by the leader's duties only (never in an agent)
    from reporter.alerting.config import AlertingConfig

log = logging.getLogger(__name__)
SHUTDOWN_WAIT_SECONDS = 3.0  # SIGTERM to exit stays under 5 s whatever a dependency does


class StartupError(RuntimeError):
    """The daemon cannot start (port taken, history not writable); the message says what to do. ``exit_code``:
    1, or 2 when a setting is wrong as given (the history URL reaches a transaction-mode pool)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the daemon owns SIGTERM/SIGINT and exits 0), and with a
    housekeeping tick of 1 s instead of 0.1 s (an idle daemon wakes ten times less); :meth:`exit_soon` ends
    the tick's wait at once, so a stop does not wait for the rest of the second."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    @contextlib.contextmanager
    def capture_signals(self):
        yield

    def exit_soon(self) -> None:
        """Ask the server to stop (from a signal handler or any thread) and wake its main loop now."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already: it has stopped
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # on_tick refreshes the Date header when counter % 10 == 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            should_exit = await self.on_tick(counter)


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


def limit_malloc_arenas(count: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas (as MALLOC_ARENA_MAX would): a daemon with a dozen mostly idle
    threads otherwise keeps several MB of fragmented arenas. No-op off glibc."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, count)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def run(settings: Settings, alerting_config: AlertingConfig | None, env_file: Path | None = None,
        stopping: threading.Event | None = None, reload_requested: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stopping`` is set); returns the exit code (0 after a clean stop).

    A signal during start-up stops it cleanly too. SIGHUP reloads the alerting file (also when
    ``reload_requested`` was set during start-up), SIGUSR1 logs a status line. Raises StartupError when the
    port cannot be bound, or the history cannot be opened, written or locked, or (a fleet node) another running
    node holds REPORTER_HOST_NAME. ``alerting_config`` is None for an agent (``REPORTER_ROLE=agent``).
    """
    stopping = stopping or threading.Event()
    holder: dict[str, _Server] = {}
    control = Control()
    limit_malloc_arenas()

    def stop(signum: int, _frame) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stopping.set()
        if "server" in holder:
            holder["server"].exit_soon()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop}
    if hasattr(signal, "SIGHUP"):  # POSIX
        handlers[signal.SIGHUP] = lambda *_: control.request(RELOAD)
        handlers[signal.SIGUSR1] = lambda *_: control.request(STATUS)
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    if reload_requested is not None and reload_requested.is_set():
        control.request(RELOAD)
    try:
        return _serve(settings, alerting_config, env_file, stopping, holder, control)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        control.stop()


def open_history(settings: Settings) -> tuple[History, HistoryLock]:
    """Lock, then open (create or migrate, in a child process: :mod:`reporter.daemon.migration`) and test-write
    the history; StartupError naming REPORTER_HISTORY_URL otherwise. The lock comes first: a second daemon (even
    one starting at the same moment on a new file) stops at the lock and never touches the schema."""
    lock = HistoryLock(settings.history_path())
    try:
        lock.acquire()
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(f"cannot write history {mask(settings.history_url)} ({one_line(exc)});"
                           f" check its permissions and disk space") from None
    try:
        # Alembic never loads in the daemon; the host name tags the rows a PostgreSQL history already holds
        migrate_in_child(settings.history_url, settings.ai_features, host=settings.host_name)
        # at head: its upgrade has nothing to do
        history = History(settings.history_url, settings.ai_features, host=settings.host_name)
    except Exception as exc:
        lock.release()
        reason = f"{exc.kind}: {exc}" if isinstance(exc, MigrationFailed) else one_line(exc)
        hint = HistoryHealth(settings.history_url).hint(reason)  # a full disk: free space there, not the URL
        raise StartupError(f"cannot open history {mask(settings.history_url)} ({reason});"
                           f" {hint if hint.startswith('free disk space') else 'check REPORTER_HISTORY_URL'}") from None
    try:
        history.set_meta("started_at", datetime.now(UTC).isoformat())
    except Exception as exc:
        history.close()
        lock.release()
        raise StartupError(f"cannot write history {mask(settings.history_url)} ({one_line(exc)});"
                           f" check its permissions and disk space") from None
    enable_incremental_vacuum(history)
    return history, lock


def open_spool(settings: Settings) -> Spool | None:
    """Fleet mode (PostgreSQL history): the sample spool at REPORTER_SPOOL_PATH, its folder created and
    test-written; StartupError naming the setting when it cannot be. None on a SQLite history (no spool)."""
    if not settings.fleet:
        return None
    try:
        spool = Spool(settings.spool_path, settings.spool_max_bytes, settings.spool_max_age)
        spool.check_writable()
    except OSError as exc:
        raise StartupError(f"cannot write the spool folder {settings.spool_path} ({one_line(exc)}); set "
                           "REPORTER_SPOOL_PATH to a writable folder") from None
    return spool


def enable_incremental_vacuum(history: History) -> None:
    """A SQLite history made before incremental vacuum is switched to it at start (one VACUUM, before sampling
    starts) when small enough; otherwise one log line says how. Never fails the start."""
    try:
        seconds = history.enable_incremental_vacuum(CONVERT_AT_START_MAX_BYTES)
    except Exception as exc:
        log.warning("history: could not switch to incremental vacuum (%s); pruned space is reused but the "
                    "file does not shrink", one_line(exc))
        return
    if seconds is None:
        log.info("history: the file was made without incremental vacuum and is over %d MB: pruned space is "
                 "reused but the file does not shrink; to switch, stop the daemon and run `reporter vacuum`",
                 CONVERT_AT_START_MAX_BYTES // 2**20)
    elif seconds:
        log.info("history: switched to incremental vacuum in %.1f s (pruned space is given back from now on)",
                 seconds)


def reloader(settings: Settings, alerting: Any) -> Callable[[], None]:
    """The SIGHUP action: read the alerting file again and swap it in (``alerting.reload(config)``: the
    :class:`reporter.daemon.duties.LeaderDuties`, or an ``Alerting``), or keep the old one; logs one line."""
    source = settings.alerting_file or "the REPORTER_* receiver settings"

    def reload() -> None:
        from reporter.alerting.loading import AlertingConfigError, load_alerting

        try:
            config = load_alerting(settings)
        except AlertingConfigError as exc:
            log.error("SIGHUP: alerting configuration not reloaded, the previous one stays in force: %s", exc)
            return
        log.info("SIGHUP: alerting configuration reloaded from %s: %s", source, alerting.reload(config))

    return reload


def _serve(settings: Settings, alerting_config: AlertingConfig | None, env_file: Path | None,
           stopping: threading.Event, holder: dict, control: Control) -> int:
    started = time.monotonic()
    sock = bind(settings.http_host, settings.http_port)
    try:
        spool = open_spool(settings)
        history, lock = open_history(settings)
    except StartupError:
        sock.close()
        raise
    host, port = sock.getsockname()[:2]
    latest = Latest()
    leads = settings.role == "node"
    duties_holder: list[LeaderDuties] = []
    leadership = node_leadership(settings, on_elected=lambda epoch: duties_holder[0].elected(epoch),
                                 on_deposed=lambda reason: duties_holder[0].deposed(reason))
    prober = GenerationProber.from_settings(settings)  # the synthetic probe: None when off (the default)
    sampler = Sampler.from_settings(settings, app_wide=lambda: leadership.leader,
                                    generation=prober.result if prober is not None else None)
    spooler = Spooler(spool, history, settings.sample_interval) if spool is not None else None
    sample_job = SampleJob(sampler, history, latest, leadership=leadership, spooler=spooler)
    duties = LeaderDuties(settings, alerting_config, history, port, env_file, sample_job, fenced=leadership.fleet)
    duties_holder.append(duties)
    latest.delivery = duties.delivery
    sample_job.on_step.append(duties.shift)
    if leadership.fleet:
        sample_job.listing = duties.listed_alerts
    try:
        start_leadership(settings, leadership, history, settings.external_url or f"http://{host}:{port}")
    except StartupError:
        duties.stop()
        duties.stop_alerting()
        sampler.close()
        if spooler is not None:
            spooler.close()
        history.close()
        lock.release()
        sock.close()
        raise
    if spooler is not None:
        spooler.start()
    sampling = SamplingLoop(sample_job, settings.sample_interval)
    # the POST endpoint answers 403 without a token: no asyncio Redis client (nor its import) then
    usage_redis = async_redis_client(settings.redis_url, settings.probe_timeout) if settings.api_token else None
    app = create_app(latest, settings.sample_interval, settings.api_token, redis=usage_redis,
                     ai_prefix=settings.ai_key_prefix, ai_features=settings.ai_features, history=history,
                     cors_origins=settings.cors_origins, bind_host=settings.http_host,
                     allowed_hosts=[*settings.allowed_hosts, *external_host(settings.external_url)],
                     report_dir=settings.report_dir)
    # proxy_headers off: nothing uses the client address, and uvicorn's X-Forwarded-* middleware costs ~10 % of
    # the CPU of a /snapshot request; ws off: no endpoint is a WebSocket (the websockets package stays unloaded)
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=1,
                            timeout_keep_alive=5, limit_concurrency=1000, server_header=False,
                            http=HeaderDeadlineProtocol, ws="none", proxy_headers=False,
                            # an agent serves its own snapshot only: the standard asyncio loop, uvloop unloaded
                            loop="asyncio" if settings.role == "agent" else "auto")
    server = holder["server"] = _Server(config)
    path = settings.history_path()
    sampling.start()
    if prober is not None:
        prober.start()

    def status() -> None:
        role = ("leader" + (f" (epoch {leadership.epoch})" if leadership.fleet else "") if leadership.leader
                else "follower" if leads else "agent")
        log.info("%s; %s", status_line(started, latest, duties.pending_counts()), role)

    control.actions.update({STATUS: status})
    if leads:
        control.actions[RELOAD] = reloader(settings, duties)
    else:
        control.actions[RELOAD] = lambda: log.info("SIGHUP: an agent has no alerting configuration to reload")
    control.start()
    try:
        if not stopping.is_set():
            log.info("reporter started: sampling every %g s into %s; status page at http://%s:%s/ (JSON at /snapshot)%s",
                     settings.sample_interval, path.resolve() if path else mask(settings.history_url), host, port,
                     f"; host {settings.host_name}, role {settings.role}" if leadership.fleet else "")
            server.run(sockets=[sock])
    finally:
        sock.close()
        control.stop()
        control.join(SHUTDOWN_WAIT_SECONDS if control.is_alive() else 0)
        if prober is not None:
            prober.stop(timeout=0.5)  # its run in flight is cut short; the thread is a daemon one

        duties.stop_reports()  # never waits: a rendering in progress is killed

        def stop_jobs() -> None:
            sampling.stop()
            duties.stop()

        _bounded(stop_jobs, SHUTDOWN_WAIT_SECONDS,
                 "the in-flight sample is still running (a dependency is hung); not waiting for it")
        duties.stop_alerting()
        leadership.close()  # frees the leader lock and the host name at once
        sampler.close()
        if spooler is not None:
            spooler.close()
        history.close()
        lock.release()
        log.info("reporter stopped")
    return 0


def start_leadership(settings: Settings, leadership: Leadership | SoloLeadership, history: History,
                     address: str) -> None:
    """Take this node's host name and its first chance at leadership (a single host: its duties start), and
    register the node in ``hosts`` (a fleet). StartupError when another running node holds the host name (one
    line naming it) or the lock connection cannot be made."""
    try:
        leadership.start()
    except HostNameTaken as exc:
        raise StartupError(str(exc)) from None
    except SessionRequired as exc:
        raise StartupError(str(exc), exit_code=2) from None
    except Exception as exc:
        if not leadership.fleet:
            raise
        raise StartupError(f"cannot open the leader lock connection to {mask(settings.history_url)} "
                           f"({one_line(exc)}); check REPORTER_HISTORY_URL") from None
    if isinstance(leadership, Leadership):
        try:
            register(history, settings, leadership.node_id, address)
        except Exception as exc:
            log.warning("fleet: cannot register this node in the hosts table (%s); a node started with the same "
                        "REPORTER_HOST_NAME is refused without its details", one_line(exc))


def _bounded(action, seconds: float, message: str) -> None:
    """Run ``action`` in a helper thread and wait at most ``seconds`` for it; log ``message`` if it overruns."""
    worker = threading.Thread(target=action, name="shutdown", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        log.warning(message)
