"""The daemon with its history on a filesystem that fills up (a real, small tmpfs): nothing is lost, the
failure is visible (``/healthz``, the snapshot) and logged once, not on every tick."""

import re
import signal
import sqlite3
import time

import httpx
import pytest
import redis

from tests.conftest import fill, free_port, wait_until
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

RULES = demo_rules(for_="1s")


def demo_alerts(receiver):
    return [(p["status"], a["startsAt"], a.get("endsAt")) for r in receiver.received for p in [r.json()]
            for a in p["alerts"] if a["labels"]["alertname"] == "demo_requests_high"]


def test_full_disk_keeps_state_changes_and_notifies_them_in_order_once_writable(tmp_path, tmpfs, redis_url,
                                                                              redis_prefix):
    (tmp_path / "alerting.toml").write_text(RULES)
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = None
    try:
        client.set(redis_prefix + "total_requests", 150)
        proc = start_daemon(tmp_path, fast_settings(tmpfs, redis_url, redis_prefix, tmp_path / "alerting.toml",
                                                    {"REPORTER_WEBHOOK_URL": receiver.url}), port)
        assert wait_until(lambda: demo_alerts(receiver)), "the alert never fired"
        assert [s for s, _, _ in demo_alerts(receiver)] == ["firing"]

        filler = fill(tmpfs)
        client.set(redis_prefix + "total_requests", 50)  # the alert resolves while nothing can be written
        assert wait_until(lambda: httpx.get(base + "/healthz").status_code == 503, 10), "healthz stayed 200"
        health = httpx.get(base + "/healthz").json()
        assert health["status"] == "history_failing"
        assert "database or disk is full" in health["error"] and str(tmpfs) in health["error"]
        # evaluation goes on in memory: the alert is no longer listed
        assert wait_until(lambda: "demo_requests_high" not in httpx.get(base + "/alerts").text, 10)
        snapshot = httpx.get(base + "/snapshot").json()
        assert "disk is full" in snapshot["errors"]["history"] and snapshot["status"] != "healthy"
        assert 'reporter_history_write_error 1.0' in httpx.get(base + "/metrics").text
        time.sleep(3)  # several failing samples, notifier passes and evaluations
        assert [s for s, _, _ in demo_alerts(receiver)] == ["firing"]  # the resolution cannot be recorded yet
        client.set(redis_prefix + "total_requests", 200)  # a new episode, firing while nothing can be written
        assert wait_until(lambda: '"state":"firing"' in httpx.get(base + "/alerts").text.replace(" ", ""), 10)
        freed_ms = int(time.time() * 1000)
        filler.unlink()

        # every change of the outage is notified, in order: the old episode resolved, then the new one firing
        assert wait_until(lambda: len(demo_alerts(receiver)) >= 3), f"not notified: {demo_alerts(receiver)}"
        assert wait_until(lambda: httpx.get(base + "/healthz").status_code == 200, 10)
        assert "history" not in httpx.get(base + "/snapshot").json()["errors"]
        time.sleep(2)  # nothing more comes
        notices = demo_alerts(receiver)
        assert [status for status, _, _ in notices] == ["firing", "resolved", "firing"], notices
        (_, started, _), (_, resolved_start, ended), (_, restarted, _) = notices
        assert resolved_start == started and started < ended < restarted
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=10)
        receiver.stop()
        client.close()
    assert proc.returncode == 0, stderr[-3000:]

    # the changes of the outage are recorded in order, with the times they happened
    conn = sqlite3.connect(tmpfs / "history.db")
    events = conn.execute("SELECT state, at FROM alert_events WHERE rule = 'demo_requests_high' "
                          "AND state != 'pending' ORDER BY id").fetchall()
    conn.close()
    assert [state for state, _ in events] == ["firing", "resolved", "firing"]
    assert events[0][1] < events[1][1] < events[2][1] < freed_ms

    # the log: one line when writes start failing, one when they work again; no traceback, no flood
    assert "Traceback" not in stderr, stderr[-3000:]
    failing = [line for line in stderr.splitlines() if "history: cannot write" in line]
    assert len(failing) == 1, stderr[-3000:]
    assert "free disk space at " + str(tmpfs) in failing[0]
    assert len(re.findall(r"history: recovered after \d+ s", stderr)) == 1, stderr[-3000:]
    noisy = [line for line in stderr.splitlines() if " ERROR " in line or " WARNING " in line]
    assert len(noisy) <= 6, "\n".join(noisy)


def test_restart_on_a_full_disk_says_to_free_space_there(tmp_path, tmpfs, redis_url, redis_prefix):
    """A daemon killed while its disk was full, started again: one line saying to free disk space at the
    history's folder (it said "check REPORTER_HISTORY_URL": the URL was fine)."""
    import subprocess

    from tests.daemon.helpers import RUN, daemon_env

    port = free_port()
    settings = fast_settings(tmpfs, redis_url, redis_prefix)
    proc = start_daemon(tmp_path, settings, port)
    time.sleep(2)
    filler = fill(tmpfs)
    proc.kill()
    proc.communicate(timeout=10)
    try:
        done = subprocess.run(RUN, cwd=tmp_path, env=daemon_env(settings, port), capture_output=True, text=True,
                              timeout=60)
    finally:
        filler.unlink()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-2000:]
    assert "disk is full" in lines[0] and lines[0].endswith(f"free disk space at {tmpfs}"), lines[0]
    assert "Traceback" not in done.stderr
