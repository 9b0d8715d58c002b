"""The ``email`` receiver type end to end: the assembled alerting pipeline, the outbox and a real SMTP server on
loopback (aiosmtpd): firing then resolved delivered, every value escaped in the HTML part, SMTP 4xx retried,
5xx a permanent failure with the server's answer, a missing REPORTER_SMTP_HOST refused at start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from reporter.alerting.loading import AlertingConfigError, load_alerting
from reporter.alerting.pipeline import Alerting
from reporter.notify.notification import AlertNotice, Notification
from reporter.notify.outbox import Outbox
from reporter.settings import load_settings
from reporter.store.alert_schema import delivery_attempts
from reporter.store.history import History
from tests.smtp import SMTPServer
from tests.snapshots import FEATURES, snapshot

HOSTILE = '<script>alert("x")</script> & <b>ops</b>'


@pytest.fixture
def smtp():
    server = SMTPServer()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path, smtp):
    path = tmp_path / "alerting.toml"
    path.write_text(
        '[defaults]\ngroup_wait = "0s"\ngroup_interval = "0s"\nbackoff_max = "1s"\n'
        f"[rules.cpu_high]\nlabels = {{ team = '{HOSTILE}' }}\n"
        '[[receivers]]\nname = "mail"\ntype = "email"\nto = ["oncall@example.com", "second@example.com"]\n'
        "matchers = ['alertname=cpu_high']\n")
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(path), smtp_host="127.0.0.1", smtp_port=smtp.port,
                             smtp_security="none", email_from="reporter@example.com", timezone="Europe/Berlin",
                             external_url="http://reporter.example.com")
    history = History(settings.history_url, FEATURES)
    yield settings, history
    history.close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def deliver(outbox: Outbox) -> int:
    async def go() -> int:
        return await outbox.deliver_due(None)  # an email receiver needs no HTTP client

    return asyncio.run(go())


def test_firing_then_resolved_are_emailed_with_escaped_html(env, smtp):
    settings, history = env
    alerting = Alerting(settings, load_alerting(settings), history)
    for t in range(0, 310, 10):
        alerting.evaluate(snapshot(t, cpu=95))
    assert len(alerting.dispatcher.dispatch(snapshot(310).timestamp)) == 1
    assert deliver(alerting.outbox) == 1
    alerting.evaluate(snapshot(320, cpu=70))
    assert len(alerting.dispatcher.dispatch(snapshot(330).timestamp)) == 1
    assert deliver(alerting.outbox) == 1

    firing, resolved = smtp.wait_for(2)
    assert firing["Subject"] == "[FIRING:1] cpu_high" and resolved["Subject"] == "[RESOLVED:1] cpu_high"
    assert firing["From"] == "reporter@example.com" and firing["To"] == "oncall@example.com, second@example.com"
    assert smtp.handler.envelopes[0] == ("reporter@example.com", ["oncall@example.com", "second@example.com"])
    text = firing.get_body(("plain",)).get_content()
    page = firing.get_body(("html",)).get_content()
    assert "FIRING cpu_high on localhost (critical)" in text and f"team={HOSTILE}" in text  # the text part as it is
    assert "started: 2026-11-02 09:00:00 CET" in text  # the rule's start (08:00 UTC) in the configured zone
    assert "http://reporter.example.com" in text
    assert "<script>" not in page and "<b>ops" not in page  # every value escaped in the HTML part
    assert "team=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;ops&lt;/b&gt;" in page
    assert 'href="http://reporter.example.com/alerts"' in page
    ended = resolved.get_body(("plain",)).get_content()
    assert "RESOLVED cpu_high" in ended and "ended: 2026-11-02 09:05:20 CET" in ended


def _notification(now: datetime) -> Notification:
    labels = {"alertname": "disk_high", "severity": "warning"}
    return Notification(id="msg_email_test", receiver="mail", created_at=now, external_url="http://r.example",
                        alerts=[AlertNotice("firing", labels, {"summary": "disk 91%"}, now, None, "0123456789abcdef")])


def _queue_one(settings, history, clock):
    config = load_alerting(settings)
    receiver = config.receivers[0]
    outbox = Outbox(history.engine, config.receivers, config.defaults, clock=clock)
    outbox.enqueue("msg_email_test", "mail", receiver.render(_notification(clock()), settings.tz), 1, clock())
    return outbox


def test_smtp_4xx_is_retried_and_then_delivered(env, smtp):
    settings, history = env
    clock = Clock()
    outbox = _queue_one(settings, history, clock)
    smtp.answer("451 4.3.0 Mailbox busy, try later")
    assert deliver(outbox) == 0
    row = outbox.status("msg_email_test")
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_status_code"] == 451
    assert "451" in row["last_error"] and "Mailbox busy" in row["last_error"]
    smtp.answer(None)
    clock.now += timedelta(seconds=2)  # past the backoff (backoff_max = 1 s)
    assert deliver(outbox) == 1
    assert outbox.status("msg_email_test")["status"] == "delivered" and smtp.handler.refused == 1
    assert smtp.wait_for(1)[0]["Subject"] == "[FIRING:1] disk_high"
    assert smtp.wait_for(1)[0]["Message-ID"] == "<msg_email_test@reporter>"  # the same on every attempt


def test_smtp_5xx_is_a_permanent_failure_with_the_answer(env, smtp):
    settings, history = env
    outbox = _queue_one(settings, history, Clock())
    smtp.answer("550 5.1.1 No such user here")
    assert deliver(outbox) == 0
    row = outbox.status("msg_email_test")
    assert row["status"] == "failed" and row["attempts"] == 1 and row["last_status_code"] == 550
    assert "No such user here" in row["last_error"] and "permanent" in row["last_error"]
    with history.engine.connect() as conn:
        assert [r.outcome for r in conn.execute(delivery_attempts.select())] == ["failed"]


def test_connection_refused_is_retried(env, refused_port):
    settings, history = env
    settings = settings.model_copy(update={"smtp_port": refused_port})
    outbox = _queue_one(settings, history, Clock())
    assert deliver(outbox) == 0
    row = outbox.status("msg_email_test")
    assert row["status"] == "pending" and row["last_status_code"] is None
    assert f"SMTP 127.0.0.1:{refused_port}" in row["last_error"]


def test_an_email_receiver_without_smtp_host_is_refused(env):
    settings, _history = env
    with pytest.raises(AlertingConfigError) as info:
        load_alerting(settings.model_copy(update={"smtp_host": None}))
    assert str(info.value) == (f"{settings.alerting_file}: receivers[0] (mail): REPORTER_SMTP_HOST is not set; "
                               "an email receiver sends through the SMTP server of the REPORTER_SMTP_* settings")


def test_check_config_exits_2_naming_the_missing_smtp_host(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[[receivers]]\nname = "mail"\ntype = "email"\nto = ["oncall@example.com"]\n')
    result = subprocess.run([sys.executable, "-m", "reporter", "check-config"], cwd=tmp_path,
                            env={"REPORTER_ALERTING_FILE": str(path), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "receivers[0] (mail)" in lines[0] and "REPORTER_SMTP_HOST" in lines[0]


@pytest.mark.parametrize(("to", "expected"), [
    ("[]", "receivers[0] (mail).to: List should have at least 1 item"),
    ('["not-an-address"]', "receivers[0] (mail).to: 'not-an-address' is not an email address"),
])
def test_bad_to_names_the_field(env, to, expected):
    settings, _history = env
    path = settings.alerting_file
    with open(path, "w") as f:
        f.write(f'[[receivers]]\nname = "mail"\ntype = "email"\nto = {to}\n')
    with pytest.raises(AlertingConfigError) as info:
        load_alerting(settings)
    assert expected in str(info.value)


def test_an_acknowledged_alert_says_who_and_when_escaped(env, smtp):
    from reporter.alerting.acks import AckStore

    settings, history = env
    alerting = Alerting(settings, load_alerting(settings), history)
    for t in range(0, 310, 10):
        alerting.evaluate(snapshot(t, cpu=95))
    alerting.dispatcher.dispatch(snapshot(310).timestamp)
    [fp] = alerting.evaluator.records
    AckStore(history.engine).ack(fp, "ann <b>", "on it & more", snapshot(315).timestamp)
    [listed] = alerting.evaluate(snapshot(320, cpu=95)).alerts  # the leader's snapshot and /alerts list it
    assert (listed.acknowledged_by, listed.ack_comment) == ("ann <b>", "on it & more")
    alerting.evaluate(snapshot(330, cpu=70))
    alerting.dispatcher.dispatch(snapshot(340).timestamp)
    assert deliver(alerting.outbox) == 2
    firing, resolved = smtp.wait_for(2)
    assert "acknowledged" not in firing.get_body(("plain",)).get_content()
    text = resolved.get_body(("plain",)).get_content()
    assert "acknowledged: by ann <b> at 2026-11-02 09:05:15 CET: on it & more" in text
    assert "by ann &lt;b&gt; at 2026-11-02 09:05:15 CET: on it &amp; more" in resolved.get_body(("html",)).get_content()
