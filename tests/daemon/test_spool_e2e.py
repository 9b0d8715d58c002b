"""A fleet node (PostgreSQL history on a private cluster) whose store goes down: its samples wait in the spool
and reach the history in order when the store is back — no gap in the series, also across a restart of the
node while the store is down."""

from __future__ import annotations

import itertools
import re
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import free_port, wait_for, wait_until
from tests.daemon.helpers import fast_settings, start_daemon, stop_daemon

INTERVAL_MS = 1000
HOST = "node-a"


def stored_ts(url: str) -> list[int]:
    """The ts of every stored sample, oldest first ([] while the store is down or has no samples table)."""
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            return [ts for (ts,) in conn.execute(text("SELECT ts FROM samples WHERE host = :h ORDER BY ts"), {"h": HOST})]
    except Exception:
        return []
    finally:
        engine.dispose()


def spooled(base: str) -> float | None:
    """The node's ``reporter_spool_samples`` gauge (None before the first sample)."""
    try:
        body = httpx.get(f"{base}/metrics", timeout=2).text
    except httpx.TransportError:
        return None
    match = re.search(r"^reporter_spool_samples (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


def assert_no_gap(ts: list[int], start: int, end: int) -> None:
    """Every sample interval between ``start`` and ``end`` (ms) has its sample, in order."""
    inside = [t for t in ts if start <= t <= end]
    assert inside == sorted(set(inside)), "samples out of order or twice"
    gaps = [b - a for a, b in itertools.pairwise(inside)]
    # a missing sample makes a gap of 2 intervals; a cycle delayed by a busy machine less than that
    assert gaps and max(gaps) < 1.95 * INTERVAL_MS, f"a gap in the series: {max(gaps)} ms between samples"


@pytest.fixture
def node(tmp_path, pg_cluster, redis_url, redis_prefix):
    """(settings, port) of a fleet node on ``pg_cluster`` sampling every second, spooling to tmp_path/spool."""
    settings = fast_settings(tmp_path, redis_url, redis_prefix, extra={
        "REPORTER_HISTORY_URL": pg_cluster.url, "REPORTER_SPOOL_PATH": str(tmp_path / "spool"),
        "REPORTER_HOST_NAME": HOST})
    return settings, free_port()


def test_samples_taken_while_the_store_is_down_fill_the_gap_when_it_is_back(tmp_path, pg_cluster, node):
    settings, port = node
    base = f"http://127.0.0.1:{port}"
    proc = start_daemon(tmp_path, settings, port)
    try:
        assert wait_until(lambda: len(stored_ts(pg_cluster.url)) >= 2), "no sample stored"
        assert spooled(base) == 0
        pg_cluster.stop()
        wait_for(lambda: (spooled(base) or 0) >= 4, 15, "4 samples spooled")
        health = httpx.get(f"{base}/healthz", timeout=2)
        assert health.status_code == 503
        assert "spooling" in health.json()["error"] and health.json()["spool"].startswith("spooling ")
        snapshot = httpx.get(f"{base}/snapshot", timeout=2).json()
        assert snapshot["spooled"] >= 4 and str(tmp_path / "spool") in snapshot["errors"]["history"]
        pg_cluster.start()
        wait_for(lambda: spooled(base) == 0, 15, "the spool drained")
        assert httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        ts = stored_ts(pg_cluster.url)
        last = ts[-1]
    finally:
        err = stop_daemon(proc)
    assert_no_gap(ts, ts[0], last)
    assert err.count("history unreachable; spooling samples to") == 1, err
    assert len(re.findall(r"wrote \d+ spooled samples", err)) == 1, err
    assert not list((tmp_path / "spool").glob("segment-*")), "spool files left"


def test_the_spool_of_a_node_stopped_while_the_store_is_down_is_drained_after_its_start(tmp_path, pg_cluster,
                                                                                        node):
    settings, port = node
    base = f"http://127.0.0.1:{port}"
    proc = start_daemon(tmp_path, settings, port)
    try:
        assert wait_until(lambda: len(stored_ts(pg_cluster.url)) >= 2), "no sample stored"
        pg_cluster.stop()
        wait_for(lambda: (spooled(base) or 0) >= 3, 15, "3 samples spooled")
    finally:
        first_err = stop_daemon(proc)
    stopped_ms = int(time.time() * 1000)
    assert list((tmp_path / "spool").glob("segment-*")), "the spool was not kept"
    pg_cluster.start()
    proc = start_daemon(tmp_path, settings, port)
    try:
        wait_for(lambda: spooled(base) == 0, 15, "the spool drained after the start")
        ts = stored_ts(pg_cluster.url)
    finally:
        err = stop_daemon(proc)
    assert "history unreachable; spooling samples to" in first_err
    assert "spooled before this start" in err and re.search(r"wrote \d+ spooled samples", err), err
    # every sample of the first run is there, in order (the node did not sample while it was stopped)
    first_run = [t for t in ts if t <= stopped_ms]
    assert len(first_run) >= 5 and any(t > stopped_ms for t in ts)
    assert_no_gap(first_run, first_run[0], first_run[-1])
    assert not list((tmp_path / "spool").glob("segment-*")), "spool files left"

