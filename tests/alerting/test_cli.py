"""``reporter alerts`` and ``reporter test-alert`` as a user runs them (subprocesses, a real history, a real
HTTP receiver on loopback)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.snapshot import format_utc
from reporter.store.history import History
from tests.alerting.helpers import FEATURES
from tests.receiver import Receiver as HTTPReceiver
from tests.test_cli import reporter


@pytest.fixture
def history_env(tmp_path):
    """A history file with one firing alert; the settings that point the CLI at it."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url, FEATURES)
    labels = {"alertname": "cpu_high", "severity": "critical"}
    active = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
    AlertStore(history.engine).save([(AlertRecord(fingerprint(labels), "cpu_high", labels, {"summary": "CPU"},
                                                  AlertState.FIRING, active, datetime(2026, 12, 3, 10, 5, tzinfo=UTC)),
                                      "firing")], active)
    history.close()
    return {"REPORTER_HISTORY_URL": url}


def test_alerts_json_writes_times_as_the_snapshot_does(tmp_path, history_env):
    result = reporter("alerts", "--json", cwd=tmp_path, env=history_env)
    assert result.returncode == 0, result.stderr
    [alert] = json.loads(result.stdout)
    assert alert["active_at"] == "2026-12-03T10:00:00.123Z" == format_utc(datetime(2026, 12, 3, 10, 0, 0, 123456,
                                                                                    tzinfo=UTC))
    assert alert["fired_at"] == "2026-12-03T10:05:00.000Z"
    assert alert["resolved_at"] is None
    assert not re.search(r"\+00:00|\.\d{6}", result.stdout)


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "http://127.0.0.1:8321"),
    ({"REPORTER_HTTP_PORT": "9464"}, "http://127.0.0.1:9464"),
    ({"REPORTER_EXTERNAL_URL": "https://reporter.example.com"}, "https://reporter.example.com"),
])
def test_test_alert_sends_the_external_url_as_the_daemon(tmp_path, history_env, env, expected):
    receiver = HTTPReceiver()
    try:
        result = reporter("test-alert", "--wait", "10", cwd=tmp_path,
                          env={**history_env, "REPORTER_WEBHOOK_URL": receiver.url, **env})
        assert result.returncode == 0, result.stderr
        [got] = receiver.wait_for(1)
    finally:
        receiver.stop()
    payload = got.json()
    assert payload["externalURL"] == expected
    assert payload["alerts"][0]["generatorURL"] == f"{expected}/alerts"
