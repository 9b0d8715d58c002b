"""The daemon as a user runs it: a subprocess, real sockets, real signals."""

import signal
import sqlite3
import subprocess
import time

import httpx
import pytest

from tests.conftest import free_port, wait_until
from tests.daemon.helpers import RUN, daemon_env, fast_settings, start_daemon

pytestmark = pytest.mark.slow


def start(tmp_path, redis_url, extra=None):
    """A daemon sampling every second into data/history.db; (process, base URL) once a snapshot is served."""
    port = free_port()
    proc = start_daemon(tmp_path, fast_settings(tmp_path / "data", redis_url, extra=extra), port,
                        ready_path="/snapshot")
    return proc, f"http://127.0.0.1:{port}"


def samples(path) -> int:
    """The number of rows in the history's samples table (read while the daemon writes: WAL)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    finally:
        conn.close()


def test_sigterm_exits_zero_and_history_is_intact(tmp_path, redis_url, redis_prefix):
    proc, base = start(tmp_path, redis_url, {"REPORTER_AI_KEY_PREFIX": redis_prefix})
    snapshot = httpx.get(base + "/snapshot").json()
    assert snapshot["services"]["redis"]["up"] is True
    assert snapshot["system"]["memory_total_gb"] > 0
    assert httpx.get(base + "/healthz").status_code == 200
    assert wait_until(lambda: samples(tmp_path / "data" / "history.db") >= 3, 10)  # a sample every second
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert time.monotonic() - started < 5
    assert "Traceback" not in stderr and "reporter stopped" in stderr
    conn = sqlite3.connect(tmp_path / "data" / "history.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] >= 3
    conn.close()


def test_restart_continues_ai_windows_from_history(tmp_path, redis_url, redis_prefix):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set(redis_prefix + "total_requests", 10)
    proc, base = start(tmp_path, redis_url, {"REPORTER_AI_KEY_PREFIX": redis_prefix})
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 0
    client.set(redis_prefix + "total_requests", 25)
    proc, base = start(tmp_path, redis_url, {"REPORTER_AI_KEY_PREFIX": redis_prefix})
    try:
        five = httpx.get(base + "/snapshot").json()["ai"]["windows"]["5m"]
        assert five is not None and five["requests"] == 15  # the first sample after restart has a window
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        client.close()


def test_port_in_use_is_one_line_and_exit_1(tmp_path, redis_url):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    env = daemon_env({"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}"}, port)
    result = subprocess.run(RUN, cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
    sock.close()
    assert result.returncode == 1
    assert "REPORTER_HTTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_second_daemon_on_the_same_history_exits_1(tmp_path, redis_url):
    proc, _ = start(tmp_path, redis_url)
    try:
        env = daemon_env({"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'data' / 'history.db'}"}, free_port())
        second = subprocess.run(RUN, cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert f"pid {proc.pid}" in second.stderr and "already using" in second.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_sigterm_right_after_start_exits_0(tmp_path):
    env = daemon_env({"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}"}, free_port())
    for delay in (0.3, 0.8):
        proc = subprocess.Popen(RUN, cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "Traceback" not in err


def test_idle_and_dripping_connections_are_cut_and_others_served(tmp_path, redis_url):
    import select
    import socket

    from reporter.api.protocol import HEADER_TIMEOUT_SECONDS

    proc, base = start(tmp_path, redis_url)
    port = int(base.rsplit(":", 1)[1])
    try:
        opened = time.monotonic()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        drip = socket.create_connection(("127.0.0.1", port))
        drip.send(b"GET /snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert httpx.get(base + "/healthz").status_code == 200  # others are served meanwhile
        deadline = opened + HEADER_TIMEOUT_SECONDS + 5
        drip_closed = False
        while time.monotonic() < deadline and not drip_closed:
            try:
                drip.send(b"a")  # one byte of a header every second
            except OSError:
                drip_closed = True
                break
            # the second until the next byte: the server's close is seen when it comes (EOF), not at a later send
            pause = time.monotonic() + 1
            while not drip_closed and (left := pause - time.monotonic()) > 0:
                if select.select([drip], [], [], left)[0]:
                    try:
                        drip_closed = drip.recv(4096) == b""
                    except OSError:
                        drip_closed = True
        assert drip_closed and time.monotonic() - opened >= HEADER_TIMEOUT_SECONDS - 1
        for sock in idle:
            sock.settimeout(2)
            assert sock.recv(1) == b""  # closed by the server
            sock.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_backward_clock_step_brings_the_scheduled_jobs_back():
    import threading
    from datetime import UTC, datetime, timedelta

    from reporter.daemon.duties import rescheduler, scheduler_for

    pruned, reported = threading.Event(), threading.Event()
    scheduler = scheduler_for()
    now = datetime.now(UTC)  # prune due in 30 s, reports in 5 s, as the leader's duties schedule them
    scheduler.add_job(pruned.set, "interval", days=1, id="prune", next_run_time=now + timedelta(seconds=30))
    scheduler.add_job(reported.set, "interval", minutes=1, id="reports", executor="reports",
                      next_run_time=now + timedelta(seconds=5))
    scheduler.start()
    try:
        jobs = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        rescheduler(scheduler)(600.0)  # forward: due jobs simply run (coalesced); nothing moves
        assert {job.id: job.next_run_time for job in scheduler.get_jobs()} == jobs
        # the wall clock went back 10 min: without this both would wait 10 more minutes for their next run
        rescheduler(scheduler)(-600.0)
        assert reported.wait(3) and pruned.wait(3)
    finally:
        scheduler.shutdown(wait=False)


def test_an_unwritable_spool_folder_is_one_line_and_exit_1(tmp_path, refused_port):
    (tmp_path / "file").write_text("not a folder")
    env = daemon_env({"REPORTER_HISTORY_URL": f"postgresql+psycopg://u@127.0.0.1:{refused_port}/x",
                      "REPORTER_SPOOL_PATH": str(tmp_path / "file" / "spool")}, free_port())
    result = subprocess.run(RUN, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "REPORTER_SPOOL_PATH" in result.stderr and "Traceback" not in result.stderr


def test_a_stop_ends_the_servers_one_second_tick_at_once():
    """The HTTP server's housekeeping tick is 1 s; a stop (SIGTERM/SIGINT call ``exit_soon``) wakes it instead
    of waiting for the rest of the second."""
    import socket
    import threading

    import uvicorn

    from reporter.daemon.run import _Server

    async def app(scope, receive, send):  # no request comes
        raise AssertionError(scope)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = _Server(uvicorn.Config(app, log_config=None, loop="asyncio", lifespan="off",
                                    timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        time.sleep(0.05)  # in the tick's wait, about 0.95 s of it left
        asked = time.monotonic()
        server.exit_soon()
        thread.join(5)
        assert not thread.is_alive()
        assert time.monotonic() - asked < 0.5
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
