"""Shared fixtures: the real Redis and PostgreSQL of this machine, loopback servers standing in for Ollama.

Without Redis/PostgreSQL the tests that need them skip with a reason naming the service; under ``CI=true``
a missing service is a failure.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.fake_ollama import FakeOllama

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> NoReturn:
    """Skip the test because what it needs (``message`` names it and how to get it) is missing; under
    ``CI=true`` (where .ci/run provides everything) fail instead."""
    if IN_CI:
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def require(service: str, error: Exception) -> None:
    """Skip (or fail under CI) because ``service`` is not reachable."""
    unavailable(f"{service} is not reachable ({error}); start it (see README.md, Run the tests) to run this test")


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        require("Redis at 127.0.0.1:6379", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url) -> Iterator[str]:
    """A unique key prefix (``test:<uuid>:ai:``) whose keys are deleted afterwards."""
    import redis

    prefix = f"test:{uuid.uuid4().hex[:12]}:ai:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh private schema (dropped afterwards)."""
    yield from private_schema()


def private_schema() -> Iterator[str]:
    """Create a fresh schema on the shared PostgreSQL, yield a URL whose search_path is it, drop it afterwards
    (skips, or fails under CI, when PostgreSQL is not there). For fixtures of any scope."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        engine.dispose()
        require("PostgreSQL at 127.0.0.1:5432 (database test)", exc)
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def history_features() -> list[str]:
    """The AI features of the ``history`` fixture: the four defaults (a test module overrides this fixture to
    choose others)."""
    return ["grammar", "quiz", "voice", "scenario"]


@pytest.fixture
def history_path(tmp_path) -> Path:
    """The file of the ``history`` fixture: ``h.db`` in the test's folder (a test module may override it)."""
    return tmp_path / "h.db"


@pytest.fixture
def history(history_path, history_features):
    """A fresh SQLite history at ``history_path`` with the ``history_features`` AI features; closed after. The
    one history fixture of the suite."""
    from reporter.store.history import History

    h = History(f"sqlite:///{history_path}", history_features)
    yield h
    h.close()


def wait_until(check, timeout: float = 15.0, step: float = 0.05):
    """Poll ``check()`` every ``step`` seconds until it returns a true value (returned) or ``timeout`` seconds
    pass (then the last value, false, is returned: ``assert wait_until(...)`` fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    return check()


def wait_for(check, timeout: float = 15.0, what: str = "condition"):
    """:func:`wait_until` that fails the test (AssertionError naming ``what``) instead of returning a false value."""
    value = wait_until(check, timeout)
    if not value:
        raise AssertionError(f"{what} not met within {timeout:g} s")
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    server = FakeOllama(["mistral:7b", "llama3:8b"])
    yield server
    server.close()


class SilentServer:
    """Accepts TCP connections and never answers (a hung peer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def refused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def pg_cluster():
    """A private PostgreSQL cluster (tests/pgcluster.py ``PgCluster``), started, with a database ``test``
    (``pg_cluster.url``); stopped and removed afterwards even when the test fails. Skips (fails under
    ``CI=true``) when the PostgreSQL server binaries are missing."""
    from tests.pgcluster import ClusterUnavailable, PgCluster

    try:
        cluster = PgCluster()
    except ClusterUnavailable as exc:
        unavailable(str(exc))
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Path]:
    """A fresh 16 MiB tmpfs (a real filesystem a test can fill up), unmounted afterwards. Needs root (or
    CAP_SYS_ADMIN): skips with the reason otherwise, fails under ``CI=true``."""
    path = tmp_path / "tmpfs"
    path.mkdir()
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(path)],
                                capture_output=True, text=True, timeout=10)
        error = (result.stderr.strip() or f"exit {result.returncode}") if result.returncode else None
    except (OSError, subprocess.TimeoutExpired) as exc:
        error = str(exc)
    if error:
        unavailable(f"cannot mount a tmpfs ({error}); run the tests as root (or with CAP_SYS_ADMIN) to run this test")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def fill(folder: Path) -> Path:
    """Fill ``folder``'s filesystem to the last byte with a file (delete it to give the space back)."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        for size in (4096, 512, 1):  # the tail that a whole chunk did not fit
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler
