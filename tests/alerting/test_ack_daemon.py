"""Acknowledgement and escalation against the real daemon (a subprocess sampling every second) and real loopback
receivers: the alert escalates once, a restart does not escalate it again, an acknowledgement over the API stops
the repeats and shows in /alerts, and the resolution says who acknowledged."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from tests.conftest import free_port, wait_for
from tests.daemon.helpers import fast_settings, start_daemon
from tests.receiver import Receiver as HTTPReceiver

TOKEN = "daemon-ack-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RULES = """
[defaults]
group_wait = "0s"
repeat_interval = "2s"
group_interval = "1s"

[rules.demo_requests_high]
metric = "ai.total_requests"
op = ">"
threshold = 100
severity = "critical"

[[receivers]]
name = "ops"
type = "webhook"
url = "{ops}"
matchers = ['alertname="demo_requests_high"']
escalate_after = "4s"
escalate_to = "pager"

[[receivers]]
name = "pager"
type = "webhook"
url = "{pager}"
matchers = ['alertname="none"']
"""


def stop(proc) -> None:
    proc.terminate()
    proc.communicate(timeout=10)


@pytest.mark.slow
def test_escalated_once_across_a_restart_then_acknowledged_over_the_api(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    ops, pager = HTTPReceiver(), HTTPReceiver()
    port = free_port()
    (tmp_path / "alerting.toml").write_text(RULES.replace("{ops}", ops.url).replace("{pager}", pager.url))
    settings = fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml",
                             {"REPORTER_API_TOKEN": TOKEN})
    client.set(redis_prefix + "total_requests", 150)
    proc = start_daemon(tmp_path, settings, port)
    try:
        wait_for(lambda: pager.received, timeout=20)
        [escalation] = pager.received
        alert = escalation.json()["alerts"][0]
        assert alert["labels"]["escalated_from"] == "ops" and alert["labels"]["alertname"] == "demo_requests_high"
        assert alert["annotations"]["summary"].startswith("Escalated: not acknowledged 4s after it fired")
        assert len(ops.received) >= 2  # the first notification and repeats every 2 s
        stop(proc)
        proc = start_daemon(tmp_path, settings, port)  # a restart: the episode goes on, escalated already
        time.sleep(5)
        assert len(pager.received) == 1

        url = f"http://127.0.0.1:{port}"
        [fingerprint] = [a["fingerprint"] for a in httpx.get(url + "/alerts", headers=AUTH).json()["alerts"]
                         if a["alertname"] == "demo_requests_high"]
        answer = httpx.post(f"{url}/api/v1/alerts/{fingerprint}/ack", json={"by": "ann", "comment": "on it"},
                            headers=AUTH)
        assert answer.status_code == 200, answer.text
        listed = wait_for(lambda: [a for a in httpx.get(url + "/alerts", headers=AUTH).json()["alerts"]
                                   if a["acknowledged_by"] == "ann"])
        assert listed[0]["ack_comment"] == "on it"
        time.sleep(1)  # a repeat a pass queued just before the ack was written is delivered by now
        acked = len(ops.received)
        time.sleep(12)  # the notifier passes at least every 10 s when idle: a repeat (every 2 s) would be due
        assert len(ops.received) == acked

        client.set(redis_prefix + "total_requests", 50)  # resolves
        resolved = wait_for(lambda: [r.json() for r in ops.received if r.json()["status"] == "resolved"])
        assert resolved[0]["alerts"][0]["acknowledged"]["by"] == "ann"
        assert len(pager.received) == 1
    finally:
        stop(proc)
        ops.stop()
        pager.stop()
        client.close()
