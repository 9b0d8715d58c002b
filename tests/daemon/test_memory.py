"""What the running daemon keeps resident: nothing it needs once (Alembic) or never on its settings (the asyncio
Redis client without an API token, the report's mail and PDF stack, WebSockets). See bench/daemon_idle.py for
the RSS and idle CPU figures."""

import json
import sqlite3
import subprocess
import sys

import pytest

from reporter.daemon.migration import MigrationFailed, migrate_in_child
from reporter.store.migrate import HEAD
from tests.conftest import free_port
from tests.daemon.helpers import RUN, daemon_env

pytestmark = pytest.mark.slow

# The daemon's start-up path in a fresh interpreter: settings and alerting file loaded as `reporter run` does,
# run() in the main thread until the first sample is served, then SIGTERM; prints what stayed loaded.
IN_PROCESS = r"""
import gc, json, os, signal, sys, threading, time, urllib.request

from reporter.daemon.run import run
from reporter.settings import load_settings

settings = load_settings(None)
request = urllib.request.Request(f"http://127.0.0.1:{settings.http_port}/snapshot")
if settings.api_token:
    request.add_header("Authorization", f"Bearer {settings.api_token}")
served = []

def stop_after_first_sample():
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                served.append(response.status)
                break
        except OSError:
            time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_after_first_sample, daemon=True).start()
if settings.role == "node":  # as `reporter run`: an agent reads no alerting file
    from reporter.alerting.loading import load_alerting
    config = load_alerting(settings)
else:
    config = None
code = run(settings, config)
modules = sorted(name for name, module in sys.modules.items() if module is not None)
import redis.asyncio  # the redis package itself imports it (redis-py >= 5); what matters is no client
clients = sum(1 for o in gc.get_objects() if isinstance(o, redis.asyncio.Redis))
print(json.dumps({"code": code, "served": served, "modules": modules, "async_redis_clients": clients}))
"""

NEVER_RESIDENT = ("alembic", "mako", "pygments", "weasyprint", "jinja2", "smtplib", "websockets", "watchfiles")


def run_in_process(tmp_path, redis_url, **extra) -> dict:
    """The daemon's start-up path in a child (see IN_PROCESS); ``extra``: REPORTER_* settings by full name."""
    env = daemon_env({
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'data' / 'history.db'}",
        "REPORTER_SAMPLE_INTERVAL": "1",
        "REPORTER_PROBE_TIMEOUT": "0.5",
        "REPORTER_REDIS_URL": redis_url,
        "REPORTER_LOG_LEVEL": "WARNING",
        **extra,
    }, free_port())
    done = subprocess.run([sys.executable, "-c", IN_PROCESS], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["served"] == [200], done.stderr[-3000:]
    return result


def test_a_daemon_on_defaults_keeps_no_migration_tool_client_or_report_stack(tmp_path, redis_url):
    result = run_in_process(tmp_path, redis_url)
    loaded = {name.split(".")[0] for name in result["modules"]}
    assert not loaded & set(NEVER_RESIDENT), sorted(loaded & set(NEVER_RESIDENT))
    assert result["async_redis_clients"] == 0  # the POST endpoint answers 403 without REPORTER_API_TOKEN
    # the history was created, at head, by the migration child
    conn = sqlite3.connect(tmp_path / "data" / "history.db")
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
        assert {"ai_grammar_requests", "ai_scenario_time_seconds"} <= columns  # the default AI features
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental: the daemon's engine settings
    finally:
        conn.close()


def test_with_an_api_token_the_usage_endpoint_gets_its_asyncio_client(tmp_path, redis_url):
    result = run_in_process(tmp_path, redis_url, REPORTER_API_TOKEN="t0ken-for-the-test")
    assert result["async_redis_clients"] == 1
    assert "alembic" not in {name.split(".")[0] for name in result["modules"]}


def test_an_agent_never_leads_and_never_loads_the_alerting_notification_or_report_code(tmp_path, redis_url,
                                                                                         pg_schema_url):
    from tests.fleet.test_leader import stored_epoch

    result = run_in_process(tmp_path, redis_url, REPORTER_HISTORY_URL=pg_schema_url, REPORTER_ROLE="agent",
                            REPORTER_HOST_NAME="agent-1")
    loaded = set(result["modules"])
    for package in ("reporter.alerting", "reporter.notify", "reporter.report"):
        assert not {m for m in loaded if m == package or m.startswith(package + ".")}, package
    assert "reporter.fleet.leader" in loaded and "apscheduler" not in {m.split(".")[0] for m in loaded}
    assert stored_epoch(pg_schema_url) == 0  # no election ever took place
    top = {m.split(".")[0] for m in loaded}
    # cut from an agent: redis-py (~7 MB; it reads no AI counters: its Redis probe PINGs without it and the settings
    # check the URL without it), uvloop (its HTTP server runs on the standard asyncio loop), watchfiles (uvicorn's
    # reload supervisor, never used by any daemon), sqlite3 (a history and an app database on PostgreSQL)
    assert {"redis", "uvloop", "watchfiles", "sqlite3"} & top == set()
    assert "reporter.collect.redis_ping" in loaded


def test_a_fleet_node_alone_leads_and_loads_its_duties(tmp_path, redis_url, pg_schema_url):
    from tests.fleet.test_leader import stored_epoch

    result = run_in_process(tmp_path, redis_url, REPORTER_HISTORY_URL=pg_schema_url, REPORTER_HOST_NAME="node-1")
    assert {"reporter.alerting.pipeline", "reporter.notify.outbox", "reporter.report.job"} <= set(result["modules"])
    assert stored_epoch(pg_schema_url) == 1


def test_migrate_in_child_brings_a_new_history_to_head_with_feature_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'h.db'}"
    migrate_in_child(url, ["grammar", "chess"])
    conn = sqlite3.connect(tmp_path / "sub" / "h.db")
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
        assert "ai_chess_requests" in {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
    finally:
        conn.close()
    migrate_in_child(url, ["grammar", "chess"])  # idempotent


def test_a_failed_migration_names_the_error_and_the_daemon_exits_1_with_one_line(tmp_path):
    bad = tmp_path / "h.db"
    bad.write_bytes(b"this is not a SQLite database, it is text " * 200)
    with pytest.raises(MigrationFailed) as failed:
        migrate_in_child(f"sqlite:///{bad}", [])
    assert failed.value.kind == "DatabaseError" and "not a database" in str(failed.value)
    done = subprocess.run(RUN, cwd=tmp_path, env=daemon_env({"REPORTER_HISTORY_URL": f"sqlite:///{bad}"}, free_port()),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "cannot open history" in done.stderr
    assert "(DatabaseError: (sqlite3.DatabaseError) file is not a database)" in done.stderr
    assert "Traceback" not in done.stderr
