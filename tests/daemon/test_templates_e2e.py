"""A broken notification template on the running daemon: the template passes the start-up check (the sample
alerts have a ``service`` label) but fails on the real alert (which has none); the notification still reaches a
real Slack-like receiver on loopback with the built-in text, and ``/metrics`` counts the error."""

import re
import time

import httpx
import pytest
import redis

from tests.conftest import free_port
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon, stop_daemon
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

ERRORS = re.compile(r'^reporter_template_errors_total\{template="slack\.txt\.j2"\} (\S+)$', re.M)


def test_a_broken_template_still_delivers_the_built_in_text_and_is_counted(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    port = free_port()
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "slack.txt.j2").write_text("{{ status }}: {{ alerts[0].labels.service }}\n")
    (tmp_path / "alerting.toml").write_text(demo_rules(for_="0s") + '\n[templates]\ndir = "tpl"\n\n[[receivers]]\n'
                                            f'name = "chat"\ntype = "slack"\nurl = "{receiver.url}"\n')
    client.set(redis_prefix + "total_requests", 150)
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml"), port)
    try:
        got = receiver.wait_for(1, timeout=20)
        assert len(got) == 1
        assert got[0].json()["text"].startswith("[FIRING:1] demo_requests_high")  # the built-in message
        deadline, counted = time.monotonic() + 10, []
        while not counted and time.monotonic() < deadline:
            counted = ERRORS.findall(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            time.sleep(0.2)
        assert counted and float(counted[0]) >= 1.0
    finally:
        err = stop_daemon(proc)
        receiver.stop()
        client.close()
    assert err.count("template slack.txt.j2 failed") == 1 and "'dict object' has no attribute 'service'" in err
