"""Start ``reporter run`` as a user would: a subprocess with REPORTER_* settings, waited for over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

RUN = [sys.executable, "-m", "reporter", "run"]  # the daemon's command line, as `reporter run`


def daemon_env(settings: dict[str, str], port: int | None = None) -> dict[str, str]:
    """This process's environment without any REPORTER_* variable, plus ``settings`` (and REPORTER_HTTP_PORT
    when ``port`` is given): what a daemon or CLI subprocess of a test runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    if port is not None:
        env["REPORTER_HTTP_PORT"] = str(port)
    env.update(settings)
    return env


def fast_settings(folder: Path, redis_url: str, prefix: str | None = None, alerting_file: Path | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, str]:
    """The REPORTER_* settings of a test daemon: a sample every second (each probe bounded to 0.5 s) into
    ``folder``/history.db, the AI counters read from ``redis_url`` under ``prefix`` (a test's unique one),
    the alerting file ``alerting_file``; ``extra``: more settings by their full names."""
    settings = {"REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.5",
                "REPORTER_HISTORY_URL": f"sqlite:///{folder / 'history.db'}", "REPORTER_REDIS_URL": redis_url}
    if prefix is not None:
        settings["REPORTER_AI_KEY_PREFIX"] = prefix
    if alerting_file is not None:
        settings["REPORTER_ALERTING_FILE"] = str(alerting_file)
    return {**settings, **(extra or {})}


# How long a daemon may take to answer its readiness path. Its start-up (imports, migration) takes about 2 s on an
# idle machine but passed 20 s on a shared 2-core machine under load (several suites at once): a readiness wait,
# not a bound the tests assert, so it is generous; a daemon that is up returns at once.
START_TIMEOUT = 60.0


def start_daemon(cwd: Path, settings: dict[str, str], port: int, ready_path: str = "/healthz",
                 timeout: float = START_TIMEOUT, log_file: Path | None = None, command: list[str] | None = None,
                 address: str = "127.0.0.1") -> subprocess.Popen:
    """Start the daemon in ``cwd`` with only ``settings`` as REPORTER_* variables (plus REPORTER_HTTP_PORT);
    return once ``ready_path`` answers 200 at ``address``. Fails the test with the daemon's stderr when it exits
    first. ``log_file``: its stdout and stderr are appended there instead of pipes (a long-running daemon whose
    pipes nobody reads would block on a full pipe). ``command``: a prefix before the daemon's command line
    (e.g. ``ip netns exec NS``)."""
    out = open(log_file, "a") if log_file is not None else subprocess.PIPE  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([*(command or []), *RUN], cwd=cwd, env=daemon_env(settings, port), stdout=out,
                            stderr=subprocess.STDOUT if log_file is not None else subprocess.PIPE, text=True)
    if log_file is not None:
        out.close()  # the child holds its own descriptor

    def stderr() -> str:
        if log_file is not None:
            return log_file.read_text(errors="replace")[-2000:]
        return proc.communicate()[1][-2000:]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{address}:{port}{ready_path}", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}: {stderr()}")
        time.sleep(0.05)  # readiness: a start is noticed within 50 ms
    proc.kill()
    proc.wait()
    raise AssertionError(f"daemon did not answer {ready_path} within {timeout:g} s: {stderr()}")


def stop_daemon(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> str:
    """Send ``sig`` to a daemon of :func:`start_daemon` and wait for it to exit; returns its stderr."""
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    return err


def demo_rules(for_: str = "1s", threshold: int = 100) -> str:
    """An alerting file for the end-to-end tests: fast delivery defaults and one critical rule,
    ``demo_requests_high``, on ``ai.total_requests`` (a Redis counter the test sets)."""
    return f"""
[defaults]
group_wait = "0s"
group_interval = "0s"
backoff_initial = "0.2s"
backoff_max = "1s"

[rules.demo_requests_high]
metric = "ai.total_requests"
op = ">"
threshold = {threshold}
for = "{for_}"
severity = "critical"
summary = "Too many AI requests: {{value}}"
"""
