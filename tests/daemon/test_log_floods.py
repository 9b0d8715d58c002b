"""The running daemon with a hung application database: each failing source is logged once, not every sample."""

import signal
import time

import pytest

from tests.conftest import free_port
from tests.daemon.helpers import fast_settings, start_daemon

pytestmark = pytest.mark.slow


def test_hung_app_database_is_logged_once_per_source(tmp_path, silent_server, redis_url, redis_prefix):
    port = free_port()
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, extra={
        "REPORTER_USAGE_INTERVAL": "1",
        "REPORTER_APP_DATABASE_URL": f"postgresql+psycopg://u:pw@127.0.0.1:{silent_server.port}/app",
    }), port, ready_path="/snapshot")
    time.sleep(8)  # eight samples, each with the database and usage queries hung
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr[-2000:]
    warnings = [line for line in stderr.splitlines() if " WARNING " in line or " ERROR " in line]
    about_database = [line for line in warnings if "sampler: database:" in line]
    about_usage = [line for line in warnings if "sampler: usage:" in line]
    assert len(about_database) == 1 and len(about_usage) == 1, "\n".join(warnings)
    assert len(warnings) <= 5, "\n".join(warnings)  # plus Ollama (not running here) and at most one left-behind probe


def test_bad_requests_are_logged_once_not_once_per_request(tmp_path, redis_url, redis_prefix):
    """A client sending 60 malformed requests made the HTTP server log 60 "Invalid HTTP request received." lines:
    one now, the count with the next after 5 minutes."""
    import socket

    port = free_port()
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix), port)
    for _ in range(60):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GARBAGE \x00\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 400")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr[-2000:]
    invalid = [line for line in stderr.splitlines() if "Invalid HTTP request" in line]
    assert len(invalid) == 1, "\n".join(invalid[:5])


def test_a_frozen_daemon_resumed_logs_no_missed_job(tmp_path, redis_url, redis_prefix):
    """SIGSTOP over the report job's first run (5 s after start), SIGCONT: APScheduler logged "Run time of job
    ... was missed by 0:00:03" (its grace time was one interval) and skipped the run (a day without pruning
    after a freeze over the prune time); now the missed run goes ahead, silently."""
    port = free_port()
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, extra={
        "REPORTER_REPORTS": "daily", "REPORTER_REPORT_DIR": str(tmp_path / "reports")}), port)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(9)
    proc.send_signal(signal.SIGCONT)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr[-2000:]
    assert "was missed by" not in stderr, stderr[-2000:]
