"""``receiver_failing`` on the running daemon: a Slack webhook on loopback that answers ``404 no_service`` is
reported to the other receiver (never to itself) and resolved once it delivers again."""

import json

import pytest
import redis

from tests.conftest import free_port, wait_until
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon, stop_daemon
from tests.receiver import Receiver

pytestmark = pytest.mark.slow


def failing_notices(receiver: Receiver) -> list[tuple[str, str]]:
    with receiver.lock:
        bodies = [r.json() for r in receiver.received]
    return [(a["status"], a["labels"]["receiver"]) for body in bodies for a in body.get("alerts", [])
            if a["labels"]["alertname"] == "receiver_failing"]


def test_a_revoked_slack_webhook_is_reported_to_the_other_receiver_until_it_delivers(tmp_path, redis_url,
                                                                                        redis_prefix):
    client = redis.Redis.from_url(redis_url)
    slack, ops = Receiver(), Receiver()
    slack.script = [(404, {}, b"no_service")] * 1000  # the webhook was removed from the Slack workspace
    path = tmp_path / "alerting.toml"
    path.write_text(demo_rules(for_="0s") + f"""
[[receivers]]
name = "chat"
type = "slack"
url = "http://127.0.0.1:{slack.port}/T0EXAMPLE/B0EXAMPLE/SecretWebhookPath"
matchers = ['alertname="demo_requests_high"']

[[receivers]]
name = "ops"
type = "webhook"
url = "{ops.url}"
""")
    client.set(redis_prefix + "total_requests", 150)
    port = free_port()
    proc = start_daemon(tmp_path, fast_settings(tmp_path, redis_url, redis_prefix, path), port)
    try:
        assert wait_until(lambda: failing_notices(ops) == [("firing", "chat")], timeout=20), failing_notices(ops)
        notice = next(a for r in ops.received for a in r.json()["alerts"]
                      if a["labels"]["alertname"] == "receiver_failing")
        assert "HTTP 404" in notice["annotations"]["summary"] and "no_service" in notice["annotations"]["description"]
        assert "SecretWebhookPath" not in json.dumps([r.json() for r in ops.received])
        with slack.lock:
            assert all(b"receiver_failing" not in body for body in slack.refused)  # never told about itself
            slack.script.clear()  # fixed
        client.set(redis_prefix + "total_requests", 50)  # the demo alert resolves: its resolution reaches chat
        assert wait_until(lambda: failing_notices(ops) == [("firing", "chat"), ("resolved", "chat")], timeout=20), \
            failing_notices(ops)
        with slack.lock:
            texts = [r.json()["text"] for r in slack.received]
        assert texts and all("receiver_failing" not in t for t in texts)
    finally:
        stop_daemon(proc)
        slack.stop()
        ops.stop()
        client.close()
