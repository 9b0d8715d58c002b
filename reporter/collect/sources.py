"""Clients for the sampled dependencies, each configured so that a dead or hung peer fails within its timeout,
and :class:`LazyClient`, which makes one on first use (collectors connect on their first collection)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from reporter.base.postgres import postgres_args

if TYPE_CHECKING:
    import sqlite3

    import redis

T = TypeVar("T")

# clients give up a little before the collector's deadline, so the real error (not "timed out") is reported
CLIENT_TIMEOUT_SHARE = 0.9


def app_database_engine(url: str, timeout: float, pooled: bool = True) -> Engine:
    """An engine on the application's database, read-only where the driver allows, bounded by ``timeout`` s.

    SQLite files are opened read-only (a missing file is an error, never created); PostgreSQL gets a connect
    timeout and a statement timeout. ``pooled`` False: every connection is a new one, closed after use
    (``NullPool``; the database probe, which must see whether the server takes new connections).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    client_timeout = timeout * CLIENT_TIMEOUT_SHARE
    options: dict = ({"pool_size": 2, "max_overflow": 2, "pool_timeout": client_timeout, "pool_recycle": 3600}
                     if pooled else {"poolclass": NullPool})
    if backend == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            return create_engine(url)

        import sqlite3  # only for a SQLite app database (a fleet node on PostgreSQL never loads it)

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=client_timeout, check_same_thread=False)

        return create_engine(url, creator=connect, **({} if pooled else options))
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
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

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


class LazyClient(Generic[T]):
    """A client made by ``factory()`` on the first :meth:`get` (thread-safe), shared by the collectors given it
    (the app database engine by the database probe and the usage queries; the Redis client by the Redis probe and
    the AI counters). :meth:`close` calls ``closer(client)`` once, only if the client was made."""

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], object]) -> None:
        self._factory, self._closer = factory, closer
        self._client: T | None = None
        self._lock = threading.Lock()

    @classmethod
    def ready(cls, client: T, closer: Callable[[T], object] = lambda client: None) -> LazyClient[T]:
        """A holder of an existing ``client`` (closing it is left to whoever made it, unless ``closer`` says)."""
        holder = cls(lambda: client, closer)
        holder._client = client
        return holder

    def get(self) -> T:
        """The client, made now if it is the first call (the factory's exception propagates, nothing is kept)."""
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    @property
    def made(self) -> bool:
        """True once the client exists."""
        return self._client is not None

    def close(self) -> None:
        """Close the client if it was made; a later :meth:`get` makes a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._closer(client)


def lazy(client: T | LazyClient[T]) -> LazyClient[T]:
    """``client`` as a :class:`LazyClient` (a ready client is wrapped; its owner closes it)."""
    return client if isinstance(client, LazyClient) else LazyClient.ready(client)
