"""The hosts registry and the hosts row each sample write keeps, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from reporter.base.ms import to_ms
from reporter.store.history import History
from reporter.store.hosts import HostRegistry
from tests.store.test_history import FEATURES, T0, fleet_snap, snap

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return f"sqlite:///{tmp_path / 'h.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")


def test_register_list_get_and_leader(url):
    h = History(url, FEATURES, host="web-1")
    try:
        registry = HostRegistry(h.engine)
        assert registry.list() == [] and registry.get("web-1") is None and registry.leader() is None
        registry.register("web-1", "n1", "node", "1.0", 4242, "http://10.0.0.1:8080", NOW)
        registry.register("gpu-1", "n2", "agent", "1.0", 7, None, NOW)
        web = registry.get("web-1")
        assert web is not None
        assert (web.node_id, web.role, web.version, web.pid, web.address) == ("n1", "node", "1.0", 4242,
                                                                              "http://10.0.0.1:8080")
        assert web.started_at == web.seen_at == NOW and web.last_sample is None and web.snapshot is None
        assert [r.name for r in registry.list()] == ["gpu-1", "web-1"]
        h.write(snap(T0, cpu=3.0))
        later = NOW + timedelta(minutes=5)
        registry.register("web-1", "n3", "node", "1.1", 4243, "http://10.0.0.1:8080", later)  # a restart
        web = registry.get("web-1")
        assert web is not None
        assert (web.node_id, web.version, web.pid, web.started_at) == ("n3", "1.1", 4243, later)
        assert web.last_sample == T0 and web.status == "degraded"  # kept from the sample
        with h.engine.begin() as conn:
            conn.execute(text("UPDATE leadership SET epoch = 3, host = 'web-1', node_id = 'n3' WHERE id = 1"))
        assert registry.leader() == ("web-1", "n3", 3)
    finally:
        h.close()


def test_each_sample_updates_its_hosts_row(url):
    """last_sample moves forward only (a late spooled row does not move it back), seen_at is the write time,
    status and (PostgreSQL) the snapshot come from write(); write_row() of a prepared row leaves them."""
    h = History(url, FEATURES, host="web-1")
    try:
        registry = HostRegistry(h.engine)
        before = datetime.now(UTC) - timedelta(seconds=1)
        h.write(snap(T0 + timedelta(seconds=20), cpu=7.0))
        row = registry.get("web-1")
        assert row is not None and row.last_sample == T0 + timedelta(seconds=20) and row.status == "degraded"
        assert row.seen_at >= before and row.role == "node"
        if h.fleet:
            assert row.snapshot is not None and json.loads(row.snapshot)["system"]["cpu_percent"] == 7.0
            [listed] = registry.list(snapshots=False)  # a listing leaves the JSON unread
            assert listed.snapshot is None and listed == replace(row, snapshot=None)
        else:
            assert row.snapshot is None  # single host: the node serves its own snapshot from memory
        late = h.prepare(snap(T0, cpu=1.0))  # e.g. from the spool
        h.write_row(late)
        row = registry.get("web-1")
        assert row is not None and row.last_sample == T0 + timedelta(seconds=20)
        assert h.series("cpu_percent", T0, T0 + timedelta(minutes=1)) == [(to_ms(T0), 1.0),
                                                                          (to_ms(T0) + 20_000, 7.0)]
    finally:
        h.close()


def test_a_running_node_whose_row_was_deleted_records_itself_again_at_its_next_sample(url):
    """``reporter hosts forget`` of a node cut off from the database (its lock gone with its session) deleted
    its row; the node's next sample recreated it with an empty version and node id and no pid, so ``reporter
    hosts`` showed a nameless holder and a second node with its name was told nothing useful."""
    h = History(url, FEATURES, host="web-1")
    try:
        registry = HostRegistry(h.engine)
        h.registration = registry.register("web-1", "n1", "node", "1.0", 4242, "http://10.0.0.1:8080", NOW)
        h.write(snap(T0, cpu=3.0))
        with h.engine.begin() as conn:
            assert registry.remove(conn, "web-1")
        h.write(snap(T0 + timedelta(seconds=10), cpu=4.0))
        row = registry.get("web-1")
        assert row is not None
        assert (row.node_id, row.role, row.version, row.pid, row.address) == ("n1", "node", "1.0", 4242,
                                                                              "http://10.0.0.1:8080")
        assert row.started_at == NOW and row.last_sample == T0 + timedelta(seconds=10)
        with h.engine.begin() as conn:
            registry.remove(conn, "web-1")
        h.write_rows([h.prepare(snap(T0 + timedelta(seconds=20), cpu=5.0))])  # a drained spool's batch
        row = registry.get("web-1")
        assert row is not None and (row.node_id, row.pid) == ("n1", 4242)
        other = History(url, FEATURES, host="gpu-1")  # another host's rows never take this node's registration
        try:
            other.write(snap(T0, cpu=1.0))
        finally:
            other.close()
        gpu = registry.get("gpu-1")
        assert gpu is not None and (gpu.node_id, gpu.version, gpu.pid) == ("", "", None)
    finally:
        h.close()


def test_two_hosts_at_the_same_millisecond_in_one_postgresql_schema(pg_schema_url):
    """Two History objects with different hosts write the same millisecond: both rows kept, each host's row
    in hosts, one host's series read alone."""
    web = History(pg_schema_url, FEATURES, host="web-1")
    gpu = History(pg_schema_url, FEATURES, host="gpu-1")
    try:
        web.write(fleet_snap(T0, cpu=11.0, requests=5))
        gpu.write(fleet_snap(T0, cpu=22.0, requests=None))
        window = (T0, T0 + timedelta(seconds=1))
        assert web.series("cpu_percent", *window) == [(to_ms(T0), 11.0)]  # not moved a millisecond on
        assert web.series("cpu_percent", *window, host="gpu-1") == [(to_ms(T0), 22.0)]
        hosts = {r.name: r for r in HostRegistry(web.engine).list()}
        assert sorted(hosts) == ["gpu-1", "web-1"]
        assert hosts["gpu-1"].last_sample == hosts["web-1"].last_sample == T0
        snapshot = hosts["gpu-1"].snapshot
        assert snapshot is not None and json.loads(snapshot)["system"]["cpu_percent"] == 22.0
    finally:
        web.close()
        gpu.close()
