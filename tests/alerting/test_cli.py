"""``reporter alerts`` and ``reporter test-alert`` as a user runs them (subprocesses, a real history, a real
HTTP receiver on loopback), and against a running daemon: a silenced alert is marked suppressed with the silence
id in `reporter alerts`, GET /alerts and the snapshot; an alert that no receiver accepts says so."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx
import pytest
import redis

from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.base.timefmt import format_utc
from reporter.store.history import History
from tests.conftest import free_port, wait_for
from tests.daemon.helpers import fast_settings, start_daemon
from tests.receiver import Receiver as HTTPReceiver
from tests.snapshots import FEATURES
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


def test_alerts_say_when_a_receivers_latest_notification_was_not_delivered(tmp_path, history_env):
    """A notification queued is not one delivered: `reporter alerts` says how the receiver's latest fares."""
    from reporter.store.alert_schema import outbox

    env = {**history_env, "REPORTER_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    history = History(history_env["REPORTER_HISTORY_URL"], FEATURES)
    with history.engine.begin() as conn:
        conn.execute(outbox.insert().values(id="msg_1", receiver="webhook", created_at=1, status="delivered",
                                            body=b"{}", alert_count=1, attempts=1, next_attempt_at=1))
        conn.execute(outbox.insert().values(id="msg_2", receiver="webhook", created_at=2, status="failed",
                                            body=b"{}", alert_count=1, attempts=1, next_attempt_at=2,
                                            last_status_code=404, last_error="HTTP 404: no_service"))
    history.close()
    result = reporter("alerts", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert ("delivery to webhook: its latest notification is failed after 1 attempt(s), last answer 404: "
            "HTTP 404: no_service") in result.stdout
    [alert] = json.loads(reporter("alerts", "--json", cwd=tmp_path, env=env).stdout)
    assert alert["deliveries"] == {"webhook": {"status": "failed", "attempts": 1, "status_code": 404,
                                               "error": "HTTP 404: no_service"}}


def test_alerts_show_the_host_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url, FEATURES, host="web-2")
    active = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    changes = []
    for labels in ({"alertname": "cpu_high", "severity": "critical", "host": "web-2"},
                   {"alertname": "cpu_high", "severity": "critical", "host": "gpu-1"},
                   {"alertname": "no_active_users", "severity": "warning"}):
        changes.append((AlertRecord(fingerprint(labels), labels["alertname"], labels, {"summary": "s"},
                                    AlertState.FIRING, active, active), "firing"))
    AlertStore(history.engine).save(changes, active)
    history.close()
    env = {"REPORTER_HISTORY_URL": url, "REPORTER_HOST_NAME": "web-2"}
    text = reporter("alerts", cwd=tmp_path, env=env).stdout
    heads = [line.split() for line in text.splitlines() if line and not line.startswith(" ")]
    assert heads == [["firing", "gpu-1", "cpu_high", "critical"], ["firing", "web-2", "cpu_high", "critical"],
                     ["firing", "-", "no_active_users", "warning"]]
    rows = json.loads(reporter("alerts", "--json", cwd=tmp_path, env=env).stdout)
    assert sorted((r["alertname"], r["host"]) for r in rows) == [
        ("cpu_high", "gpu-1"), ("cpu_high", "web-2"), ("no_active_users", None)]


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


def test_test_alert_waits_for_a_receiver_slower_than_5s(tmp_path, history_env):
    """The webhook's timeout (10 s by default) is the limit, not httpx's 5 s default: one attempt, delivered."""
    receiver = HTTPReceiver(delay=6.0)
    try:
        result = reporter("test-alert", "--wait", "20", cwd=tmp_path,
                          env={**history_env, "REPORTER_WEBHOOK_URL": receiver.url})
    finally:
        receiver.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered after 1 attempt(s)" in result.stdout
    assert len(receiver.received) == 1 and receiver.attempts == 1


RULES = """
[defaults]
group_wait = "0s"
group_interval = "0s"

[rules.demo_requests_high]
metric = "ai.total_requests"
op = ">"
threshold = 100
severity = "critical"

[rules.demo_latency_high]
metric = "ai.avg_response_time"
op = ">"
threshold = 1
severity = "warning"

[[receivers]]
name = "pager"
type = "webhook"
url = "{url}"
matchers = ['severity=~"critical"']
"""


def cli(tmp_path, settings, *args):
    result = reporter(*args, cwd=tmp_path, env=settings)
    assert result.returncode == 0, result.stderr
    return result.stdout


def text_blocks(text):
    """``reporter alerts`` output by alert name: a block starts with an unindented line ``state host name ...``."""
    blocks, name = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            name = line.split()[2]
            blocks[name] = line
        elif name:
            blocks[name] += "\n" + line
    return blocks


@pytest.mark.slow
def test_silenced_alert_is_suppressed_everywhere_and_unrouted_alert_says_so(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = HTTPReceiver()
    port = free_port()
    (tmp_path / "alerting.toml").write_text(RULES.replace("{url}", receiver.url))
    settings = fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml")
    client.set(redis_prefix + "total_requests", 150)
    client.set(redis_prefix + "total_time", 150 * 3)  # 3 s a request: demo_latency_high (warning) fires too
    proc = start_daemon(tmp_path, settings, port)
    try:
        def firing():
            alerts = httpx.get(f"http://127.0.0.1:{port}/alerts").json()["alerts"]
            names = {a["alertname"]: a for a in alerts if a["state"] == "firing"}
            return names if {"demo_requests_high", "demo_latency_high"} <= set(names) else None

        before = wait_for(firing)
        assert not before["demo_requests_high"]["suppressed"] and before["demo_requests_high"]["silenced_by"] == []

        out = cli(tmp_path, settings, "silence", "add", "--match", "alertname=demo_requests_high", "--duration", "1h",
                  "--comment", "maintenance")
        silence_id = out.split()[0]
        assert silence_id.startswith("sil_")

        def suppressed():
            alerts = firing()
            return alerts if alerts and alerts["demo_requests_high"]["suppressed"] else None

        alerts = wait_for(suppressed)
        assert alerts["demo_requests_high"]["silenced_by"] == [silence_id]
        assert alerts["demo_latency_high"]["suppressed"] is False
        snapshot = httpx.get(f"http://127.0.0.1:{port}/snapshot").json()
        by_name = {a["alertname"]: a for a in snapshot["alerts"]}
        assert by_name["demo_requests_high"]["suppressed"] is True
        assert by_name["demo_requests_high"]["silenced_by"] == [silence_id]
        assert by_name["demo_latency_high"]["suppressed"] is False

        text = cli(tmp_path, settings, "alerts")
        blocks = text_blocks(text)
        requests_block, latency_block = blocks["demo_requests_high"], blocks["demo_latency_high"]
        assert "[suppressed]" in requests_block and f"silenced by {silence_id}" in requests_block
        assert "[suppressed]" not in latency_block
        # demo_latency_high is a warning: the only receiver takes critical alerts
        assert "last notification: no receiver matches" in latency_block
        assert "not notified yet" not in latency_block

        rows = {a["alertname"]: a for a in json.loads(cli(tmp_path, settings, "alerts", "--json"))}
        assert rows["demo_requests_high"]["suppressed"] is True
        assert rows["demo_requests_high"]["silenced_by"] == [silence_id]
        assert rows["demo_latency_high"]["suppressed"] is False and rows["demo_latency_high"]["silenced_by"] == []
        assert rows["demo_latency_high"]["receivers"] == [] and rows["demo_requests_high"]["receivers"] == ["pager"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        receiver.stop()
        client.close()


@pytest.mark.slow
def test_alerts_without_any_receiver_say_no_receiver_matches(tmp_path, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    port = free_port()
    (tmp_path / "alerting.toml").write_text(RULES.split("[[receivers]]")[0])
    settings = fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml")
    client.set(redis_prefix + "total_requests", 150)
    proc = start_daemon(tmp_path, settings, port)
    try:
        wait_for(lambda: any(a["state"] == "firing" for a in
                             httpx.get(f"http://127.0.0.1:{port}/alerts").json()["alerts"]))
        text = cli(tmp_path, settings, "alerts")
        assert "demo_requests_high" in text
        assert "last notification: no receiver matches (no receiver is configured)" in text
        assert "not notified yet" not in text
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        client.close()


def test_silence_add_list_expire_on_a_real_history(tmp_path, history_env):
    def run(*args):
        return reporter("silence", *args, cwd=tmp_path, env=history_env)

    assert run("list").stdout.strip() == "no silences"
    added = run("add", "--match", "alertname=cpu_high", "--match", "service=redis", "--duration", "2h",
                "--comment", "maintenance window", "--author", "ops")
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.split()[0]
    assert silence_id.startswith("sil_") and "alertname=cpu_high" in added.stdout
    listed = run("list")
    assert listed.returncode == 0 and silence_id in listed.stdout
    assert "service=redis" in listed.stdout and "by ops: maintenance window" in listed.stdout
    expired = run("expire", silence_id)
    assert expired.returncode == 0 and expired.stdout.strip() == f"{silence_id} expired"
    assert run("list").stdout.strip() == "no silences"
    assert silence_id in run("list", "--all").stdout  # kept, shown with --all
    again = run("expire", silence_id)
    assert again.returncode == 1 and f"no active or pending silence {silence_id}" in again.stderr
    assert "Traceback" not in again.stderr


INHIBITED = RULES.split("[[receivers]]")[0] + """
[[receivers]]
name = "all"
type = "webhook"
url = "{url}"

[[inhibit_rules]]
source_matchers = ['alertname="demo_requests_high"']
target_matchers = ['alertname="demo_latency_high"']
"""


@pytest.mark.slow
def test_inhibited_alert_is_shown_suppressed_everywhere_and_sent_when_its_source_resolves(tmp_path, redis_url,
                                                                                          redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = HTTPReceiver()
    port = free_port()
    (tmp_path / "alerting.toml").write_text(INHIBITED.replace("{url}", receiver.url))
    settings = fast_settings(tmp_path, redis_url, redis_prefix, tmp_path / "alerting.toml")
    checked = reporter("check-config", cwd=tmp_path, env=settings)
    assert checked.returncode == 0, checked.stderr
    assert "inhibit_rules[0]: alertname=demo_requests_high mutes alertname=demo_latency_high" in checked.stderr
    assert "receiver all (webhook): group_by [alertname], group_wait 0s, group_interval 0s" in checked.stderr
    client.set(redis_prefix + "total_requests", 150)
    client.set(redis_prefix + "total_time", 150 * 3)  # 3 s a request: demo_latency_high fires too
    proc = start_daemon(tmp_path, settings, port)
    try:
        def alerts():
            found = httpx.get(f"http://127.0.0.1:{port}/alerts").json()["alerts"]
            names = {a["alertname"]: a for a in found if a["state"] == "firing"}
            return names if {"demo_requests_high", "demo_latency_high"} <= set(names) else None

        both = wait_for(alerts)
        source, target = both["demo_requests_high"], both["demo_latency_high"]
        assert target["suppressed"] and target["inhibited_by"] == [source["fingerprint"]]
        assert target["suppressed_reason"] == "inhibited by inhibit_rules[0] (source: alertname=demo_requests_high)"
        assert not source["suppressed"] and target["silenced_by"] == []
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert re.search(r'reporter_alert_suppressed\{[^}]*alertname="demo_latency_high"[^}]*reason="inhibited"',
                         metrics)
        assert 'reporter_alert_suppressed{alertname="demo_requests_high"' not in metrics
        block = text_blocks(cli(tmp_path, settings, "alerts"))["demo_latency_high"]
        assert "[suppressed]" in block and "suppressed: inhibited by inhibit_rules[0]" in block
        assert "last notification: none (suppressed)" in block
        wait_for(lambda: receiver.received)
        assert {a["labels"]["alertname"] for r in receiver.received for a in r.json()["alerts"]} \
            == {"demo_requests_high"}

        client.set(redis_prefix + "total_requests", 90)  # the source resolves; still 3 s a request
        client.set(redis_prefix + "total_time", 90 * 3)

        def heard():
            return {(a["labels"]["alertname"], a["status"]) for r in receiver.received for a in r.json()["alerts"]}

        wait_for(lambda: {("demo_latency_high", "firing"), ("demo_requests_high", "resolved")} <= heard())
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        receiver.stop()
        client.close()


def test_silence_add_with_start_and_end_is_pending_until_it_starts(tmp_path, history_env):
    def run(*args):
        return reporter("silence", *args, cwd=tmp_path, env={**history_env, "REPORTER_TIMEZONE": "Europe/Berlin"})

    added = run("add", "--match", "host=db1", "--start", "2099-03-01T02:00", "--end", "2099-03-01T04:00+01:00",
                "--comment", "kernel update")
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.split()[0]
    assert added.stdout.strip() == (f"{silence_id} from 2099-03-01 02:00:00 CET until 2099-03-01 04:00:00 CET "
                                    f"(pending): host=db1")
    clock = run("add", "--match", "host=db2", "--start", "02:00", "--end", "01:00", "--comment", "overnight")
    assert clock.returncode == 0, clock.stderr  # HH:MM: the next 02:00, then the next 01:00 after it
    assert re.search(r"from \S+ 02:00:00 CE[S]?T until \S+ 01:00:00 CE[S]?T", clock.stdout)
    now = run("add", "--match", "host=db3", "--end", "23:59", "--comment", "today")
    assert now.returncode == 0 and " from " not in now.stdout and "(pending)" not in now.stdout
    lines = {line.split()[0]: line for line in run("list").stdout.splitlines()}
    assert lines[silence_id].split()[1] == "pending" and "by " in lines[silence_id]
    assert lines[now.stdout.split()[0]].split()[1] == "active"
    expired = run("expire", silence_id)  # a pending silence can be cancelled: it never starts
    assert expired.returncode == 0
    assert silence_id not in run("list").stdout and "expired" in run("list", "--all").stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--start", "2099-03-01T04:00Z", "--end", "2099-03-01T02:00Z"], "silence add: the end (2099-03-01T02:00:00"
                                                                     "+00:00) must be after the start"),
    (["--start", "2020-01-01T00:00Z", "--end", "2020-01-01T02:00Z"], "silence add: the end (2020-01-01T02:00:00"
                                                                     "+00:00) is in the past"),
    (["--start", "25:00"], "silence add --start: '25:00' is not a time"),
    (["--end", "tomorrow"], "silence add --end: 'tomorrow' is not a time"),
    (["--end", "04:00", "--duration", "2h"], "silence add --end: give --end or --duration, not both"),
    (["--duration", "0s"], "silence add: the duration must be positive"),
])
def test_silence_add_bad_start_or_end_is_one_line_exit_2(tmp_path, history_env, args, expected):
    result = reporter("silence", "add", "--match", "host=db1", "--comment", "c", *args, cwd=tmp_path,
                      env=history_env)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_text_written_by_others_cannot_drive_the_terminal(tmp_path):
    """A silence comment or author, an acknowledgement or a summary comes from the API or the alerting file:
    an OSC sequence (retitles the terminal, or worse), a bell and a line break went raw to the operator's
    terminal from `reporter alerts` and `reporter silence list` (a forged line included)."""
    evil = "ok\x1b]0;owned\x07\r\nforged line\x9b2J"
    url = f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url, FEATURES)
    labels = {"alertname": "cpu_high", "severity": "critical", "team": evil}
    active = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    AlertStore(history.engine).save([(AlertRecord(fingerprint(labels), "cpu_high", labels, {"summary": evil},
                                                  AlertState.FIRING, active, active), "firing")], active)
    history.close()
    env = {"REPORTER_HISTORY_URL": url}
    for args in (("silence", "add", "--match", "alertname=cpu_high", "--match", f"team={evil}", "--duration", "1h",
                  "--comment", evil, "--author", evil), ("ack", "cpu_high", "--comment", evil, "--by", evil)):
        result = reporter(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", result.stdout), repr(result.stdout)
    for args in (("alerts",), ("silence", "list")):
        result = reporter(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "ok" in result.stdout and "forged line" in result.stdout
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", result.stdout), repr(result.stdout)
        assert not any(line.startswith("forged line") for line in result.stdout.splitlines())
