"""Alerting through the running daemon: a rule on a Redis counter (changed with the real client), a real
receiver on loopback, restarts and SIGKILL in between."""

import signal
import sqlite3
import time

import httpx
import pytest
import redis

from tests.conftest import free_port, wait_until
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon, stop_daemon
from tests.receiver import Receiver
from tests.test_cli import reporter

pytestmark = pytest.mark.slow

RULES = demo_rules(for_="2s")


def start(tmp_path, redis_url, prefix, receiver_url, port):
    (tmp_path / "alerting.toml").write_text(RULES)
    return start_daemon(tmp_path, fast_settings(tmp_path, redis_url, prefix, tmp_path / "alerting.toml",
                                                {"REPORTER_WEBHOOK_URL": receiver_url}), port)


def demo_alerts(receiver):
    return [(p["status"], a["labels"]["alertname"]) for r in receiver.received for p in [r.json()]
            for a in p["alerts"] if a["labels"]["alertname"] == "demo_requests_high"]


def refused_in_outbox(tmp_path) -> bool:
    """Whether a notification waits in the daemon's outbox after a refused attempt (pending, attempted, not
    leased: no attempt in flight)."""
    conn = sqlite3.connect(tmp_path / "history.db")
    try:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts >= 1 "
                            "AND lease_until IS NULL").fetchone()[0] > 0
    finally:
        conn.close()


def test_fire_restart_kill_resolve_loses_nothing_and_duplicates_nothing(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    port = free_port()
    try:
        client.set(redis_prefix + "total_requests", 150)
        proc = start(tmp_path, redis_url, redis_prefix, receiver.url, port)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not demo_alerts(receiver):
            time.sleep(0.1)
        assert demo_alerts(receiver) == [("firing", "demo_requests_high")]
        snapshot = httpx.get(f"http://127.0.0.1:{port}/snapshot").json()
        assert [a["alertname"] for a in snapshot["alerts"] if a["state"] == "firing"] == ["demo_requests_high"]
        assert stop_daemon(proc) is not None and proc.returncode == 0

        # restart with the condition still true: no second firing notification
        proc = start(tmp_path, redis_url, redis_prefix, receiver.url, port)
        time.sleep(4)
        assert demo_alerts(receiver) == [("firing", "demo_requests_high")]

        # the receiver goes away; the alert resolves; the notification waits in the outbox; SIGKILL
        receiver.stop()
        client.set(redis_prefix + "total_requests", 50)
        assert wait_until(lambda: refused_in_outbox(tmp_path), 10), "the resolution never waited in the outbox"
        stop_daemon(proc, signal.SIGKILL)
        receiver = Receiver(receiver.port)  # back on the same address
        proc = start(tmp_path, redis_url, redis_prefix, receiver.url, port)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not demo_alerts(receiver):
            time.sleep(0.1)
        assert demo_alerts(receiver) == [("resolved", "demo_requests_high")]
        assert stop_daemon(proc) is not None and proc.returncode == 0
    finally:
        receiver.stop()
        client.close()


def test_a_test_alert_the_receiver_refused_is_delivered_once_by_the_running_daemon(tmp_path, redis_url,
                                                                                   redis_prefix):
    """`reporter test-alert` next to a running daemon, sharing its history: the receiver answers 503 to the
    command's attempt (exit 1, "still queued"), then the daemon's notifier delivers the same notification,
    once, to the real receiver on loopback."""
    receiver = Receiver()
    port = free_port()
    proc = start(tmp_path, redis_url, redis_prefix, receiver.url, port)
    try:
        receiver.script = [(503, {})]
        settings = {"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}",
                    "REPORTER_ALERTING_FILE": str(tmp_path / "alerting.toml"), "REPORTER_WEBHOOK_URL": receiver.url,
                    "REPORTER_HTTP_PORT": str(port)}
        result = reporter("test-alert", "--wait", "0.1", cwd=tmp_path, env=settings)  # one attempt
        assert result.returncode == 1, result.stdout + result.stderr
        assert "pending after 1 attempt(s)" in result.stdout and "still queued" in result.stdout
        assert "503" in result.stdout
        [got] = receiver.wait_for(1, timeout=30)
        payload = got.json()
        assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["test_alert"]
        assert payload["alerts"][0]["status"] == "firing"
        time.sleep(2)
        assert len(receiver.received) == 1 and receiver.attempts == 2  # the CLI's refused one, the daemon's
    finally:
        stop_daemon(proc)
        receiver.stop()
    assert proc.returncode == 0
