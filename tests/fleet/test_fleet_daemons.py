"""Real daemons (`reporter run` subprocesses) sharing one PostgreSQL schema: the host-name lock at start, and a
failover of the leader (its lock session terminated) with the alert stream continuing once."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from reporter.fleet.lock_session import LEADER_KEY, key_of
from reporter.snapshot import SAMPLED_BY_LEADER as BY_THE_LEADER
from tests.conftest import PG_URL, free_port, wait_for
from tests.daemon.helpers import RUN, daemon_env, demo_rules, fast_settings, start_daemon, stop_daemon
from tests.fleet.test_leader import schema_of
from tests.receiver import Receiver


@pytest.fixture
def fleet_url(pg_schema_url) -> str:
    """The fleet's history (each node's migration child brings it to head: samples, hosts, leadership)."""
    return pg_schema_url


def node_settings(folder, redis_url, prefix, url, name, extra=None) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return fast_settings(folder, redis_url, prefix, extra={
        "REPORTER_HISTORY_URL": url, "REPORTER_HOST_NAME": name, "REPORTER_SPOOL_PATH": str(folder / "spool"),
        **(extra or {})})


def leadership_row(url: str) -> tuple[str | None, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            host, epoch = conn.execute(text("SELECT host, epoch FROM leadership WHERE id = 1")).one()
            return host, epoch
    finally:
        engine.dispose()


def leader_lock_pid(url: str) -> int | None:
    """The backend pid holding this fleet's leader lock (two-int advisory keys: classid k1, objid k2)."""
    k1 = key_of(f"test/{schema_of(url)}")
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                                     "classid = :k1 AND objid = :k2 AND objsubid = 2"),
                                {"k1": k1, "k2": LEADER_KEY}).scalar()
    finally:
        engine.dispose()


def snapshot(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/snapshot", timeout=5).json()


def test_a_second_node_with_the_same_host_name_exits_1_naming_the_holder(tmp_path, fleet_url, redis_url,
                                                                         redis_prefix):
    port, other = free_port(), free_port()
    first = start_daemon(tmp_path / "one", node_settings(tmp_path / "one", redis_url, redis_prefix, fleet_url,
                                                         "web-1"), port)
    second_folder = tmp_path / "two"
    settings = node_settings(second_folder, redis_url, redis_prefix, fleet_url, "web-1")
    try:
        done = subprocess.run(RUN, cwd=second_folder, env=daemon_env(settings, other), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1, done.stderr[-2000:]
        lines = [line for line in done.stderr.splitlines() if "web-1" in line]
        assert len(lines) == 1, done.stderr[-2000:]
        assert f"pid {first.pid}" in lines[0] and f"127.0.0.1:{port}" in lines[0]
        assert "started 20" in lines[0] and "REPORTER_HOST_NAME" in lines[0]
        # SIGKILL: the killed node's session ends with it, its host name is free at once
        stop_daemon(first, signal.SIGKILL)
        started = time.monotonic()
        again = start_daemon(second_folder, settings, other)
        assert time.monotonic() - started < 15
        assert stop_daemon(again) is not None and again.returncode == 0
    finally:
        if first.poll() is None:
            stop_daemon(first, signal.SIGKILL)


def demo_alerts(receiver) -> list[str]:
    return [p["status"] for r in receiver.received for p in [r.json()] for a in p["alerts"]
            if a["labels"]["alertname"] == "demo_requests_high"]


def test_failover_after_the_leader_session_is_terminated_continues_alerts_once(tmp_path, fleet_url, redis_url,
                                                                               redis_prefix):
    client = redis.Redis.from_url(redis_url)
    receiver = Receiver()
    rules = tmp_path / "alerting.toml"
    rules.write_text(demo_rules(for_="1s"))
    extra = {"REPORTER_ALERTING_FILE": str(rules), "REPORTER_WEBHOOK_URL": receiver.url}
    port_a, port_b = free_port(), free_port()
    a = b = None
    try:
        client.set(redis_prefix + "total_requests", 150)
        a = start_daemon(tmp_path / "a", node_settings(tmp_path / "a", redis_url, redis_prefix, fleet_url, "a",
                                                       extra), port_a)
        assert leadership_row(fleet_url) == ("a", 1)
        b = start_daemon(tmp_path / "b", node_settings(tmp_path / "b", redis_url, redis_prefix, fleet_url, "b",
                                                       extra), port_b)
        wait_for(lambda: demo_alerts(receiver) == ["firing"], 15, "the leader's firing notification")
        # only the leader samples the app-wide figures (and evaluates); the follower lists the fleet's alerts
        # as the leader stored them, with the same fingerprint
        assert snapshot(port_b)["ai"]["error"] == BY_THE_LEADER
        assert snapshot(port_a)["ai"]["error"] != BY_THE_LEADER
        firing = [(x["fingerprint"], x["state"]) for x in snapshot(port_a)["alerts"] if x["state"] == "firing"]
        assert firing
        wait_for(lambda: [(x["fingerprint"], x["state"]) for x in snapshot(port_b)["alerts"]
                          if x["state"] == "firing"] == firing, 5, "the follower lists the leader's alerts")
        listed = httpx.get(f"http://127.0.0.1:{port_b}/alerts", timeout=5).json()
        assert firing[0][0] in str(listed)

        pid = leader_lock_pid(fleet_url)
        assert pid is not None
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        engine.dispose()
        started = time.monotonic()
        wait_for(lambda: leadership_row(fleet_url) == ("b", 2), 10, "b takes over with epoch 2")
        took = time.monotonic() - started
        assert took < 4.0, took  # two sample intervals (1 s) plus slack
        wait_for(lambda: snapshot(port_b)["ai"]["error"] != BY_THE_LEADER, 5, "b samples the AI counters")
        wait_for(lambda: snapshot(port_a)["ai"]["error"] == BY_THE_LEADER, 5, "a stops sampling them")
        time.sleep(2)
        assert demo_alerts(receiver) == ["firing"]  # the new leader continues the alert: not sent again
        client.set(redis_prefix + "total_requests", 50)
        wait_for(lambda: demo_alerts(receiver) == ["firing", "resolved"], 15, "the resolution, from b")
        time.sleep(2)
        assert demo_alerts(receiver) == ["firing", "resolved"]
        err_a, err_b = stop_daemon(a), stop_daemon(b)
        assert a.returncode == 0 and b.returncode == 0
        assert err_a.count("leadership lost") == 1, err_a[-3000:]
        assert "leads the fleet from epoch 2" in err_b
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                stop_daemon(proc, signal.SIGKILL)
        receiver.stop()
        client.close()
