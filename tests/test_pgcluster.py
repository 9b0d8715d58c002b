"""The private PostgreSQL cluster of tests/pgcluster.py: it starts, stops, restarts on the same port and
leaves nothing behind."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.conftest import unavailable
from tests.pgcluster import ClusterUnavailable, PgCluster, find_bin


def _select_one(url: str) -> int:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one()
    finally:
        engine.dispose()


def test_cluster_stops_and_restarts_on_the_same_port(pg_cluster):
    assert _select_one(pg_cluster.url) == 1
    with psycopg.connect(pg_cluster.url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    port = pg_cluster.port
    pg_cluster.stop()
    assert not pg_cluster.is_running()
    with pytest.raises(OperationalError):
        _select_one(pg_cluster.url)
    pg_cluster.start()
    assert pg_cluster.port == port
    with psycopg.connect(pg_cluster.url.replace("+psycopg", ""), autocommit=True) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (7,)
    pg_cluster.kill()
    assert pg_cluster.pid() is None
    pg_cluster.start()  # crash recovery
    assert _select_one(pg_cluster.url) == 1


def test_cluster_is_removed_even_when_the_body_fails():
    try:
        find_bin()
    except ClusterUnavailable as exc:
        unavailable(str(exc))
    folder = None
    with pytest.raises(RuntimeError, match="the test failed"), PgCluster.running() as cluster:
        folder = cluster.dir
        assert cluster.pid()
        raise RuntimeError("the test failed")
    assert folder is not None and not folder.exists()
    assert cluster.pid() is None
