"""Shared pieces of the benchmarks: loopback services with realistic content, the daemon as a subprocess,
and table printing. Everything here talks to 127.0.0.1 only.

- :func:`fake_ollama` runs ``bench/fake_ollama.py`` in a *separate process* (so its CPU is not counted as the
  reporter's) answering ``GET /api/tags``, ``/api/version`` and ``/api/ps``;
- :func:`ai_counters` writes the AI counters of README.md to the local Redis under a unique prefix (deleted after);
- :func:`app_database` creates the reference schema with a few rows in the local PostgreSQL ``test`` database,
  in a private schema owned by a private role of the same name (PostgreSQL's default ``search_path`` is
  ``"$user", public``, so the reporter's unqualified queries find the tables); both are dropped after;
- :func:`daemon` starts ``reporter run`` on a free loopback port and waits for the first snapshot.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FEATURES = ["grammar", "quiz", "voice", "scenario"]


# ------------------------------------------------------------------------------------------- output

def table(rows: list[tuple], headers: tuple[str, ...]) -> str:
    """A plain-text table (left-aligned first column, right-aligned others)."""
    cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[index]


# ------------------------------------------------------------------------------------------- ports

def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0, status: int = 200, alive=lambda: True) -> None:
    """Poll ``url`` until it answers ``status``; raises TimeoutError (at once when ``alive()`` turns false)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not alive():
            raise TimeoutError(f"the process serving {url} exited")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == status:
                    return
                last = response.status
        except urllib.error.HTTPError as exc:
            last = exc.code
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {status} within {timeout:g} s (last: {last})")


# ------------------------------------------------------------------------------------------- services

@contextlib.contextmanager
def fake_ollama(model: str = "mistral:7b") -> Iterator[str]:
    """A fake Ollama in a child process on loopback; yields its base URL."""
    proc = subprocess.Popen([PYTHON, str(BENCH / "fake_ollama.py"), "--model", model],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"fake Ollama did not start (printed {line!r})")
        yield line
    finally:
        proc.terminate()
        proc.wait(5)


@contextlib.contextmanager
def ai_counters(features: list[str] = FEATURES) -> Iterator[tuple[str, object]]:
    """AI counters (the keys of README.md) in the local Redis under a fresh prefix; yields (prefix, client)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    prefix = f"bench:{uuid.uuid4().hex[:12]}:ai:"
    bump_counters(client, prefix, features, requests=5000)
    try:
        yield prefix, client
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def bump_counters(client, prefix: str, features: list[str], requests: int, rng: random.Random | None = None) -> None:
    """Add ``requests`` AI requests to the counters, the token counters included, as the application would
    (INCRBY / INCRBYFLOAT)."""
    rng = rng or random.Random(7)
    pipe = client.pipeline(transaction=False)
    total_time = 0.0
    for i, feature in enumerate(features):
        share = requests // len(features) + (1 if i < requests % len(features) else 0)
        seconds = share * rng.uniform(0.8, 2.5)
        total_time += seconds
        pipe.incrby(f"{prefix}{feature}:requests", share)
        pipe.incrby(f"{prefix}{feature}:success", int(share * rng.uniform(0.95, 1.0)))
        pipe.incrbyfloat(f"{prefix}{feature}:time", round(seconds, 3))
        # the optional token counters (integers, INCRBY), as reporter.ai_usage.record() writes them
        pipe.incrby(f"{prefix}{feature}:prompt_tokens", share * rng.randint(50, 400))
        pipe.incrby(f"{prefix}{feature}:completion_tokens", share * rng.randint(20, 300))
        pipe.incrby(f"{prefix}{feature}:generation_ns", int(seconds * 0.8 * 1e9))
        pipe.incrby(f"{prefix}{feature}:cold_loads", share // 100)
    pipe.incrby(f"{prefix}total_requests", requests)
    pipe.incrbyfloat(f"{prefix}total_time", round(total_time, 3))
    pipe.incrby(f"{prefix}cache_hits", requests // 5)
    pipe.execute()


REFERENCE_SCHEMA = [
    "CREATE TABLE users(id TEXT PRIMARY KEY, email TEXT, created_at TIMESTAMP, last_active_at TIMESTAMP)",
    "CREATE TABLE scenarios(id TEXT PRIMARY KEY, name TEXT)",
    """CREATE TABLE conversations(id INTEGER PRIMARY KEY, user_id TEXT, scenario_id TEXT,
       started_at TIMESTAMP, ended_at TIMESTAMP NULL, completed BOOLEAN)""",
    "CREATE TABLE quiz_attempts(id INTEGER PRIMARY KEY, user_id TEXT, created_at TIMESTAMP, score REAL)",
    "CREATE TABLE grammar_checks(id INTEGER PRIMARY KEY, user_id TEXT, created_at TIMESTAMP)",
]


@contextlib.contextmanager
def app_database(users: int = 50) -> Iterator[str]:
    """The reference schema with a few rows in a private schema of the ``test`` database; yields the URL the
    reporter should use (a private role whose default search_path finds the schema)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"reporter_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    rng = random.Random(11)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
            conn.execute(text(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"'))
            conn.execute(text(f'SET search_path TO "{name}"'))
            for ddl in REFERENCE_SCHEMA:
                conn.execute(text(ddl))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{name}" TO "{name}"'))
            conn.execute(text("INSERT INTO users VALUES (:id, :email, :created, :active)"), [
                {"id": f"u{i}", "email": f"user{i}@example.com", "created": now - timedelta(days=rng.randint(1, 90)),
                 "active": now - timedelta(hours=rng.uniform(0, 72))} for i in range(users)])
            conn.execute(text("INSERT INTO scenarios VALUES (:id, :name)"), [
                {"id": f"s{i}", "name": n} for i, n in enumerate(["cafe", "airport", "hotel", "doctor", "interview"])])
            conn.execute(text("INSERT INTO conversations VALUES (:id, :u, :s, :start, :end, :done)"), [
                {"id": i, "u": f"u{rng.randrange(users)}", "s": f"s{rng.randrange(5)}",
                 "start": now - timedelta(hours=rng.uniform(0, 48)),
                 "end": None if rng.random() < 0.1 else now, "done": rng.random() < 0.7} for i in range(400)])
            conn.execute(text("INSERT INTO quiz_attempts VALUES (:id, :u, :at, :score)"), [
                {"id": i, "u": f"u{rng.randrange(users)}", "at": now - timedelta(hours=rng.uniform(0, 48)),
                 "score": rng.uniform(0, 100)} for i in range(300)])
            conn.execute(text("INSERT INTO grammar_checks VALUES (:id, :u, :at)"), [
                {"id": i, "u": f"u{rng.randrange(users)}", "at": now - timedelta(hours=rng.uniform(0, 48))}
                for i in range(600)])
        url = make_url(POSTGRES_ADMIN_URL).set(username=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            # end the reporter's pooled sessions of the role, then drop everything
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :n"), {"n": name})
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


@contextlib.contextmanager
def loopback_env() -> Iterator[dict[str, str]]:
    """All loopback services up with content; yields the REPORTER_* settings pointing at them."""
    with fake_ollama() as ollama_url, ai_counters() as (prefix, _client), app_database() as db_url:
        yield {
            "REPORTER_OLLAMA_URL": ollama_url,
            "REPORTER_REDIS_URL": REDIS_URL,
            "REPORTER_AI_KEY_PREFIX": prefix,
            "REPORTER_AI_FEATURES": ",".join(FEATURES),
            "REPORTER_APP_DATABASE_URL": db_url,
        }


@contextlib.contextmanager
def fleet_history() -> Iterator[str]:
    """A fresh private schema of the local ``test`` database (dropped afterwards, its sessions ended first);
    yields the history URL whose search_path is that schema: a fleet history (PostgreSQL)."""
    from sqlalchemy import create_engine, text

    schema = f"reporter_bench_fleet_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def tempdir(prefix: str = "reporter-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------------- the daemon

class Daemon:
    """A running ``reporter run`` subprocess."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc, self.port, self.log_path = proc, port, log_path
        self.base = f"http://127.0.0.1:{port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def daemon(workdir: Path, env: dict[str, str], interval: float = 10.0, log_level: str = "WARNING") -> Iterator[Daemon]:
    """``reporter run`` in ``workdir`` (history there unless ``env`` has REPORTER_HISTORY_URL) on a free loopback
    port; waits for the first snapshot."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    full_env["REPORTER_HISTORY_URL"] = f"sqlite:///{workdir / 'history.db'}"  # unless ``env`` names one
    full_env.update(env)
    full_env.update({
        "REPORTER_SAMPLE_INTERVAL": str(interval),
        "REPORTER_HTTP_HOST": "127.0.0.1",
        "REPORTER_HTTP_PORT": str(port),
        "REPORTER_DISK_PATH": "/",
        "REPORTER_LOG_LEVEL": log_level,
    })
    reporter = Path(PYTHON).with_name("reporter")
    command = [str(reporter)] if reporter.exists() else [PYTHON, "-m", "reporter"]
    log_path = workdir / "daemon.log"
    env_file = workdir / "bench.env"  # empty: every setting comes from the environment above
    env_file.write_text("")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*command, "--env-file", str(env_file), "run"], cwd=workdir,
                                env=full_env, stdout=log, stderr=subprocess.STDOUT)
    running = Daemon(proc, port, log_path)
    try:
        try:
            wait_http(f"{running.base}/snapshot", timeout=30, alive=lambda: proc.poll() is None)
        except TimeoutError as exc:
            raise RuntimeError(f"the daemon did not serve a snapshot: {exc}\n{running.log_tail()}") from None
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
