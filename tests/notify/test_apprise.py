"""``type = "apprise"``: delivery through Apprise's json:// and form:// schemes to a real loopback receiver,
retried through the outbox on a failed send, its URLs masked, a bad URL refused at start (exit 2)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from reporter.alerting.loading import AlertingConfigError, load_alerting
from reporter.alerting.model import AlertNotice, fingerprint
from reporter.logs import _UTCFormatter
from reporter.masking import mask
from reporter.notify.notification import Notification
from reporter.notify.outbox import Outbox
from reporter.settings import load_settings
from tests.notify.helpers import check_config
from tests.receiver import Receiver
from tests.snapshots import FEATURES

PASSWORD = "s3cret-apprise-pw"
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _config(tmp_path, urls: str):
    path = tmp_path / "alerting.toml"
    path.write_text('[defaults]\nbackoff_initial = "0.01s"\nbackoff_max = "0.01s"\n'
                    f'[[receivers]]\nname = "ops"\ntype = "apprise"\nurls = {urls}\n')
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(path))
    return load_alerting(settings)


def _notification(status: str) -> Notification:
    labels = {"alertname": "cpu_high", "severity": "critical", "host": "web-1"}
    alert = AlertNotice(status=status, labels=labels, annotations={"summary": "CPU <b>95%</b>"}, starts_at=START,
                        ends_at=START if status == "resolved" else None, fingerprint=fingerprint(labels),
                        generator_url=None)
    return Notification(id=f"ntf_{status}", receiver="ops", alerts=[alert], created_at=START, group_labels={},
                        external_url=None, truncated=0)


def _deliver(history, config, notification: Notification) -> int:
    receiver = config.receivers[0]
    outbox = Outbox(history.engine, config.receivers, config.defaults)
    body = receiver.kind.render(notification, ZoneInfo("UTC"))
    outbox.enqueue(notification.id, "ops", body, 1, datetime.now(UTC))
    return asyncio.run(outbox.deliver_due(None))


@pytest.mark.parametrize("scheme", ["json", "form"])
def test_firing_and_resolved_are_delivered_through_apprise(tmp_path, history, scheme):
    receiver = Receiver()
    try:
        config = _config(tmp_path, f'["{scheme}://127.0.0.1:{receiver.port}/hook"]')
        for status in ("firing", "resolved"):
            _deliver(history, config, _notification(status))
        got = receiver.wait_for(2)
        assert len(got) == 2
        texts = [r.body.decode() for r in got]
        assert "FIRING" in texts[0] and "cpu_high" in texts[0] and "web-1" in texts[0] and "CPU" in texts[0]
        assert "RESOLVED" in texts[1]
    finally:
        receiver.stop()


def test_a_500_then_200_is_delivered_on_retry(tmp_path, history):
    receiver = Receiver()
    receiver.script = [(500, {})]
    try:
        config = _config(tmp_path, f'["json://127.0.0.1:{receiver.port}/hook"]')
        outbox = Outbox(history.engine, config.receivers, config.defaults)
        body = config.receivers[0].kind.render(_notification("firing"), ZoneInfo("UTC"))
        outbox.enqueue("ntf_retry", "ops", body, 1, datetime.now(UTC))
        asyncio.run(outbox.deliver_next(None, "ops"))
        status = outbox.status("ntf_retry")
        assert status["attempts"] == 1 and "Apprise could not deliver" in status["last_error"]
        assert receiver.received == []
        time.sleep(0.05)
        asyncio.run(outbox.deliver_due(None))
        assert len(receiver.wait_for(1)) == 1
    finally:
        receiver.stop()


def test_url_secrets_are_masked_in_logs(tmp_path, history, caplog):
    receiver = Receiver()
    receiver.script = [(500, {})]
    try:
        url = f"json://user:{PASSWORD}@127.0.0.1:{receiver.port}/hook"
        config = _config(tmp_path, f'["{url}"]')
        assert PASSWORD not in mask(f"sending to {url}")
        with caplog.at_level(logging.DEBUG):
            _deliver(history, config, _notification("firing"))
        lines = [_UTCFormatter("%(message)s").format(r) for r in caplog.records]
        assert lines and not any(PASSWORD in line for line in lines)
    finally:
        receiver.stop()


def test_bad_url_is_refused_naming_the_field(tmp_path):
    with pytest.raises(AlertingConfigError, match=r"receivers\[0\] \(ops\)\.urls: .*urls\[0\] is not a valid") as info:
        _config(tmp_path, f'["nosuchscheme://u:{PASSWORD}@x"]')
    assert PASSWORD not in str(info.value)


def test_check_config_exits_2_on_a_bad_url(tmp_path):
    result = check_config(tmp_path, f'[[receivers]]\nname = "ops"\ntype = "apprise"\nurls = ["nosuchscheme://u:{PASSWORD}@x"]\n')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "receivers[0] (ops).urls" in lines[0] and PASSWORD not in lines[0]


def test_apprise_is_not_loaded_without_an_apprise_receiver():
    code = ("import sys, reporter.notify.receivers.registry, reporter.notify.outbox, reporter.notify.receivers.apprise; "
            "print('apprise' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_a_hung_endpoint_is_bounded_by_the_timeout(tmp_path, history):
    from tests.receiver import DrippingReceiver

    peer = DrippingReceiver(interval=1.0)
    try:
        path = tmp_path / "alerting.toml"
        path.write_text(f'[[receivers]]\nname = "ops"\ntype = "apprise"\ntimeout = "1s"\n'
                        f'urls = ["json://127.0.0.1:{peer.port}/hook"]\n')
        config = load_alerting(load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}",
                                             ai_features=FEATURES, alerting_file=str(path)))
        outbox = Outbox(history.engine, config.receivers, config.defaults)
        outbox.enqueue("ntf_hung", "ops", config.receivers[0].kind.render(_notification("firing"), ZoneInfo("UTC")),
                       1, datetime.now(UTC))
        import apprise  # noqa: F401  (loaded before the clock starts: its first import takes seconds on a busy machine)

        started = time.monotonic()
        asyncio.run(outbox.deliver_next(None, "ops"))
        assert time.monotonic() - started < 5  # timeout 1 s (the peer would drip for 10 000 s)
        assert outbox.status("ntf_hung")["attempts"] == 1
    finally:
        peer.stop()


def test_an_acknowledged_alert_says_who_through_apprise(tmp_path, history):
    from dataclasses import replace

    receiver = Receiver()
    try:
        config = _config(tmp_path, f'["json://127.0.0.1:{receiver.port}/hook"]')
        plain = _notification("resolved")
        acked = replace(plain.alerts[0], acknowledged_by="ann", acknowledged_at=START, ack_comment="on it")
        _deliver(history, config, replace(plain, alerts=[acked]))
        [got] = receiver.wait_for(1)
        assert "acknowledged by ann at 2024-05-01 12:00:00 UTC" in got.json()["message"]
    finally:
        receiver.stop()
