"""``reporter ack`` as a user runs it (subprocesses, a real history): by fingerprint, by alert name (every active
alert of it), the errors; ``reporter alerts`` then says who acknowledged."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime

import pytest

from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.store.history import History
from tests.snapshots import FEATURES
from tests.test_cli import reporter

ACTIVE = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
WEB1 = {"alertname": "cpu_high", "severity": "critical", "host": "web-1.example.com"}
WEB2 = {"alertname": "cpu_high", "severity": "critical", "host": "web-2.example.com"}
DISK = {"alertname": "disk_high", "severity": "warning", "host": "web-1.example.com"}


@pytest.fixture
def env(tmp_path):
    """A history with cpu_high firing on two hosts and disk_high resolved (awaiting its notification)."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url, FEATURES)
    changes = [(AlertRecord(fingerprint(labels), labels["alertname"], labels, {"summary": "s"}, AlertState.FIRING,
                            ACTIVE, ACTIVE), "firing") for labels in (WEB1, WEB2)]
    changes.append((AlertRecord(fingerprint(DISK), "disk_high", DISK, {"summary": "s"}, AlertState.INACTIVE,
                                ACTIVE, ACTIVE, ACTIVE.replace(hour=11)), "resolved"))
    AlertStore(history.engine).save(changes, ACTIVE)
    history.close()
    return {"REPORTER_HISTORY_URL": url, "REPORTER_TIMEZONE": "UTC"}


def acknowledged(tmp_path, env):
    result = reporter("alerts", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return {a["fingerprint"]: a["acknowledged"] for a in json.loads(result.stdout)}


def test_ack_by_fingerprint_with_comment_and_by(tmp_path, env):
    fp = fingerprint(WEB1)
    result = reporter("ack", fp, "--comment", "restarting workers", "--by", "ann", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"acknowledged {fp} cpu_high host=web-1.example.com (firing) by ann at 2")
    got = acknowledged(tmp_path, env)
    assert got[fp]["by"] == "ann" and got[fp]["comment"] == "restarting workers" and got[fp]["at"].endswith("Z")
    assert got[fingerprint(WEB2)] is None and got[fingerprint(DISK)] is None
    text = reporter("alerts", cwd=tmp_path, env=env).stdout
    assert "acknowledged by ann at " in text and ": restarting workers (no repeats, no escalation)" in text


def test_ack_by_alertname_acknowledges_and_lists_every_active_alert_of_it(tmp_path, env):
    result = reporter("ack", "cpu_high", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == [fingerprint(WEB1), fingerprint(WEB2)]  # by alertname, labels
    assert all(f"by {getpass.getuser()} at " in line for line in lines)  # --by defaults to the OS user
    got = acknowledged(tmp_path, env)
    assert got[fingerprint(WEB1)]["by"] == got[fingerprint(WEB2)]["by"] == getpass.getuser()


@pytest.mark.parametrize(("target", "message"), [
    ("no_such_alert", "reporter: ack: no pending or firing alert has the fingerprint or alert name "
                      "'no_such_alert' (active: cpu_high)"),
    ("disk_high", "reporter: ack: no pending or firing alert has the fingerprint or alert name 'disk_high'"),
    (fingerprint(DISK), f"'{fingerprint(DISK)}' (active: cpu_high)"),
])
def test_ack_of_nothing_active_exits_1_with_one_line(tmp_path, env, target, message):
    result = reporter("ack", target, cwd=tmp_path, env=env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert message in line and result.stdout == ""
    assert not any(acknowledged(tmp_path, env).values())


def test_ack_with_a_too_long_name_exits_1(tmp_path, env):
    result = reporter("ack", "cpu_high", "--by", "x" * 65, cwd=tmp_path, env=env)
    assert result.returncode == 1 and result.stderr.strip() == "reporter: ack: by: at most 64 characters"
