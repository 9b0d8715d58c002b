"""Receiver health on the running daemon's /metrics: notifications by receiver and outcome, the outbox backlog
and the age of its oldest undelivered notification, against a real receiver on loopback."""

import re
import time

import httpx
import pytest
import redis

from tests.conftest import free_port
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon, stop_daemon
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

SAMPLE = re.compile(r'^(reporter_notifications_total|reporter_outbox_backlog|reporter_outbox_oldest_age_seconds)'
                    r'\{([^}]*)\} (\S+)$', re.M)


def delivery_metrics(port: int) -> dict[tuple[str, str], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return {(name, labels): float(value) for name, labels, value in SAMPLE.findall(text)}


def wait_for(port: int, check, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        metrics = delivery_metrics(port)
        if check(metrics) or time.monotonic() > deadline:
            return metrics
        time.sleep(0.2)


def test_metrics_count_outcomes_backlog_and_oldest_age_per_receiver(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    receiver.script = [(503, {})] * 1000  # down until the script is cleared
    port = free_port()
    (tmp_path / "alerting.toml").write_text(demo_rules(for_="0s"))
    client.set(redis_prefix + "total_requests", 150)
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml",
                                                {"REPORTER_WEBHOOK_URL": receiver.url}), port)
    try:
        def retried(m):
            return any(k[0] == "reporter_notifications_total" and 'outcome="retry"' in k[1] and v >= 2
                       for k, v in m.items()) and any(k[0] == "reporter_outbox_oldest_age_seconds" and v >= 1.0
                                                      for k, v in m.items())
        metrics = wait_for(port, retried)
        assert retried(metrics), metrics
        backlog = {k[1]: v for k, v in metrics.items() if k[0] == "reporter_outbox_backlog"}
        assert len(backlog) == 1 and list(backlog.values()) == [1.0]  # one receiver, one undelivered notification
        label = next(iter(backlog))
        assert label.startswith('receiver="')

        with receiver.lock:
            receiver.script.clear()
        metrics = wait_for(port, lambda m: ("reporter_notifications_total", f'outcome="delivered",{label}') in m)
        assert metrics.get(("reporter_notifications_total", f'outcome="delivered",{label}')) == 1.0, metrics
        assert ("reporter_outbox_backlog", label) not in metrics  # nothing undelivered any more
        assert ("reporter_outbox_oldest_age_seconds", label) not in metrics
        assert len(receiver.received) == 1
    finally:
        stop_daemon(proc)
        receiver.stop()
        client.close()
