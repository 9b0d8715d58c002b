"""Alerting through the running daemon: a rule on a Redis counter (changed with the real client), a real
receiver on loopback, restarts and SIGKILL in between."""

import signal
import time

import httpx
import pytest
import redis

from tests.conftest import free_port
from tests.daemon.helpers import demo_rules, start_daemon
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

RULES = demo_rules(for_="2s")


def start(tmp_path, redis_url, prefix, receiver_url, port):
    (tmp_path / "alerting.toml").write_text(RULES)
    return start_daemon(tmp_path, {
        "REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.5",
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}", "REPORTER_REDIS_URL": redis_url,
        "REPORTER_AI_KEY_PREFIX": prefix, "REPORTER_ALERTING_FILE": str(tmp_path / "alerting.toml"),
        "REPORTER_WEBHOOK_URL": receiver_url,
    }, port)


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    return err


def demo_alerts(receiver):
    return [(p["status"], a["labels"]["alertname"]) for r in receiver.received for p in [r.json()]
            for a in p["alerts"] if a["labels"]["alertname"] == "demo_requests_high"]


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
        assert stop(proc) is not None and proc.returncode == 0

        # restart with the condition still true: no second firing notification
        proc = start(tmp_path, redis_url, redis_prefix, receiver.url, port)
        time.sleep(4)
        assert demo_alerts(receiver) == [("firing", "demo_requests_high")]

        # the receiver goes away; the alert resolves; the notification waits in the outbox; SIGKILL
        receiver.stop()
        client.set(redis_prefix + "total_requests", 50)
        time.sleep(3)
        stop(proc, signal.SIGKILL)
        receiver = Receiver(receiver.port)  # back on the same address
        proc = start(tmp_path, redis_url, redis_prefix, receiver.url, port)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not demo_alerts(receiver):
            time.sleep(0.1)
        assert demo_alerts(receiver) == [("resolved", "demo_requests_high")]
        assert stop(proc) is not None and proc.returncode == 0
    finally:
        receiver.stop()
        client.close()
