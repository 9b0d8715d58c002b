"""The daemon's wall clock stepped while it runs, with libfaketime (the monotonic clock is left alone)."""

import signal
import time
from datetime import UTC, datetime

import httpx
import pytest
import redis

from tests.conftest import free_port, wait_for, wait_until
from tests.daemon.faketime import FakeClock
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon
from tests.daemon.test_alerting_e2e import demo_alerts, refused_in_outbox
from tests.receiver import Receiver

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("step", [-600, -60])
def test_wall_clock_stepped_back_sampling_goes_on_with_one_warning(tmp_path, redis_url, redis_prefix, step,
                                                                   libfaketime):
    clock = FakeClock(tmp_path, libfaketime)
    port = free_port()
    proc = start_daemon(tmp_path, {
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}", "REPORTER_SAMPLE_INTERVAL": "1",
        "REPORTER_REDIS_URL": redis_url, "REPORTER_AI_KEY_PREFIX": redis_prefix, "REPORTER_PROBE_TIMEOUT": "0.5",
        **clock.env()}, port)
    base = f"http://127.0.0.1:{port}"
    try:
        def fresh() -> datetime | None:
            """The snapshot's time once the daemon samples on time (a start under libfaketime can be slow)."""
            stamp = datetime.fromisoformat(httpx.get(base + "/snapshot").json()["timestamp"])
            return stamp if (datetime.now(UTC) - stamp).total_seconds() < 1.5 else None

        before = wait_for(fresh, 30, "samples on time before the step")
        clock.set(step)  # the wall clock steps back (date -s, NTP)
        stamps, deadline = set(), time.monotonic() + 6
        while time.monotonic() < deadline:
            stamps.add(httpx.get(base + "/snapshot").json()["timestamp"])
            time.sleep(0.25)
        after = sorted(datetime.fromisoformat(s) for s in stamps if datetime.fromisoformat(s) < before)
        assert len(after) >= 3  # a sample every second, stamped with the stepped wall clock
        assert abs((after[-1] - before).total_seconds() - step) < 8
        health = httpx.get(base + "/healthz")  # 503 after 3 s without a sample
        assert health.status_code == 200, health.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0, stderr
    warnings = [line for line in stderr.splitlines() if "wall clock stepped" in line]
    minutes = f"{abs(step) // 60} min"
    assert len(warnings) == 1 and f"stepped backwards by {minutes}" in warnings[0], stderr[-3000:]
    assert "Traceback" not in stderr


RULES = """
[defaults]
for_outage_tolerance = "60s"  # a restart on a busy machine may take more than the default 10 s

[rules.memory_in_use]      # holds on every sample: memory in use is never 0 %
metric = "system.memory_percent"
op = ">"
threshold = 0
for = "10m"
"""


def memory_alert(base):
    alerts = httpx.get(base + "/alerts").json()["alerts"]
    found = [a for a in alerts if a["alertname"] == "memory_in_use"]
    return (found[0]["state"], datetime.fromisoformat(found[0]["active_at"])) if found else (None, None)


def test_pending_for_survives_a_quick_restart_and_restarts_after_25_min_down(tmp_path, redis_url, redis_prefix,
                                                                             libfaketime):
    (tmp_path / "alerting.toml").write_text(RULES)
    clock = FakeClock(tmp_path, libfaketime)
    port = free_port()
    settings = {
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}", "REPORTER_SAMPLE_INTERVAL": "1",
        "REPORTER_REDIS_URL": redis_url, "REPORTER_AI_KEY_PREFIX": redis_prefix, "REPORTER_PROBE_TIMEOUT": "0.5",
        "REPORTER_ALERTING_FILE": str(tmp_path / "alerting.toml"),
        **clock.env()}
    base = f"http://127.0.0.1:{port}"

    def restart(proc, later=0):
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "Traceback" not in stderr, stderr
        clock.set(later)
        return start_daemon(tmp_path, settings, port)

    proc = start_daemon(tmp_path, settings, port)
    try:
        time.sleep(1.5)
        state, since = memory_alert(base)
        assert state == "pending"
        proc = restart(proc)  # a plain restart of a few seconds: the window goes on
        state, kept = memory_alert(base)
        assert state == "pending" and abs((kept - since).total_seconds()) < 0.002  # stored in whole ms
        proc = restart(proc, 1500)  # down for 25 minutes
        state, again = memory_alert(base)
        assert state == "pending" and (again - since).total_seconds() > 1500  # not fired: downtime is no `for`
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)


def test_a_backward_step_of_hours_holds_back_neither_retries_nor_the_resolution(tmp_path, redis_url, redis_prefix,
                                                                                libfaketime):
    """Retry times and the notification log are wall-clock stamps in the history: after a step back of 2 h, a
    notification waiting for its retry was not retried for 2 h (its retry time lay 2 h ahead), and a resolution
    waited 2 h for the group interval after a notification stamped 2 h ahead. Both go out within seconds."""
    (tmp_path / "alerting.toml").write_text(demo_rules(for_="1s"))
    clock = FakeClock(tmp_path, libfaketime)
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    receiver.stop()  # refuses: the firing notification waits for its retry
    port = free_port()
    settings = fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml",
                             {"REPORTER_WEBHOOK_URL": receiver.url, **clock.env()})
    proc = start_daemon(tmp_path, settings, port)
    try:
        client.set(redis_prefix + "total_requests", 150)
        assert wait_until(lambda: refused_in_outbox(tmp_path), 20), "the notification never waited for a retry"
        clock.set(-7200)  # the wall clock steps back 2 h (date -s, NTP)
        time.sleep(2.5)  # libfaketime reads the offset within 1 s; a retry is due within 1 s (backoff_max)
        receiver = Receiver(receiver.port)  # the receiver answers again
        assert wait_until(lambda: demo_alerts(receiver) == [("firing", "demo_requests_high")], 15), \
            "the notification was not retried after the step"
        client.set(redis_prefix + "total_requests", 50)
        assert wait_until(lambda: len(demo_alerts(receiver)) == 2, 15), "the resolution was held back by the step"
        assert demo_alerts(receiver) == [("firing", "demo_requests_high"), ("resolved", "demo_requests_high")]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
        receiver.stop()
        client.close()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
