"""Clients for the sampled dependencies, each configured so that a dead or hung peer fails within its timeout."""

from __future__ import annotations

import math
import sqlite3

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from reporter.base.postgres import postgres_args

# clients give up a little before the collector's deadline, so the real error (not "timed out") is reported
CLIENT_TIMEOUT_SHARE = 0.9


def app_database_engine(url: str, timeout: float) -> Engine:
    """An engine on the application's database, read-only where the driver allows, bounded by ``timeout`` s.

    SQLite files are opened read-only (a missing file is an error, never created); PostgreSQL gets a connect
    timeout and a statement timeout.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    client_timeout = timeout * CLIENT_TIMEOUT_SHARE
    options: dict = {"pool_size": 2, "max_overflow": 2, "pool_timeout": client_timeout, "pool_recycle": 3600}
    if backend == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            return create_engine(url)

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=client_timeout, check_same_thread=False)

        return create_engine(url, creator=connect)
    if backend == "postgresql":
        options["connect_args"] = postgres_args(parsed, client_timeout, read_only=True)
        # each read is its own (read-only) transaction: no BEGIN/ROLLBACK round trips around a probe
        options["isolation_level"] = "AUTOCOMMIT"
    elif backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": max(1, math.ceil(client_timeout)),
                                   "read_timeout": max(1, math.ceil(client_timeout))}
    return create_engine(url, **options)


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A redis-py client with connect and socket timeouts and no automatic retries."""
    client_timeout = timeout * CLIENT_TIMEOUT_SHARE
    return redis.Redis.from_url(
        url,
        socket_timeout=client_timeout,
        socket_connect_timeout=client_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        max_connections=4,
    )
