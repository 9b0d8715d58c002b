import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from reporter.base.ms import to_ms
from reporter.snapshot import (
    AISection,
    FeatureStats,
    OllamaHealth,
    ServiceHealth,
    Services,
    Snapshot,
    SystemSection,
    UsageSection,
)
from reporter.store.history import History
from reporter.store.migrate import HEAD
from tests.snapshots import snapshot

FEATURES = ["grammar", "quiz"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def snap(at: datetime, cpu: float | None = 12.34, requests: int = 10, usage: bool = False) -> Snapshot:
    """A degraded snapshot (Redis down, Ollama unknown) with a value in each kind of stored column."""
    return snapshot(
        when=at, host="h", status="degraded", duration_ms=3.2,
        system=SystemSection(cpu_percent=cpu, memory_percent=50.5, memory_used_gb=1.234, disk_percent=40.0),
        services=Services(database=ServiceHealth(up=True, latency_ms=1.25), redis=ServiceHealth(up=False),
                          ollama=OllamaHealth(model="m", up=None)),
        ai=AISection(model="m", total_requests=requests, total_time_seconds=requests * 1.5, cache_hits=1,
                     features={"grammar": FeatureStats(requests=requests, success=requests - 1,
                                                        total_time_seconds=2.5)}),
        usage=UsageSection(collected_at=at, total_users=7, top_users=[]) if usage else None,
    )


@pytest.fixture
def history_features():
    return FEATURES


@pytest.fixture
def history_path(tmp_path):
    return tmp_path / "sub" / "history.db"  # a folder the history creates


def test_created_in_wal_mode_with_fixed_point_round_trip(history, tmp_path):
    history.write(snap(T0))
    rows = history.rows(["cpu_percent", "memory_used_gb", "database_up", "redis_up", "ollama_up",
                         "database_latency_ms", "ai_grammar_success", "ai_grammar_time_seconds",
                         "usage_total_users", "status_code"], T0, T0 + timedelta(seconds=1))
    assert rows == [(int(T0.timestamp() * 1000), 12.34, 1.234, 1.0, 0.0, None, 1.25, 9.0, 2.5, None, 1.0)]
    conn = sqlite3.connect(tmp_path / "sub" / "history.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_series_between_times(history):
    for i in range(10):
        history.write(snap(T0 + timedelta(seconds=10 * i), cpu=float(i)))
    series = history.series("cpu_percent", T0 + timedelta(seconds=20), T0 + timedelta(seconds=50))
    assert [v for _, v in series] == [2.0, 3.0, 4.0]
    with pytest.raises(KeyError):
        history.series("nope", T0, T0)


def test_usage_figures_and_lists_stored_only_when_fresh(history):
    history.write(snap(T0, usage=True))
    history.write(snap(T0 + timedelta(seconds=10)))
    history.write(snap(T0 + timedelta(seconds=20), usage=True))
    values = [v for _, v in history.series("usage_total_users", T0, T0 + timedelta(minutes=1))]
    assert values == [7.0, None, 7.0]
    with history.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM usage_lists").scalar() == 2  # unchanged list not rewritten


def test_counter_samples_for_window_seed(history):
    history.write(snap(T0, requests=5))
    history.write(snap(T0 + timedelta(seconds=10), requests=8))
    samples = history.counter_samples(T0, T0 + timedelta(minutes=1))
    assert [s.values["total_requests"] for s in samples] == [5.0, 8.0]
    assert samples[1].values["grammar:success"] == 7.0 and samples[1].at == T0.timestamp() + 10


def test_prune_by_retention(history):
    for i in range(5):
        history.write(snap(T0 + timedelta(days=i), usage=True))
    assert history.prune(T0 + timedelta(days=3)) == 3
    assert history.count() == 2


def test_reopen_migrates_and_adds_new_feature_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    History(url, ["grammar"]).close()
    h = History(url, ["grammar", "voice"])
    columns = {c["name"] for c in inspect(h.engine).get_columns("samples")}
    assert {"ai_voice_requests", "ai_voice_success", "ai_voice_time_seconds"} <= columns
    with h.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
    h.close()
    h = History(url, ["voice"])  # a removed feature keeps its history readable
    assert "ai_grammar_requests" in h.metrics
    h.close()


def test_postgresql_history(pg_schema_url):
    h = History(pg_schema_url, FEATURES)
    try:
        h.write(snap(T0))
        assert h.series("cpu_percent", T0, T0 + timedelta(seconds=1))[0][1] == 12.34
    finally:
        h.close()


def test_existing_file_at_an_older_revision_is_migrated(tmp_path):
    from alembic import command

    from reporter.store.history import history_engine
    from reporter.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = history_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql("INSERT INTO samples (ts, cpu_percent) VALUES (1000, 4200)")
    engine.dispose()
    h = History(url, FEATURES)
    assert "usage_active_users_1h" in {c["name"] for c in inspect(h.engine).get_columns("samples")}
    assert h.series("cpu_percent", datetime.fromtimestamp(0, UTC), T0)[0] == (1000, 42.0)
    h.close()


def test_out_of_range_value_is_stored_as_missing_and_the_row_kept(history, caplog):
    big = snap(T0, requests=10**19)
    history.write(big)
    row = history.rows(["ai_total_requests", "cpu_percent"], T0, T0 + timedelta(seconds=1))
    assert row == [(int(T0.timestamp() * 1000), None, 12.34)]
    assert "out of the storable range" in caplog.text


def test_out_of_range_values_on_every_sample_are_logged_once(history, caplog):
    from reporter.store import schema

    schema.out_of_range.ok("history")  # whatever earlier tests left
    caplog.clear()
    for n in range(5):
        history.write(snap(T0 + timedelta(seconds=10 * n), requests=10**19 + n))
    assert caplog.text.count("out of the storable range") == 1


def test_head_constant_matches_the_migrations():
    from alembic.script import ScriptDirectory

    from reporter.store.migrate import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def test_a_sample_on_a_stored_millisecond_is_kept_a_millisecond_later(tmp_path):
    history = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES)
    try:  # the wall clock stepped back onto an earlier sample's time
        history.write(snap(T0, cpu=10.0))
        history.write(snap(T0, cpu=20.0))
        assert history.series("cpu_percent", T0, T0 + timedelta(seconds=1)) == [
            (int(T0.timestamp() * 1000), 10.0), (int(T0.timestamp() * 1000) + 1, 20.0)]
    finally:
        history.close()


def test_migration_0006_adds_the_host_metric_columns_and_keeps_the_rows(tmp_path):
    """A history made at revision 0005 with samples in it: opening it upgrades to 0006 (the six host metric
    columns added, missing in the old rows) and every old row keeps its values."""
    from alembic import command

    from reporter.store.history import history_engine
    from reporter.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = history_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    with engine.begin() as conn:
        for i in range(3):
            conn.exec_driver_sql("INSERT INTO samples (ts, cpu_percent, memory_percent, usage_active_users_1h) "
                                 "VALUES (?, ?, ?, ?)", (1_700_000_000_000 + i * 10_000, 1234 + i, 5000, 7))
    engine.dispose()
    h = History(url, [])
    try:
        new = ["swap_percent", "network_receive_bytes_per_second", "network_transmit_bytes_per_second",
               "disk_read_bytes_per_second", "disk_write_bytes_per_second", "process_count"]
        assert set(new) <= {c["name"] for c in inspect(h.engine).get_columns("samples")}
        start = datetime.fromtimestamp(1_700_000_000, UTC)
        rows = h.rows(["cpu_percent", "memory_percent", "usage_active_users_1h", *new], start,
                      start + timedelta(minutes=1))
        assert rows == [(1_700_000_000_000 + i * 10_000, 12.34 + i / 100, 50.0, 7.0, *[None] * 6) for i in range(3)]
        with h.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD >= "0006"
        h.write(snap(T0, usage=True).model_copy(update={"system": SystemSection(swap_percent=12.5, process_count=99)}))
        assert h.rows(["swap_percent", "process_count"], T0, T0 + timedelta(seconds=1))[0][1:] == (12.5, 99.0)
    finally:
        h.close()


def test_sqlite_history_is_single_host(tmp_path):
    """SQLite: no host column; the node's own rows read under its host name, another host has none."""
    h = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES, host="web-1")
    try:
        assert (h.host, h.fleet) == ("web-1", False)
        assert "host" not in {c["name"] for c in inspect(h.engine).get_columns("samples")}
        row = h.prepare(snap(T0, cpu=5.0))
        assert row.host == "web-1"
        h.write_row(row)
        window = (T0, T0 + timedelta(seconds=1))
        assert h.rows(["cpu_percent"], *window) == h.rows(["cpu_percent"], *window, host="web-1") == [
            (to_ms(T0), 5.0)]
        assert h.rows(["cpu_percent"], *window, host="gpu-1") == []
        assert h.series("cpu_percent", *window, host="gpu-1") == []
        assert h.series("ai_total_requests", *window, host="gpu-1") == [(to_ms(T0), 10.0)]  # app-wide
        assert h.hosts_between(*window) == ["web-1"]
        assert h.hosts_between(T0 - timedelta(days=1), T0) == []
    finally:
        h.close()


def fleet_snap(at: datetime, cpu: float, requests: int | None) -> Snapshot:
    """A snapshot as a fleet node takes it: ``requests`` None = a follower's (its app-wide values all None)."""
    s = snap(at, cpu=cpu, requests=requests or 0)
    return s if requests is not None else s.model_copy(update={"ai": AISection(model="m", error="sampled by the leader")})


def test_postgresql_history_keeps_each_hosts_samples(pg_schema_url):
    """Two nodes (host names) write into one PostgreSQL schema at the same millisecond: both rows are kept,
    each host's series reads its own, app-wide metrics read the leader's rows whoever it was."""
    web = History(pg_schema_url, FEATURES, host="web-1")
    gpu = History(pg_schema_url, FEATURES, host="gpu-1")
    try:
        assert (web.fleet, web.host, gpu.host) == (True, "web-1", "gpu-1")
        for i in range(3):
            at = T0 + timedelta(seconds=10 * i)
            # web-1 leads for the first two samples, then gpu-1 takes over (a failover)
            web.write(fleet_snap(at, cpu=10.0 + i, requests=5 + i if i < 2 else None))
            gpu.write(fleet_snap(at, cpu=90.0 + i, requests=None if i < 2 else 7 + i))
        window = (T0, T0 + timedelta(minutes=1))
        ms = [to_ms(T0) + 10_000 * i for i in range(3)]
        assert web.series("cpu_percent", *window) == list(zip(ms, [10.0, 11.0, 12.0], strict=True))
        assert web.series("cpu_percent", *window, host="gpu-1") == list(zip(ms, [90.0, 91.0, 92.0], strict=True))
        assert gpu.rows(["cpu_percent", "memory_percent"], *window) == [(t, 90.0 + i, 50.5) for i, t in enumerate(ms)]
        assert web.series("cpu_percent", *window, host="db-1") == []
        assert web.hosts_between(*window) == ["gpu-1", "web-1"]
        assert web.series("ai_total_requests", *window) == gpu.series("ai_total_requests", *window) == [
            (ms[0], 5.0), (ms[1], 6.0), (ms[2], 9.0)]
        assert [s.values["total_requests"] for s in gpu.counter_samples(*window)] == [5.0, 6.0, 9.0]
        assert web.count() == 6
    finally:
        web.close()
        gpu.close()
