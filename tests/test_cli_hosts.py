"""``reporter hosts`` as a user runs it (a subprocess) on a real PostgreSQL history of three hosts, and on SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, inspect, update

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
