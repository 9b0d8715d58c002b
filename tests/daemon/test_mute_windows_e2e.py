"""A maintenance window in the running daemon, on the day clocks go forward in Berlin (libfaketime sets the
daemon's wall clock; its monotonic clock is left alone).

The window is Sundays 02:00-04:00 Europe/Berlin. On 29 March 2026, 02:00-03:00 local never happens, so the
window runs 01:00-02:00 UTC. The daemon starts at 01:30 UTC (03:30 CEST): inside the window. A rule fires at
once: the unmuted receiver hears of it right away, the muted one nothing, and `reporter alerts` says it is
muted. The daemon's clock is then stepped to 20 s before 02:00:00 UTC (04:00 CEST): the muted receiver hears
nothing until then, and then of the still-firing alert. Reading the window in UTC (not muted at all) or in a
fixed UTC+1 (muted until 03:00 UTC) would fail. Stepping the clock once the daemon is up, rather than starting it
just before the window ends, keeps the test independent of how long the daemon takes to start."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tests.conftest import free_port
from tests.daemon.faketime import FakeClock
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon, stop_daemon
from tests.receiver import Receiver
from tests.test_cli import reporter

pytestmark = pytest.mark.slow
WINDOW_END = datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


def alerting_file(muted: Receiver, audit: Receiver) -> str:
    return demo_rules(for_="1s") + f"""
[[receivers]]
name = "oncall"
type = "webhook"
url = "{muted.url}"
match = {{ alertname = "demo_requests_high" }}
mute_time_intervals = ["sunday-night"]

[[receivers]]
name = "audit"
type = "webhook"
url = "{audit.url}"
match = {{ alertname = "demo_requests_high" }}

[[time_intervals]]
name = "sunday-night"
[[time_intervals.time_intervals]]
weekdays = ["sunday"]
times = [{{ start_time = "02:00", end_time = "04:00" }}]
location = "Europe/Berlin"
"""


def test_muted_receiver_is_told_when_the_window_ends_at_local_time_on_the_dst_day(tmp_path, redis_url,
                                                                                    redis_prefix, libfaketime):
    client = redis.Redis.from_url(redis_url)
    client.set(redis_prefix + "total_requests", 150)
    muted, audit = Receiver(), Receiver()
    clock = FakeClock(tmp_path, libfaketime)
    clock.set_now(WINDOW_END - timedelta(minutes=30))
    (tmp_path / "alerting.toml").write_text(alerting_file(muted, audit))
    port = free_port()

    def ours(receiver: Receiver) -> list[dict]:
        """What this test's daemon sent (another test's daemon may retry towards a port reused here)."""
        return [r.json() for r in list(receiver.received) if f"127.0.0.1:{port}/" in r.body.decode()]

    settings = fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml", {
        **clock.env(), "REPORTER_TIMEZONE": "Europe/Berlin",
        "REPORTER_EXTERNAL_URL": f"http://127.0.0.1:{port}"})
    proc = start_daemon(tmp_path, settings, port)
    try:
        deadline = time.monotonic() + 120
        while not ours(audit) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ours(audit), "the unmuted receiver was not told"
        shown = reporter("alerts", "--json", cwd=tmp_path, env=settings)  # on the same (faked) clock
        assert shown.returncode == 0, shown.stderr
        demo = next(a for a in json.loads(shown.stdout) if a["alertname"] == "demo_requests_high")
        assert demo["muted_receivers"] == {"oncall": "mute_time_intervals sunday-night"}
        assert ours(muted) == [] and clock.now() < WINDOW_END - timedelta(minutes=20)
        clock.set_now(WINDOW_END - timedelta(seconds=20))  # date -s: 20 s before the window ends
        while clock.now() < WINDOW_END - timedelta(seconds=1):
            assert ours(muted) == [], f"sent inside the window at {clock.now()}"
            time.sleep(0.05)
        deadline = time.monotonic() + 15
        while not ours(muted) and time.monotonic() < deadline:
            time.sleep(0.05)
        told_at = clock.now()
        assert ours(muted), "the muted receiver was not told when the window ended"
        assert WINDOW_END - timedelta(seconds=1) <= told_at < WINDOW_END + timedelta(seconds=10)
        payload = ours(muted)[0]
        assert payload["receiver"] == "oncall" and payload["status"] == "firing"
        assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["demo_requests_high"]
        assert len(ours(audit)) == 1  # the other receiver is not told twice
    finally:
        stderr = stop_daemon(proc)
        muted.stop()
        audit.stop()
        client.close()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    assert sum("wall clock stepped forward by" in line for line in stderr.splitlines()) == 1, stderr[-3000:]
