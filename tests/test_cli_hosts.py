"""``reporter hosts`` as a user runs it (a subprocess) on a real PostgreSQL history of three hosts, and on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, text, update

from reporter import __version__
from reporter.store.fleet_schema import leadership
from reporter.store.history import History
from reporter.store.hosts import HostRegistry
from tests.snapshots import FEATURES, snapshot
from tests.test_cli import reporter


def test_hosts_lists_the_fleet_and_exits_1_when_a_host_is_down(pg_schema_url, tmp_path):
    now = datetime.now(UTC)
    web = History(pg_schema_url, FEATURES, host="web-1")
    gpu = History(pg_schema_url, FEATURES, host="gpu-1")
    try:
        web.write(snapshot(when=now - timedelta(seconds=2), host="web-1"))
        gpu.write(snapshot(when=now - timedelta(seconds=4), host="gpu-1", down=("redis",), status="degraded"))
        HostRegistry(gpu.engine).register("gpu-1", "n2", "agent", "0.0.9", 42, None, now)
        with web.engine.begin() as conn:
            conn.execute(update(leadership).where(leadership.c.id == 1).values(epoch=1, host="web-1", node_id="n1"))
        env = {"REPORTER_HISTORY_URL": pg_schema_url, "REPORTER_HOST_NAME": "web-1"}
        result = reporter("hosts", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["NAME", "ROLE", "LEADER", "STATUS", "LAST", "SAMPLE", "VERSION"]
        cells = lines[1].split()
        assert cells[:4] == ["gpu-1", "agent", "no", "degraded"] and cells[5:] == ["s", "ago", "0.0.9"]
        assert 4 <= int(cells[4]) <= 30  # the age of its last sample
        assert lines[2].split()[:4] == ["web-1", "node", "yes", "healthy"]
        assert lines[2].split()[-2:] == ["ago", __version__]  # this node: its own version
        assert lines[1].index("degraded") == lines[0].index("STATUS")  # aligned columns

        gpu.write(snapshot(when=now - timedelta(seconds=1), host="gpu-1"))
        old = History(pg_schema_url, FEATURES, host="old-1")
        old.write(snapshot(when=now - timedelta(minutes=5), host="old-1"))  # 30 intervals of 10 s ago
        old.close()
        result = reporter("hosts", "--json", env=env, cwd=tmp_path)
        assert result.returncode == 1
        hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
        assert hosts["old-1"]["status"] == "down" and hosts["gpu-1"]["status"] == "healthy"
        assert hosts["web-1"]["leader"] is True and hosts["gpu-1"]["role"] == "agent"
        assert result.stderr.strip() == "reporter: down (no sample for 3 intervals of 10 s): old-1"
    finally:
        web.close()
        gpu.close()


def test_hosts_on_sqlite_is_this_host_as_leader(tmp_path):
    env = {"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_HOST_NAME": "solo"}
    missing = reporter("hosts", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "no history at" in missing.stderr  # never an empty new history
    history = History(env["REPORTER_HISTORY_URL"], FEATURES, host="solo")
    history.write(snapshot(when=datetime.now(UTC), host="solo"))
    history.close()
    result = reporter("hosts", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [solo] = json.loads(result.stdout)["hosts"]
    assert (solo["name"], solo["leader"], solo["status"], solo["role"]) == ("solo", True, "healthy", "node")


def test_hosts_only_looks_a_database_without_the_tables_stays_empty(pg_schema_url, tmp_path):
    result = reporter("hosts", env={"REPORTER_HISTORY_URL": pg_schema_url}, cwd=tmp_path)
    assert result.returncode == 1 and "no hosts table" in result.stderr and "reporter run" in result.stderr
    engine = create_engine(pg_schema_url)
    try:
        assert inspect(engine).get_table_names() == []  # nothing created, nothing migrated
    finally:
        engine.dispose()


def test_hosts_bad_setting_exits_2_and_help_says_the_exit_codes(tmp_path):
    result = reporter("hosts", env={"REPORTER_SAMPLE_INTERVAL": "-5"}, cwd=tmp_path)
    assert result.returncode == 2 and "REPORTER_SAMPLE_INTERVAL" in result.stderr
    unreachable = reporter("hosts", env={"REPORTER_HISTORY_URL": "postgresql+psycopg://u:secret@127.0.0.1:1/x"},
                           cwd=tmp_path)
    assert unreachable.returncode == 1 and "cannot read the hosts" in unreachable.stderr
    assert "secret" not in unreachable.stderr and len(unreachable.stderr.strip().splitlines()) == 1
    help_text = reporter("hosts", "--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "1 a host is down" in help_text.stdout and "--json" in help_text.stdout


# --- reporter hosts forget -----------------------------------------------------------------------------------

def run(*args, env, cwd, stdin=subprocess.DEVNULL):
    """``reporter ARGS`` as a process, its stdin ``stdin`` (default: none, as in a script or cron)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    return subprocess.run([sys.executable, "-m", "reporter", *args], env={**full_env, **env}, cwd=cwd,
                          stdin=stdin, capture_output=True, text=True, timeout=60)


def listed(env, cwd) -> set[str]:
    result = run("hosts", "--json", env=env, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return {h["name"] for h in json.loads(result.stdout)["hosts"]}


def stored_samples(history: History, host: str) -> int:
    with history.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM samples WHERE host = :h"), {"h": host}).scalar_one()


@pytest.fixture
def three_hosts(pg_schema_url):
    """web-1 (sampled now), old-1 (stopped 5 minutes ago), gpu-1, each with a stored sample; the env of the CLI."""
    now = datetime.now(UTC)
    histories = {name: History(pg_schema_url, FEATURES, host=name) for name in ("web-1", "old-1", "gpu-1")}
    for name, history in histories.items():
        history.write(snapshot(when=now - timedelta(minutes=5 if name == "old-1" else 0), host=name))
    yield histories, {"REPORTER_HISTORY_URL": pg_schema_url, "REPORTER_HOST_NAME": "web-1"}
    for history in histories.values():
        history.close()


def test_forget_a_stopped_host_removes_it_from_the_list_and_keeps_its_samples(three_hosts, tmp_path):
    histories, env = three_hosts
    assert listed(env, tmp_path) == {"web-1", "old-1", "gpu-1"}
    result = run("hosts", "forget", "old-1", "--yes", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("forgot host old-1: it is no longer listed") and "samples stay" in result.stdout
    assert listed(env, tmp_path) == {"web-1", "gpu-1"}
    assert run("hosts", env=env, cwd=tmp_path).returncode == 0  # no host down any more
    assert stored_samples(histories["old-1"], "old-1") == 1  # left to retention

    again = run("hosts", "forget", "old-1", "--yes", env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "reporter: hosts forget: no host 'old-1' in this fleet; known hosts: gpu-1, web-1"]


def test_forget_refuses_a_running_host(three_hosts, tmp_path):
    from reporter.fleet.leader import Leadership

    histories, env = three_hosts
    node = Leadership(env["REPORTER_HISTORY_URL"], "gpu-1", "n1", 10.0, may_lead=False)
    node.start()  # holds the host-name lock of gpu-1, as its running daemon does
    HostRegistry(histories["gpu-1"].engine).register("gpu-1", "n1", "node", "1.0", 4242, "http://10.0.0.7:8321",
                                                     datetime.now(UTC))
    try:
        result = run("hosts", "forget", "gpu-1", "--yes", env=env, cwd=tmp_path)
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("reporter: hosts forget: host 'gpu-1' is running (pid 4242, address "
                               "http://10.0.0.7:8321, started ") and line.endswith("stop its reporter for good first, "
                                                                                   "then forget it")
        assert "gpu-1" in listed(env, tmp_path)
    finally:
        node.close()
    assert run("hosts", "forget", "gpu-1", "--yes", env=env, cwd=tmp_path).returncode == 0  # stopped: forgotten
    assert listed(env, tmp_path) == {"web-1", "old-1"}


def test_forget_asks_on_a_terminal_and_needs_yes_without_one(three_hosts, tmp_path):
    _, env = three_hosts
    script = run("hosts", "forget", "old-1", env=env, cwd=tmp_path)  # no terminal, no --yes
    assert script.returncode == 2
    assert script.stderr.strip().splitlines() == [
        "reporter: hosts forget: no terminal to confirm on; run `reporter hosts forget old-1 --yes`"]
    for answer, code in (("n", 1), ("y", 0)):
        controller, terminal = os.openpty()
        try:
            os.write(controller, f"{answer}\n".encode())
            result = run("hosts", "forget", "old-1", env=env, cwd=tmp_path, stdin=terminal)
        finally:
            os.close(controller)
            os.close(terminal)
        assert result.returncode == code, result.stderr
        assert result.stdout.startswith("Forget host old-1 (last sample 5 min ago)? It leaves the host list")
        assert ("old-1" in listed(env, tmp_path)) == (answer == "n")
        assert ("reporter: hosts forget: old-1 not forgotten" in result.stderr) == (answer == "n")


def test_forget_on_sqlite_bad_settings_and_an_unreachable_history(tmp_path):
    sqlite = run("hosts", "forget", "solo", "--yes", env={"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}"},
                 cwd=tmp_path)
    assert sqlite.returncode == 2
    [line] = sqlite.stderr.strip().splitlines()
    assert "is SQLite, a single host: there is no fleet to forget a host from" in line
    bad = run("hosts", "forget", "x", "--yes", env={"REPORTER_HISTORY_URL": "::nope"}, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "REPORTER_HISTORY_URL" in bad.stderr
    unreachable = run("hosts", "forget", "x", "--yes",
                      env={"REPORTER_HISTORY_URL": "postgresql+psycopg://u:secret@127.0.0.1:1/x"}, cwd=tmp_path)
    assert unreachable.returncode == 1 and "cannot reach the history" in unreachable.stderr
    assert "secret" not in unreachable.stderr and len(unreachable.stderr.strip().splitlines()) == 1
    help_text = run("hosts", "forget", "--help", env={}, cwd=tmp_path)
    assert help_text.returncode == 0 and "samples are NOT deleted" in help_text.stdout
    assert "forget" in run("hosts", "--help", env={}, cwd=tmp_path).stdout
