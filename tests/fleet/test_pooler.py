"""The leader lock refuses a history URL that reaches PostgreSQL through PgBouncer in transaction mode (session
advisory locks would not hold), against a real PgBouncer; session mode and direct connections are accepted."""

from __future__ import annotations

import subprocess
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from reporter.fleet.leader import Leadership
from reporter.fleet.pooler import SessionRequired, pooling_problem
from tests.conftest import PG_URL, free_port
from tests.daemon.helpers import RUN, daemon_env
from tests.fleet.test_leader import prepare
from tests.pgbouncer import pgbouncer


def schema_of(url: str) -> str:
    return make_url(url).query["options"].split("=", 1)[1]


def connector(url: str):
    parsed = make_url(url)
    return lambda: psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database,
                                   autocommit=True)


def test_a_direct_connection_and_a_session_pool_pass(pg_schema_url):
    connect = connector(PG_URL)
    with connect() as conn:
        assert pooling_problem(conn, connect) is None
    with pgbouncer("session", schema_of(pg_schema_url)) as url:
        connect = connector(url)
        with connect() as conn:
            assert conn.info.backend_pid != conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # a pooler
            assert pooling_problem(conn, connect) is None


def test_a_transaction_pool_is_seen(pg_schema_url):
    with pgbouncer("transaction", schema_of(pg_schema_url)) as url:
        connect = connector(url)
        with connect() as conn:
            assert "server session" in (pooling_problem(conn, connect) or "")


def test_leadership_refuses_a_transaction_pool_and_leads_through_a_session_pool(pg_schema_url):
    prepare(pg_schema_url)
    schema = schema_of(pg_schema_url)
    with pgbouncer("transaction", schema) as url:
        node = Leadership(url, "web-1", uuid.uuid4().hex, 10.0)
        with pytest.raises(SessionRequired, match=r"REPORTER_HISTORY_URL.*pool_mode = session"):
            node.start()
        assert node.backend_pid is None  # the lock connection was closed
    with pgbouncer("session", schema) as url:
        node = Leadership(url, "web-1", uuid.uuid4().hex, 10.0)
        try:
            node.start()
            assert node.leader and node.epoch == 1
        finally:
            node.close()


def test_the_daemon_exits_2_naming_the_setting(pg_schema_url, tmp_path):
    with pgbouncer("transaction", schema_of(pg_schema_url)) as url:
        settings = {"REPORTER_HISTORY_URL": url, "REPORTER_HOST_NAME": "web-1", "REPORTER_SAMPLE_INTERVAL": "5",
                    "REPORTER_REDIS_URL": "redis://127.0.0.1:6379/0", "REPORTER_PROBES": ""}
        done = subprocess.run(RUN, cwd=tmp_path, env=daemon_env(settings, free_port()), capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("reporter:")]
    assert len(lines) == 1 and "REPORTER_HISTORY_URL" in lines[0] and "pool_mode = session" in lines[0], done.stderr
