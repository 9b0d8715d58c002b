"""No configured secret leaves the daemon: not in the snapshot, the API answers, /metrics, the history or the log,
even when a driver quotes the password in its error text (issue 8 item 10)."""

import signal
import sqlite3

import httpx
import pytest

from tests.conftest import free_port
from tests.daemon.helpers import start_daemon
from tests.pg_refuser import PasswordRefuser

pytestmark = pytest.mark.slow

PASSWORD = "Dist@nctive-Pw9"  # in the URLs percent-encoded, as the daemon requires
ENCODED = "Dist%40nctive-Pw9"
TELLTALE = "nctive-Pw9"  # in both forms


def test_a_password_quoted_by_the_driver_appears_nowhere(tmp_path):
    refuser = PasswordRefuser()
    port = free_port()
    try:
        proc = start_daemon(tmp_path, {
            "REPORTER_APP_DATABASE_URL": f"postgresql+psycopg://reporter:{ENCODED}@127.0.0.1:{refuser.port}/app",
            "REPORTER_REDIS_URL": f"redis://:{ENCODED}@127.0.0.1:{free_port()}/0",
            "REPORTER_OLLAMA_URL": f"http://ollama:{ENCODED}@127.0.0.1:{free_port()}",
            "REPORTER_WEBHOOK_URL": f"http://hook:{ENCODED}@127.0.0.1:{free_port()}/hook",
            "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}",
            "REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.8", "REPORTER_USAGE_INTERVAL": "1",
        }, port)
        base = f"http://127.0.0.1:{port}"
        try:
            snapshot = httpx.get(base + "/snapshot", timeout=5).json()
            assert refuser.passwords and refuser.passwords[0] == PASSWORD  # the server did get it, and quoted it
            assert "password \"***\" is not accepted" in snapshot["errors"]["database"]
            answers = [httpx.get(base + path, timeout=5).text for path in (
                "/snapshot", "/metrics", "/alerts", "/healthz", "/openapi.json", "/api/v1/analytics/metrics",
                "/api/v1/analytics/health", "/api/v1/analytics/ai-features", "/api/v1/history?metric=cpu_percent",
                "/nope")]
        finally:
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=15)
    finally:
        refuser.close()
    assert "database: OperationalError" in stderr and '"***"' in stderr  # the failure is logged, masked
    for text in [*answers, stdout, stderr]:
        assert TELLTALE not in text
    history = sqlite3.connect(tmp_path / "history.db")
    for table, in history.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        assert TELLTALE not in repr(history.execute(f'SELECT * FROM "{table}"').fetchall()), table
