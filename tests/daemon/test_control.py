"""SIGHUP reloads the alerting file of the running daemon (as Prometheus/Alertmanager do) and SIGUSR1 logs a
status line: a daemon subprocess, real Redis counters, real loopback receivers."""

import os
import signal
import time

import httpx
import pytest
import redis

from tests.conftest import free_port, wait_until
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

HITS_RULE = """
[rules.demo_hits_high]
metric = "ai.cache_hits"
op = ">"
threshold = 10
for = "{hits_for}"
severity = "warning"
"""

RECEIVER = """
[[receivers]]
name = "{name}"
type = "webhook"
url = "{url}"
matchers = ['alertname=~"demo_.*"']
"""


def write(path, threshold, receivers, hits_for="4s"):
    text = demo_rules(for_="1s", threshold=threshold) + HITS_RULE.format(hits_for=hits_for)
    text += "".join(RECEIVER.format(name=name, url=r.url) for name, r in receivers)
    path.write_text(text)


def notices(receiver):
    """(status, alertname) of every alert in every payload the receiver got, in order."""
    return [(a["status"], a["labels"]["alertname"]) for r in list(receiver.received) for a in r.json()["alerts"]]


def alerts(port):
    return {a["alertname"]: a for a in httpx.get(f"http://127.0.0.1:{port}/alerts").json()["alerts"]}


def test_sighup_reloads_rules_and_receivers_keeping_state(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    old, new = Receiver(), Receiver()
    port = free_port()
    path = tmp_path / "alerting.toml"
    write(path, 100, [("old", old)])
    client.set(redis_prefix + "total_requests", 150)
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, path), port)
    try:
        assert wait_until(lambda: notices(old) == [("firing", "demo_requests_high")])

        # a `for` window in progress: demo_hits_high pending (for 4 s) when the file is reloaded
        client.set(redis_prefix + "cache_hits", 50)
        assert wait_until(lambda: alerts(port).get("demo_hits_high", {}).get("state") == "pending")
        pending_since = alerts(port)["demo_hits_high"]["active_at"]
        started = time.monotonic()

        # SIGHUP: a new receiver, a changed threshold (still exceeded), a changed summary of the pending rule
        write(path, 120, [("old", old), ("new", new)])
        path.write_text(path.read_text().replace('for = "4s"', 'for = "4s"\nsummary = "many cache hits"'))
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: notices(new) == [("firing", "demo_requests_high")])
        assert proc.poll() is None
        assert alerts(port)["demo_hits_high"]["active_at"] == pending_since  # the window goes on
        assert wait_until(lambda: alerts(port).get("demo_hits_high", {}).get("state") == "firing", timeout=12)
        # it fired 4 s after it started pending, not 4 s after the reload
        assert time.monotonic() - started < 4.5
        assert wait_until(lambda: ("firing", "demo_hits_high") in notices(new) and
                          ("firing", "demo_hits_high") in notices(old))
        time.sleep(2)
        assert notices(old) == [("firing", "demo_requests_high"), ("firing", "demo_hits_high")]  # nothing twice
        assert notices(new) == [("firing", "demo_requests_high"), ("firing", "demo_hits_high")]

        # a broken file: refused with one log line, the daemon goes on with the configuration in force
        path.write_text("rules = []\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None

        # SIGUSR1: a status line, still running
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        assert proc.poll() is None

        # the configuration in force is the reloaded one: both receivers get the resolution
        client.set(redis_prefix + "total_requests", 50)
        assert wait_until(lambda: ("resolved", "demo_requests_high") in notices(new) and
                          ("resolved", "demo_requests_high") in notices(old))
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        old.stop()
        new.stop()
        client.close()
    assert proc.returncode == 0, err[-2000:]
    reloaded = [line for line in err.splitlines() if "alerting configuration reloaded" in line]
    assert len(reloaded) == 1 and "2 receiver(s) (1 added, 0 removed, 0 changed)" in reloaded[0], err[-2000:]
    assert "20 rules (0 added, 0 removed, 2 changed)" in reloaded[0]  # 18 defaults + the 2 demo rules
    refused = [line for line in err.splitlines() if "not reloaded" in line]
    assert len(refused) == 1 and "rules: must be a table" in refused[0] and "Traceback" not in err
    status = [line for line in err.splitlines() if "status: up" in line]
    assert len(status) == 1 and "last sample" in status[0] and "outbox: " in status[0], err[-2000:]


def test_sighup_adds_the_first_receiver_to_a_daemon_started_without_one(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    port = free_port()
    path = tmp_path / "alerting.toml"
    write(path, 100, [])
    client.set(redis_prefix + "total_requests", 150)
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, path), port)
    try:
        assert wait_until(lambda: alerts(port).get("demo_requests_high", {}).get("state") == "firing")
        write(path, 100, [("first", receiver)])
        os.kill(proc.pid, signal.SIGHUP)
        assert wait_until(lambda: notices(receiver) == [("firing", "demo_requests_high")])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        receiver.stop()
        client.close()
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
