"""``receiver_failing``: a receiver that fails permanently raises an alert sent to the other receivers, never to
itself, and resolved when it delivers again. The assembled pipeline on an injected clock, real receivers on
loopback, a real history file."""

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from reporter.alerting.loading import load_alerting
from reporter.alerting.pipeline import Alerting
from reporter.notify.health import read_health
from reporter.settings import load_settings
from reporter.store.history import History
from tests.receiver import Receiver
from tests.snapshots import FEATURES, at, snapshot

TOKEN = "T0EXAMPLE/B0EXAMPLE/xoxbSecretPathToken42"  # the Slack webhook's secret path


@pytest.fixture
def env(tmp_path):
    a, b = Receiver(), Receiver()
    path = tmp_path / "alerting.toml"
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(path))
    history = History(settings.history_url, FEATURES)

    def config(*names, rule=""):
        text = f'[defaults]\ngroup_wait = "0s"\ngroup_interval = "0s"\n{rule}\n'
        if "a" in names:  # Slack-style: the whole URL is a secret
            text += f'[[receivers]]\nname = "a"\ntype = "slack"\nurl = "http://127.0.0.1:{a.port}/{TOKEN}"\n'
        if "b" in names:
            text += f'[[receivers]]\nname = "b"\ntype = "webhook"\nurl = "{b.url}"\n'
        path.write_text(text)
        return load_alerting(settings)

    yield settings, history, a, b, config
    history.close()
    a.stop()
    b.stop()


def deliver(alerting):
    async def go():
        async with httpx.AsyncClient() as client:
            await alerting.outbox.deliver_due(client)
    asyncio.run(go())


def step(alerting, t, **values):
    """Evaluate at T0 + t, dispatch, deliver; returns the active alerts by name."""
    listed = alerting.evaluate(snapshot(t, **values)).alerts
    alerting.dispatcher.dispatch(at(t))
    deliver(alerting)
    return {(a.alertname, a.labels.get("receiver")): a for a in listed}


def failing_notices(receiver):
    """(status, receiver label) of every receiver_failing alert a receiver took."""
    return [(x["status"], x["labels"]["receiver"]) for r in receiver.received for x in r.json()["alerts"]
            if x["labels"]["alertname"] == "receiver_failing"]


def fire_cpu(alerting, until=310):
    for t in range(0, until, 10):
        alerting.evaluate(snapshot(t, cpu=95))


@pytest.mark.parametrize("status,answer", [(404, b"no_service"), (403, b"invalid_token"), (410, b"channel_is_archived")])
def test_revoked_slack_webhook_alerts_the_other_receiver_and_resolves_when_it_delivers_again(env, status, answer):
    settings, history, a, b, config = env
    a.script = [(status, {}, answer + f" (/{TOKEN})".encode())] * 50  # an answer echoing the secret path
    alerting = Alerting(settings, config("a", "b"), history)
    fire_cpu(alerting)
    active = step(alerting, 310, cpu=95)  # cpu_high fires: a answers 404 (one notification, failed for good)
    assert ("receiver_failing", "a") not in active and len(a.refused) == 1
    active = step(alerting, 320, cpu=95)  # the next evaluation sees it
    failing = active[("receiver_failing", "a")]
    assert failing.state == "firing" and "host" not in failing.labels  # app-wide
    step(alerting, 321, cpu=95)
    assert failing_notices(b) == [("firing", "a")]
    notice = next(x for r in b.received for x in r.json()["alerts"] if x["labels"]["alertname"] == "receiver_failing")
    assert notice["labels"] == {"alertname": "receiver_failing", "severity": "warning", "receiver": "a"}
    summary, description = notice["annotations"]["summary"], notice["annotations"]["description"]
    assert summary == f"Receiver a is failing: HTTP {status} (permanent: not retried)"
    assert f"1 in a row since its last delivery, the last answered {status} ({answer.decode()} (/***))" \
        in description and "check its webhook URL or token" in description
    everything = json.dumps([r.json() for r in b.received]) + json.dumps(failing.model_dump(mode="json"))
    assert "xoxbSecretPathToken42" not in everything and "B0EXAMPLE" not in everything
    assert all(b"receiver_failing" not in body for body in a.refused) and len(a.refused) == 1  # never told itself

    a.script = []  # the webhook is fixed: a answers 200 again
    step(alerting, 330, cpu=10)  # cpu_high resolves: its resolution is delivered to a
    assert len(a.received) == 1 and "[RESOLVED:1] cpu_high" in a.received[0].json()["text"]
    active = step(alerting, 340, cpu=10)
    assert ("receiver_failing", "a") not in active
    step(alerting, 341, cpu=10)
    assert failing_notices(b) == [("firing", "a"), ("resolved", "a")]
    assert all("receiver_failing" not in r.json()["text"] for r in a.received)


def test_repeated_4xx_fails_on_the_third_notification_in_a_row(env):
    settings, history, a, _b, config = env
    a.script = [(400, {}, b"bad request")] * 10
    alerting = Alerting(settings, config("a", "b"), history)
    for n in range(3):
        alerting.outbox.enqueue(f"msg_test_{n}", "a", b'{"text": "test"}', 1, datetime.now(UTC))
        deliver(alerting)
        active = step(alerting, 10 * n, cpu=10)
        assert (("receiver_failing", "a") in active) == (n == 2), n
    assert read_health(history.engine, {"a": frozenset()}, 5)["a"].failures == 3


def test_a_delivery_between_4xx_answers_starts_the_count_again(env):
    settings, history, a, _b, config = env
    a.script = [(400, {}, b"bad"), (400, {}, b"bad"), (200, {}), (400, {}, b"bad"), (400, {}, b"bad")]
    alerting = Alerting(settings, config("a", "b"), history)
    for n in range(5):
        alerting.outbox.enqueue(f"msg_test_{n}", "a", b'{"text": "test"}', 1, datetime.now(UTC))
        deliver(alerting)
    health = read_health(history.engine, {"a": frozenset({404})}, 5)["a"]
    assert (health.failures, health.status_code, health.failing(3)) == (2, 400, False)
    assert ("receiver_failing", "a") not in step(alerting, 0, cpu=10)


@pytest.mark.parametrize("status", [429, 500, 503, 408])
def test_retried_answers_never_make_a_receiver_failing(env, status):
    settings, history, a, b, config = env
    a.script = [(status, {"Retry-After": "0"})] * 20
    alerting = Alerting(settings, config("a", "b"), history)
    for n in range(4):
        alerting.outbox.enqueue(f"msg_test_{n}", "a", b'{"text": "test"}', 1, datetime.now(UTC))
    for t in range(0, 60, 10):
        deliver(alerting)
        assert ("receiver_failing", "a") not in step(alerting, t, cpu=10)
    assert a.refused and not failing_notices(b)
    assert read_health(history.engine, {"a": frozenset({404})}, 5)["a"].failures == 0


def test_removing_the_failing_receiver_resolves_its_alert(env):
    settings, history, a, b, config = env
    a.script = [(404, {}, b"no_service")] * 10
    alerting = Alerting(settings, config("a", "b"), history)
    alerting.outbox.enqueue("msg_test", "a", b'{"text": "test"}', 1, datetime.now(UTC))
    deliver(alerting)
    assert ("receiver_failing", "a") in step(alerting, 0, cpu=10)
    step(alerting, 1, cpu=10)
    assert failing_notices(b) == [("firing", "a")]
    summary = alerting.reload(config("b"))
    assert summary.startswith("18 rules (0 added, 0 removed, 0 changed), 1 receiver(s) (0 added, 1 removed")
    assert ("receiver_failing", "a") not in step(alerting, 10, cpu=10)
    assert failing_notices(b) == [("firing", "a"), ("resolved", "a")]


def test_the_rule_can_be_disabled(env):
    settings, history, a, b, config = env
    a.script = [(404, {}, b"no_service")] * 10
    alerting = Alerting(settings, config("a", "b", rule="[rules.receiver_failing]\nenabled = false"), history)
    alerting.outbox.enqueue("msg_test", "a", b'{"text": "test"}', 1, datetime.now(UTC))
    deliver(alerting)
    assert ("receiver_failing", "a") not in step(alerting, 0, cpu=10)
    assert not failing_notices(b)


def test_threshold_one_fires_on_any_permanent_failure(env):
    settings, history, a, _b, config = env
    a.script = [(400, {}, b"bad")]
    alerting = Alerting(settings, config("a", "b", rule="[rules.receiver_failing]\nthreshold = 1"), history)
    alerting.outbox.enqueue("msg_test", "a", b'{"text": "test"}', 1, datetime.now(UTC))
    deliver(alerting)
    assert ("receiver_failing", "a") in step(alerting, 0, cpu=10)


def test_only_a_receiver_failing_rule_reads_receiver_failures():
    from reporter.alerting.rules import build_rules

    with pytest.raises(ValueError, match=r'rules.mine.metric: .receiver.failures. is the value of kind = '
                                         r'"receiver_failing" rules only'):
        build_rules({"mine": {"metric": "receiver.failures", "threshold": 1}}, FEATURES)


def test_check_config_says_whether_a_failing_receiver_is_reported(tmp_path):
    from tests.notify.helpers import check_config

    two = ('[[receivers]]\nname = "a"\ntype = "webhook"\nurl = "http://127.0.0.1:9/a"\n'
           '[[receivers]]\nname = "b"\ntype = "webhook"\nurl = "http://127.0.0.1:9/b"\n')
    result = check_config(tmp_path, two)
    assert result.returncode == 0, result.stderr
    assert ("receiver_failing: a receiver answering 401/403/404/410, or >= 3 permanent failures in a row, "
            "is reported to the other receivers\n") in result.stdout + result.stderr
    result = check_config(tmp_path, two + "[rules.receiver_failing]\nenabled = false\n")
    assert "receiver_failing off" in result.stdout + result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_health_and_period_counts_from_the_outbox(backend, tmp_path, request):
    """Read on both history back-ends: failures since the last delivery, newest first, expired and pending rows
    left out; the period's notifications by receiver and outcome."""
    from datetime import timedelta

    from reporter.base.ms import to_ms
    from reporter.notify.health import outcomes_between
    from reporter.store.alert_schema import outbox

    url = request.getfixturevalue("pg_schema_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url, FEATURES)
    try:
        t0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
        rows = [("a", "failed", 0, 400), ("a", "delivered", 1, 200), ("a", "failed", 2, 400), ("a", "expired", 3, 503),
                ("a", "failed", 4, 410), ("a", "pending", 5, 503), ("b", "delivered", 0, 200)]
        with history.engine.begin() as conn:
            conn.execute(outbox.insert(), [
                {"id": f"msg_{i}", "receiver": r, "created_at": to_ms(t0 + timedelta(minutes=m)), "status": status,
                 "body": b"{}", "alert_count": 1, "attempts": 1, "next_attempt_at": 0, "last_status_code": code,
                 "last_error": f"HTTP {code}", "last_response": "channel_is_archived\n  (see https://example.com)"}
                for i, (r, status, m, code) in enumerate(rows)])
        health = read_health(history.engine, {"a": frozenset({410}), "b": frozenset({410}), "c": frozenset()}, 3)
        a = health["a"]
        assert (a.failures, a.status_code, a.error, a.revoked, a.since) == (2, 410, "HTTP 410", True,
                                                                            t0 + timedelta(minutes=2))
        assert a.response == "channel_is_archived (see https://example.com)" and a.failing(3)
        assert health["b"].failures == health["c"].failures == 0 and not health["b"].failing(1)
        counts = outcomes_between(history.engine, t0 + timedelta(minutes=1), t0 + timedelta(minutes=5))
        assert counts == {"a": {"delivered": 1, "failed": 2, "expired": 1}}
    finally:
        history.close()
