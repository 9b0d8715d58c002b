"""The leader lock's session, apart from the election itself: the advisory lock keys (``k1`` of a fleet's
database and schema, ``k2`` of a host name), the TCP keepalive timing and psycopg connection options that let a
dead peer be detected within REPORTER_LEADER_KEEPALIVE, and the one thread that uses the lock connection.
Used by :mod:`reporter.fleet.leader` and :mod:`reporter.fleet.forget`."""

from __future__ import annotations

import math
import queue
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

LEADER_KEY = 1  # k2 of the leader lock


def key_of(text: str) -> int:
    """A 31-bit advisory lock key of ``text`` (stable across processes and machines: CRC-32)."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def space_key(database: str, schema: str | None) -> int:
    """``k1`` of every lock of the fleet whose history is ``schema`` (None: ``public``) of ``database``, as
    ``current_database()`` and ``current_schema()`` name them on a connection to it."""
    return key_of(f"{database}/{schema or 'public'}")


def host_key(name: str) -> int:
    """``k2`` of the host-name lock of ``name`` (never the leader lock's 1)."""
    key = key_of(f"host:{name}")
    return key if key != LEADER_KEY else LEADER_KEY + 1


@dataclass(frozen=True)
class Keepalive:
    """TCP keepalive timing that detects a dead peer within ``seconds`` (REPORTER_LEADER_KEEPALIVE): ``idle``
    seconds of silence, then ``count`` probes ``interval`` seconds apart; ``user_timeout_ms``: unacknowledged
    data is given up after this (ms)."""

    idle: int
    interval: int
    count: int
    user_timeout_ms: int

    @classmethod
    def within(cls, seconds: float) -> Keepalive:
        """The timing for a detection within ``seconds`` (>= 2)."""
        count = 3
        interval = max(1, round(seconds / 6))
        idle = max(1, math.floor(seconds) - count * interval)
        return cls(idle, interval, count, int(seconds * 1000))


def connect_params(url: str, keepalive: Keepalive) -> dict[str, Any]:
    """psycopg ``connect()`` keyword arguments for the SQLAlchemy ``url`` of the history (its query options,
    e.g. ``options=-csearch_path=...``, kept) with client keepalives, ``tcp_user_timeout`` and a connect timeout
    bounded by the keepalive time."""
    parsed = make_url(url)
    params: dict[str, Any] = {"host": parsed.host, "port": parsed.port, "user": parsed.username,
                              "password": parsed.password, "dbname": parsed.database}
    for key, value in parsed.query.items():
        params[key] = " ".join(value) if isinstance(value, tuple) else value
    params.update(keepalives=1, keepalives_idle=keepalive.idle, keepalives_interval=keepalive.interval,
                  keepalives_count=keepalive.count, tcp_user_timeout=keepalive.user_timeout_ms,
                  connect_timeout=max(2, min(10, math.ceil(keepalive.user_timeout_ms / 2000))),
                  application_name="reporter leader lock")
    return {k: v for k, v in params.items() if v is not None}


class Worker:
    """One daemon thread running submitted calls in order (the lock connection's only user); started on the
    first call, again after :meth:`stop`. A call stuck on a silent peer holds up the later ones, not the caller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name=self.name, daemon=True)
                self._thread.start()
            self._queue.put((future, fn, args))
        return future

    def stop(self) -> None:
        """End the thread after the calls already submitted (not waited for)."""
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread = None

    @staticmethod
    def _run(calls: queue.SimpleQueue) -> None:
        while (item := calls.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)
