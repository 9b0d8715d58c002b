"""Dispatch and delivery to real HTTP receivers on loopback, with alert states driven by injected snapshots."""

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from reporter.alerting.config import Receiver
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.rules import build_rules
from reporter.alerting.silences import Matcher, SilenceStore
from reporter.alerting.state import AlertStore
from reporter.store.alert_schema import delivery_attempts, notification_log, outbox
from tests.alerting.helpers import TZ, Pipeline, webhook
from tests.receiver import Receiver as HTTPReceiver
from tests.snapshots import FEATURES, at


def test_one_firing_and_one_resolved_notification(history, receiver):
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 1
    assert p.dispatch(320) == []  # already notified
    p.deliver()
    p.feed([320], cpu=80)
    assert len(p.dispatch(330)) == 1
    p.deliver()
    got = receiver.wait_for(2)
    first, second = got[0].json(), got[1].json()
    assert first["status"] == "firing" and first["alerts"][0]["labels"]["alertname"] == "cpu_high"
    assert first["alerts"][0]["startsAt"] == "2026-11-02T08:00:00Z"
    assert second["status"] == "resolved" and second["alerts"][0]["endsAt"] == "2026-11-02T08:05:20Z"
    assert first["version"] == "4" and first["externalURL"] == "http://reporter.example.com"


def test_send_resolved_false_gets_the_firing_notification_but_not_the_resolution(history, receiver):
    quiet = HTTPReceiver()
    try:
        p = Pipeline(history, [webhook(receiver), webhook(quiet, name="pager", send_resolved=False)])
        p.feed(range(0, 310, 10), cpu=95)
        assert len(p.dispatch(310)) == 2  # one per receiver
        p.deliver()
        p.feed([320], cpu=80)
        p.dispatch(330)
        p.dispatch(340)
        p.deliver_until(lambda: len(receiver.received) >= 2)
        p.deliver(rounds=3)
        assert [r.json()["status"] for r in receiver.wait_for(2)] == ["firing", "resolved"]  # the control
        assert [r.json()["status"] for r in quiet.received] == ["firing"]
        assert quiet.received[0].json()["alerts"][0]["labels"]["alertname"] == "cpu_high"
    finally:
        quiet.stop()


def test_500_twice_then_200_is_one_delivery_with_three_attempts(history, receiver):
    receiver.script = [(500, {}), (500, {})]
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 310, 10), cpu=95)
    [notification_id] = p.dispatch(310)
    p.deliver_until(lambda: receiver.received)
    assert len(receiver.wait_for(1)) == 1
    with history.engine.connect() as conn:
        attempts = conn.execute(select(delivery_attempts.c.outcome, delivery_attempts.c.status_code)
                                .where(delivery_attempts.c.notification_id == notification_id)).all()
        row = conn.execute(select(outbox).where(outbox.c.id == notification_id)).mappings().one()
    assert [tuple(a) for a in attempts] == [("retry", 500), ("retry", 500), ("delivered", 200)]
    assert row["status"] == "delivered" and row["attempts"] == 3


def test_failing_receiver_is_logged_when_it_starts_and_when_it_ends_not_every_attempt(history, receiver, caplog):
    caplog.set_level(logging.INFO, "reporter")
    receiver.script = [(500, {})] * 6
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 310, 10), cpu=95)
    p.dispatch(310)
    p.deliver_until(lambda: receiver.received)
    assert len(receiver.wait_for(1)) == 1
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith("receiver ops:")]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert "not delivered (HTTP 500" in lines[0][1] and "recovered after" in lines[1][1] and "6 failed" in lines[1][1]


def test_429_retry_after_is_honoured(history, receiver):
    receiver.script = [(429, {"Retry-After": "2"})]
    p = Pipeline(history, [webhook(receiver)], backoff_max=5)  # Retry-After is honoured up to backoff_max
    p.feed(range(0, 310, 10), cpu=95)
    p.dispatch(310)
    started = time.monotonic()
    p.deliver_until(lambda: receiver.received, timeout=10)
    got = receiver.wait_for(1)
    assert len(got) == 1 and got[0].at - started >= 1.9


def test_permanent_4xx_is_kept_with_response_not_retried(history, receiver):
    receiver.script = [(404, {})]
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 310, 10), cpu=95)
    [notification_id] = p.dispatch(310)
    p.deliver(rounds=3)
    status = p.outbox.status(notification_id)
    assert status["status"] == "failed" and status["last_status_code"] == 404
    assert "scripted failure" in status["last_response"] and status["attempts"] == 1


def test_refused_for_a_while_then_delivered_in_order(history):
    port_holder = HTTPReceiver()
    port = port_holder.port
    port_holder.stop()  # nothing listens: connections are refused
    receiver = Receiver(name="ops", type="webhook", url=f"http://127.0.0.1:{port}/hook")
    p = Pipeline(history, [receiver], backoff_initial=0.5, backoff_max=1)
    p.feed(range(0, 310, 10), cpu=95)
    first = p.dispatch(310)
    p.feed(range(310, 350, 10), down=("redis",), cpu=95)
    second = p.dispatch(350)
    refused_until = time.monotonic() + 6  # the receiver refuses connections for 6 s (polled every 0.1 s)
    while time.monotonic() < refused_until:
        p.deliver()
        time.sleep(0.1)
    with history.engine.connect() as conn:
        assert conn.execute(select(outbox.c.status).where(outbox.c.id == first[0])).scalar() == "pending"
        tries = conn.execute(select(delivery_attempts.c.outcome).where(
            delivery_attempts.c.notification_id == first[0])).scalars().all()
    assert 4 <= len(tries) <= 12 and set(tries) == {"retry"}  # backed off (0.5, 1, 1, ... s), not hammered (60)
    back = HTTPReceiver(port)
    try:
        p.deliver_until(lambda: len(back.received) >= 2, timeout=20)
        got = back.wait_for(2)
        assert [g.json()["alerts"][0]["labels"]["alertname"] for g in got] == ["cpu_high", "service_down"]
        assert [g.headers["webhook-id"] for g in got] == [first[0], second[0]]
    finally:
        back.stop()


def test_group_wait_batches_and_restart_does_not_renotify(history, receiver):
    p = Pipeline(history, [webhook(receiver)], group_wait=10)
    p.feed(range(0, 40, 10), down=("redis", "database"))
    assert p.dispatch(30) == []  # waiting for the group
    assert p.dispatch(35) == []
    assert len(p.dispatch(40)) == 1
    p.deliver()
    payload = receiver.wait_for(1)[0].json()
    assert sorted(a["labels"]["service"] for a in payload["alerts"]) == ["database", "redis"]
    p2 = Pipeline(history, [webhook(receiver)], group_wait=10)  # restart, condition still true
    p2.feed(range(40, 100, 10), down=("redis", "database"))
    assert p2.dispatch(100) == []
    # repeat after the repeat interval, counted from the original send
    assert p2.dispatch(40 + 4 * 3600 - 5) == []
    assert len(p2.dispatch(40 + 4 * 3600 + 20)) == 1


def test_silence_mutes_but_keeps_state(history, receiver):
    p = Pipeline(history, [webhook(receiver)])
    SilenceStore(history.engine).add([Matcher.parse("alertname=cpu_high")], 3600, "maintenance", "test", at(0))
    p.feed(range(0, 310, 10), cpu=95)
    assert p.dispatch(310) == []
    assert [a.alertname for a in p.evaluator.active()] == ["cpu_high"]
    assert len(p.dispatch(3700)) == 1  # silence over, still firing: notified


def test_receiver_filter_by_severity_and_labels(history, receiver):
    critical_only = webhook(receiver, name="pager", min_severity="critical")
    redis_only = webhook(receiver, name="redis-team", match={"service": "redis"})
    p = Pipeline(history, [critical_only, redis_only])
    p.feed(range(0, 310, 10), disk=95, down=("database",))
    written = p.dispatch(310)
    assert len(written) == 1  # pager gets service_down{database}; redis-team nothing; disk_high is a warning
    p.deliver()
    payload = receiver.wait_for(1)[0].json()
    assert payload["receiver"] == "pager"
    assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["service_down"]


def test_fifty_services_down_make_one_bounded_message(history, receiver):
    from reporter.alerting.model import AlertState, fingerprint
    from reporter.alerting.state import AlertRecord

    slack = Receiver(name="slack", type="slack", url=receiver.url)
    hook = webhook(receiver, name="hook", max_alerts=20)
    p = Pipeline(history, [slack, hook])
    records = []
    for i in range(50):
        labels = {"alertname": "service_down", "severity": "critical", "service": f"svc{i:02d}.example.com"}
        records.append((AlertRecord(fingerprint(labels), "service_down", labels,
                                    {"summary": f"svc{i:02d} is down", "description": "x" * 400},
                                    AlertState.FIRING, at(0), at(30)), "firing"))
    AlertStore(history.engine).save(records, at(30))
    assert len(p.dispatch(40)) == 2  # one notification per receiver, not 50
    p.deliver()
    got = {g.json().get("receiver", "slack"): g.json() for g in receiver.wait_for(2)}
    blocks = got["slack"]["attachments"][0]["blocks"]
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    shown = sum(1 for b in blocks if b["type"] == "section" and "service_down" in b["text"]["text"])
    assert f"and {50 - shown} more" in str(blocks[-1])
    assert len(got["hook"]["alerts"]) == 20 and got["hook"]["truncatedAlerts"] == 30


def test_label_value_escaped_in_slack_and_intact_in_json(history, receiver):
    slack = Receiver(name="slack", type="slack", url=receiver.url)
    p = Pipeline(history, [slack, webhook(receiver, name="hook")])
    rules = build_rules({"cpu_high": {"labels": {"team": "<script>&"}}}, FEATURES)
    p.evaluator = Evaluator(rules, p.defaults, AlertStore(history.engine), history, TZ, FEATURES)
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 2
    p.deliver()
    got = {g.json().get("receiver", "slack"): g for g in receiver.wait_for(2)}
    assert "&lt;script&gt;&amp;" in got["slack"].body.decode() and "<script>&" not in got["slack"].body.decode()
    assert got["hook"].json()["alerts"][0]["labels"]["team"] == "<script>&"


def test_signed_webhook_verifies_independently(history, receiver):
    from standardwebhooks import Webhook

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    p = Pipeline(history, [webhook(receiver, secret=secret)])
    p.feed(range(0, 310, 10), cpu=95)
    p.dispatch(310)
    p.deliver()
    got = receiver.wait_for(1)[0]
    Webhook(secret).verify(got.body, got.headers)  # raises on a bad signature


def test_expired_notification_is_given_up_and_logged(history, caplog):
    receiver = Receiver(name="ops", type="webhook", url="http://127.0.0.1:9/hook")
    p = Pipeline(history, [receiver], max_age=1)
    p.feed(range(0, 310, 10), cpu=95)
    [notification_id] = p.dispatch(310)
    with history.engine.begin() as conn:
        conn.execute(outbox.update().values(created_at=int((datetime.now(UTC) - timedelta(seconds=5)).timestamp()
                                                           * 1000)))
    p.deliver()
    assert p.outbox.status(notification_id)["status"] == "expired"
    assert "expired" in caplog.text


ZERO = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert


def cpu_notices(receiver, count):
    return [(a["status"], a["startsAt"], a.get("endsAt")) for r in receiver.wait_for(count, 5) for a in r.json()["alerts"]
            if a["labels"]["alertname"] == "cpu_high"]


def test_resolution_not_yet_sent_when_a_new_episode_starts_goes_out_first(history, receiver):
    """Notified firing; the alert resolves and fires again before the resolution went out (a group wait, or a
    store that could not be written): the receiver hears resolved (old episode), then firing (new one)."""
    p = Pipeline(history, [webhook(receiver)], group_wait=60, group_interval=60)
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(360)) == 1
    p.deliver()
    p.feed([370], cpu=80)  # resolved at 370: held by the group interval until 420
    p.feed(range(380, 700, 10), cpu=95)  # a new episode from 380, firing from 680
    assert len(p.dispatch(690)) == 1
    p.deliver()
    assert len(p.dispatch(691)) == 0  # the group interval (from the notification at 690) is not over
    assert len(p.dispatch(750)) == 1
    p.deliver()
    assert p.dispatch(800) == []
    assert cpu_notices(receiver, 3) == [("firing", "2026-11-02T08:00:00Z", ZERO),
                                        ("resolved", "2026-11-02T08:00:00Z", "2026-11-02T08:06:10Z"),
                                        ("firing", "2026-11-02T08:06:20Z", ZERO)]


def test_resolution_is_sent_when_the_next_episode_reset_before_it_went_out(history, receiver):
    p = Pipeline(history, [webhook(receiver)], group_wait=60)
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(360)) == 1
    p.deliver()
    p.feed([370], cpu=80)  # resolved
    p.feed([380], cpu=95)  # pending again...
    p.feed([390], cpu=80)  # ...and reset: the alert is gone from the state table
    assert len(p.dispatch(440)) == 1
    p.deliver()
    assert p.dispatch(500) == []
    assert cpu_notices(receiver, 2) == [("firing", "2026-11-02T08:00:00Z", ZERO),
                                        ("resolved", "2026-11-02T08:00:00Z", "2026-11-02T08:06:10Z")]
    with history.engine.connect() as conn:  # nothing is owed any more: the notification log forgets it
        assert conn.execute(select(notification_log)).all() == []


def test_episode_that_fired_and_resolved_unseen_is_notified_firing_then_resolved(history, receiver):
    """Fired and resolved while nothing reached the dispatcher (the store could not be written): the receiver
    hears both, in order, as it would have; an episode shorter than the group wait is not sent."""
    p = Pipeline(history, [webhook(receiver)], group_wait=60, group_interval=60)
    assert p.dispatch(0) == []  # the notifier runs from the start
    p.feed(range(0, 310, 10), cpu=95)  # firing from 300
    p.feed([400], cpu=80)  # resolved 100 s later, before any dispatch could write
    assert len(p.dispatch(410)) == 1
    p.deliver()
    assert p.dispatch(411) == []  # the resolution waits the group interval from the notification at 410
    assert len(p.dispatch(470)) == 1
    p.deliver()
    assert p.dispatch(500) == []
    assert cpu_notices(receiver, 2) == [("firing", "2026-11-02T08:00:00Z", ZERO),
                                        ("resolved", "2026-11-02T08:00:00Z", "2026-11-02T08:06:40Z")]
    p.feed(range(500, 810, 10), cpu=95)  # firing from 800...
    p.feed([830], cpu=80)  # ...for 30 s, less than the group wait: not sent
    assert p.dispatch(900) == []


def test_longest_allowed_durations_hold_and_repeat_without_overflow(history, receiver):
    """3650d (the most a duration may be) for group_wait, repeat_interval and max_age: the dispatcher computes
    with them (a larger value is refused when the file is read; it used to crash every notifier pass)."""
    p = Pipeline(history, [webhook(receiver, name="held"), webhook(receiver, name="once", group_wait=0)],
                 group_wait="3650d", repeat_interval="3650d", max_age="3650d", no_data_for="3650d")
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 1  # "once" now; "held" waits its 10-year group_wait
    assert p.dispatch(400) == [] and p.dispatch(86400 * 365) == []
    p.deliver()
    assert len(receiver.wait_for(1)) == 1


def test_slack_and_webhook_name_the_host(history, receiver):
    slack = Receiver(name="slack", type="slack", url=receiver.url)
    p = Pipeline(history, [slack, webhook(receiver, name="hook")])
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 2
    p.deliver()
    got = {g.json().get("receiver", "slack"): g.json() for g in receiver.wait_for(2)}
    assert got["hook"]["alerts"][0]["labels"]["host"] == history.host == "localhost"
    assert got["hook"]["commonLabels"]["host"] == "localhost"
    assert got["slack"]["text"] == "[FIRING:1] cpu_high on localhost"
    section = got["slack"]["attachments"][0]["blocks"][2]["text"]["text"]
    assert section.startswith(":red_circle: *cpu_high* on *localhost* · critical · *FIRING*"), section
