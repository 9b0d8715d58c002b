"""The fleet over HTTP against a real PostgreSQL history holding two hosts' samples (and a third gone quiet):
``GET /api/v1/hosts``, ``?host=`` on /snapshot, the per-host seed endpoints and /api/v1/history; and the
single-host answers on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from reporter import __version__
from reporter.api.latest import Latest
from reporter.store.fleet_schema import leadership
from reporter.store.history import History
from reporter.store.hosts import HostRegistry
from tests.api.helpers import serve
from tests.snapshots import FEATURES, snapshot

TOKEN = "fleet-token-7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fleet(pg_schema_url):
    """web-1 (this node, the leader, 3 samples with cpu 10-30), gpu-1 (3 samples, cpu 70-90, redis down) and
    old-1 (one sample an hour ago), all in one PostgreSQL history; web-1's app serves it, with a token."""
    now = datetime.now(UTC).replace(microsecond=0)
    web = History(pg_schema_url, FEATURES, host="web-1")
    gpu = History(pg_schema_url, FEATURES, host="gpu-1")
    old = History(pg_schema_url, FEATURES, host="old-1")
    try:
        for i in range(3):
            when = now - timedelta(seconds=20 - 10 * i)
            web.write(snapshot(when=when, host="web-1", cpu=10.0 * (i + 1)))
            gpu.write(snapshot(when=when, host="gpu-1", cpu=70.0 + 10 * i, down=("redis",), status="degraded"))
        old.write(snapshot(when=now - timedelta(hours=1), host="old-1"))
        registry = HostRegistry(web.engine)
        registry.register("gpu-1", "n2", "agent", "0.0.9", 42, "http://10.0.0.2:8321", now)
        with web.engine.begin() as conn:
            conn.execute(update(leadership).where(leadership.c.id == 1).values(epoch=3, host="web-1", node_id="n1"))
        latest = Latest()
        latest.publish(snapshot(when=now, host="web-1", cpu=30.0))
        with serve(latest, token=TOKEN, history=web) as (_, base):
            yield base, now
    finally:
        for h in (web, gpu, old):
            h.close()


def get(base: str, path: str, **params) -> httpx.Response:
    return httpx.get(base + path, params=params, headers=AUTH, timeout=10)


def test_hosts_lists_every_host_with_its_status_and_the_leader(fleet):
    base, now = fleet
    answer = get(base, "/api/v1/hosts")
    assert answer.status_code == 200, answer.text
    hosts = {h["name"]: h for h in answer.json()["hosts"]}
    assert list(hosts) == ["gpu-1", "old-1", "web-1"]
    last = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert hosts["web-1"] == {"name": "web-1", "last_sample": last, "status": "healthy", "leader": True,
                              "version": __version__, "role": "node"}  # this node: its own version
    assert hosts["gpu-1"] == {"name": "gpu-1", "last_sample": last, "status": "degraded", "leader": False,
                              "version": "0.0.9", "role": "agent"}
    assert hosts["old-1"]["status"] == "down" and hosts["old-1"]["leader"] is False  # no sample for an hour
    assert hosts["old-1"]["version"] is None  # it never registered
    assert httpx.get(base + "/api/v1/hosts", timeout=10).status_code == 401  # the token rules of the API


def test_snapshot_of_another_host_comes_from_the_history(fleet):
    base, now = fleet
    answer = get(base, "/snapshot", host="gpu-1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["host"] == "gpu-1" and body["system"]["cpu_percent"] == 90.0
    assert body["services"]["redis"]["up"] is False and body["timestamp"].startswith(now.strftime("%Y-%m-%dT%H:%M"))
    etag = answer.headers["etag"]
    again = httpx.get(base + "/snapshot", params={"host": "gpu-1"}, headers={**AUTH, "If-None-Match": etag})
    assert again.status_code == 304
    own = get(base, "/snapshot", host="web-1")  # this node's own: the fast path, as without ?host=
    assert own.json() == get(base, "/snapshot").json() and own.json()["host"] == "web-1"
    missing = get(base, "/snapshot", host="nope")
    assert missing.status_code == 404 and "unknown host 'nope'" in missing.json()["error"]
    assert httpx.get(base + "/snapshot", params={"host": "gpu-1"}).status_code == 401


def test_per_host_seed_endpoints_take_host(fleet):
    base, _ = fleet
    health = get(base, "/api/v1/analytics/health", host="gpu-1").json()
    assert health["status"] == "degraded" and health["services"] == {"database": True, "redis": False,
                                                                     "ollama": True}
    assert get(base, "/api/v1/analytics/health").json()["status"] == "healthy"  # this node's
    metrics = get(base, "/api/v1/analytics/metrics", host="gpu-1").json()
    assert metrics["system"]["cpu_percent"] == 90.0
    assert get(base, "/api/v1/analytics/metrics", host="nope").status_code == 404


def test_history_of_another_host(fleet):
    base, now = fleet
    span = {"from": str(int(now.timestamp()) - 60), "to": str(int(now.timestamp()) + 1)}
    gpu = get(base, "/api/v1/history", metric="cpu_percent", host="gpu-1", **span).json()
    assert gpu["host"] == "gpu-1" and [v for _, v in gpu["points"]] == [70.0, 80.0, 90.0]
    web = get(base, "/api/v1/history", metric="cpu_percent", **span).json()
    assert web["host"] == "web-1" and [v for _, v in web["points"]] == [10.0, 20.0, 30.0]
    missing = get(base, "/api/v1/history", metric="cpu_percent", host="nope", **span)
    assert missing.status_code == 404 and "unknown host" in missing.json()["error"]
    app_wide = get(base, "/api/v1/history", metric="ai_total_requests", host="gpu-1", **span).json()
    assert app_wide["host"] is None  # the fleet's figure, whatever the host


def test_single_host_sqlite_lists_this_host_as_leader(tmp_path):
    history = History(f"sqlite:///{tmp_path / 'history.db'}", FEATURES, host="solo")
    now = datetime.now(UTC)
    try:
        history.write(snapshot(when=now, host="solo"))
        latest = Latest()
        latest.publish(snapshot(when=now, host="solo"))
        with serve(latest, history=history) as (_, base):
            hosts = httpx.get(base + "/api/v1/hosts").json()["hosts"]
            assert [(h["name"], h["leader"], h["status"], h["version"]) for h in hosts] == [
                ("solo", True, "healthy", __version__)]
            assert httpx.get(base + "/snapshot", params={"host": "other"}).status_code == 404
            assert httpx.get(base + "/snapshot", params={"host": "solo"}).json()["host"] == "solo"
            other = httpx.get(base + "/api/v1/history", params={"metric": "cpu_percent", "host": "other"})
            assert other.status_code == 404
    finally:
        history.close()
