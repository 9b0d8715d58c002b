"""The day partitions of samples on PostgreSQL: made on demand (and a day ahead) by the writers, safely when
nodes race; retention drops whole partitions; "metric X of host H between t1 and t2" reads only the partitions
of the range, through the (host, ts) index."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from reporter.base.ms import to_ms
from reporter.store.history import History
from reporter.store.partitions import day_of, partition_name
from tests.store.test_history import FEATURES, T0, snap

DAY = timedelta(days=1)


def partitions(history: History) -> list[str]:
    assert history.partitions is not None
    return [p.name for p in history.partitions.existing()]


@pytest.fixture
def pg_history(pg_schema_url):
    h = History(pg_schema_url, FEATURES, host="web-1")
    yield h
    h.close()


def test_partition_names_are_utc_days():
    assert partition_name(day_of(to_ms(T0))) == "samples_p20261101"
    assert partition_name(day_of(to_ms(T0) - 1)) == "samples_p20261031"


def test_a_write_makes_its_days_partition_and_the_next(pg_history):
    assert partitions(pg_history) == []
    pg_history.write(snap(T0 + timedelta(hours=23, minutes=59)))
    assert partitions(pg_history) == ["samples_p20261101", "samples_p20261102"]
    pg_history.write(snap(T0 + DAY))
    assert partitions(pg_history) == ["samples_p20261101", "samples_p20261102", "samples_p20261103"]
    pg_history.write(snap(T0 - 3 * DAY))  # a late row (e.g. from a spool) gets its old day back
    assert "samples_p20261029" in partitions(pg_history)
    assert pg_history.count() == 3


def test_nodes_racing_to_make_the_same_partitions(pg_schema_url):
    """Six nodes write their first sample of each new day at the same moment: every row is stored (the
    partition is made once, under the advisory lock; the others find it)."""
    nodes = [History(pg_schema_url, FEATURES, host=f"node-{i}") for i in range(6)]
    try:
        errors: list[BaseException] = []

        def write(node: History, at: datetime, barrier: threading.Barrier) -> None:
            barrier.wait()
            try:
                node.write(snap(at))
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)

        for day in range(4):
            barrier = threading.Barrier(len(nodes))
            threads = [threading.Thread(target=write, args=(node, T0 + day * DAY, barrier)) for node in nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert errors == []
        assert nodes[0].count() == 6 * 4
        assert partitions(nodes[0]) == [partition_name(day_of(to_ms(T0)) + d) for d in range(5)]
    finally:
        for node in nodes:
            node.close()


def test_a_partition_dropped_meanwhile_is_made_again(pg_schema_url):
    writer = History(pg_schema_url, FEATURES, host="web-1")
    pruner = History(pg_schema_url, FEATURES, host="db-1")
    try:
        writer.write(snap(T0))
        assert pruner.prune(T0 + 2 * DAY) == 1  # drops the writer's day and the one made ahead
        assert partitions(pruner) == []
        writer.write(snap(T0 + timedelta(seconds=10), cpu=5.0))  # the writer still believes the day exists
        assert writer.series("cpu_percent", T0, T0 + DAY) == [(to_ms(T0) + 10_000, 5.0)]
    finally:
        writer.close()
        pruner.close()


def test_retention_drops_whole_partitions_and_deletes_nothing(pg_schema_url):
    web = History(pg_schema_url, FEATURES, host="web-1")
    gpu = History(pg_schema_url, FEATURES, host="gpu-1")
    try:
        for i in range(5 * 4):  # 5 days, a sample every 6 h, from two hosts
            at = T0 + timedelta(hours=6 * i)
            web.write(snap(at, cpu=float(i)))
            gpu.write(snap(at, cpu=100.0 + i))
        statements: list[str] = []
        event.listen(web.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: statements.append(statement))
        cutoff = T0 + 3 * DAY + timedelta(hours=12)  # inside day 3 (2026-11-04)
        assert web.prune(cutoff) == 3 * 4 * 2  # days 0-2, whole: 12 samples each host
        assert not [s for s in statements if "DELETE" in s.upper() and "samples" in s]
        assert [s for s in statements if s.startswith("DROP TABLE")] == [
            "DROP TABLE samples_p20261101", "DROP TABLE samples_p20261102", "DROP TABLE samples_p20261103"]
        # the day that straddles the cutoff stays whole until it is wholly older; newer days are intact
        assert partitions(web) == ["samples_p20261104", "samples_p20261105", "samples_p20261106"]
        end = T0 + 10 * DAY
        assert [v for _, v in web.series("cpu_percent", T0, end)] == [float(i) for i in range(12, 20)]
        assert [v for _, v in web.series("cpu_percent", T0, end, host="gpu-1")] == [100.0 + i for i in range(12, 20)]
        assert web.first_time() == T0 + 3 * DAY and web.last_time() == T0 + timedelta(hours=6 * 19)
        with web.engine.connect() as conn:  # no dead rows left behind in what stays
            dead = conn.execute(text("SELECT coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables "
                                     "WHERE relname LIKE 'samples_p%' AND schemaname = current_schema()")).scalar()
        assert dead == 0
        assert web.prune(cutoff) == 0
    finally:
        web.close()
        gpu.close()


HOSTS, INTERVAL_MS = 100, 60_000  # 100 hosts, a sample a minute: 144,000 rows a day


def plan_nodes(node: dict, found: list[dict]) -> list[dict]:
    """Every node of the plan under ``node``, depth first."""
    found.append(node)
    for child in node.get("Plans", []):
        plan_nodes(child, found)
    return found


def explain(history: History, read) -> list[dict]:
    """The nodes of the plan PostgreSQL makes for the statement ``read()`` sends (with its parameters)."""
    sent: list[tuple[str, object]] = []
    listener = lambda _c, _cur, statement, params, *_: sent.append((statement, params))  # noqa: E731
    event.listen(history.engine, "before_cursor_execute", listener)
    try:
        read()
    finally:
        event.remove(history.engine, "before_cursor_execute", listener)
    (statement, params), = [s for s in sent if "FROM samples" in s[0]]
    with history.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", params).scalar()
    return plan_nodes(plan[0]["Plan"], [])


def check_range_scan(nodes: list[dict], days: list[str], index: str = "pkey", key: str = "host") -> None:
    """The plan reads exactly the partitions ``days``, each through its ``index`` (default the (host, ts)
    primary key) with a condition on ``key`` and a ts range (an Index Scan, or a Bitmap Index Scan feeding a
    Bitmap Heap Scan), no sequential scan."""
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
    assert sorted(n["Relation Name"] for n in nodes if "Relation Name" in n) == days, nodes
    indexed = [n for n in nodes if "Index Name" in n]
    assert len(indexed) == len(days) and all(n["Index Name"].endswith(index) for n in indexed), nodes
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") for n in indexed), nodes
    assert all(key in n["Index Cond"] and "ts >=" in n["Index Cond"] for n in indexed), nodes
    # only the range's own keys: a few index pages per partition (a key led by ts would read every host's), plus
    # at most a heap page per row for an Index Scan
    for n in indexed:
        heap = n["Actual Rows"] if n["Node Type"] == "Index Scan" else 0
        assert n["Shared Hit Blocks"] + n["Shared Read Blocks"] <= 8 + heap, n


def test_a_hosts_metric_between_two_times_is_an_index_range_scan_of_the_days_in_range(pg_history):
    """Three days of 100 hosts (432,000 rows, analysed): one host's metric over 6 h reads one partition through
    its (host, ts) index; over midnight, the two partitions of the range; never a sequential scan."""
    h = pg_history
    day0 = day_of(to_ms(T0))
    assert h.partitions is not None
    h.partitions.ensure(range(day0, day0 + 4))
    with h.engine.begin() as conn:  # rows arrive in time order, every host each minute
        conn.execute(text(
            "INSERT INTO samples (host, ts, cpu_percent, memory_percent, memory_used_gb, disk_percent, load_1m, "
            "process_count, status_code, ai_total_requests, app) "
            "SELECT 'host-' || lpad(n::text, 3, '0'), t, (random() * 10000)::bigint, (random() * 10000)::bigint, "
            "(random() * 64000)::bigint, 4000 + n, (random() * 400)::bigint, 300 + n, 0, "
            "CASE WHEN n = 0 THEN t / 60000 END, n = 0 "  # host-000 leads: the app-wide values are its
            "FROM generate_series(:start, :end - 1, :step) AS t, generate_series(0, :hosts - 1) AS n ORDER BY t, n"),
            {"start": to_ms(T0), "end": to_ms(T0 + 3 * DAY), "step": INTERVAL_MS, "hosts": HOSTS})
        conn.execute(text("ANALYZE samples"))

    t1 = T0 + DAY + timedelta(hours=9)
    check_range_scan(explain(h, lambda: h.series("cpu_percent", t1, t1 + timedelta(hours=6), host="host-042")),
                     ["samples_p20261102"])
    assert len(h.series("cpu_percent", t1, t1 + timedelta(hours=6), host="host-042")) == 360

    t2 = T0 + DAY + timedelta(hours=18)  # 18:00 to 06:00 the next day
    check_range_scan(explain(h, lambda: h.rows(["cpu_percent", "load_1m"], t2, t2 + timedelta(hours=12),
                                               host="host-007")), ["samples_p20261102", "samples_p20261103"])
    # app-wide metrics: the leader's rows of any host, through the partial index of the app rows
    check_range_scan(explain(h, lambda: h.app_rows(["ai_total_requests"], t2, t2 + timedelta(hours=12))),
                     ["samples_p20261102", "samples_p20261103"], index="_ts_idx", key="ts")  # ix_samples_app_ts in each
    assert len(h.series("ai_total_requests", t1, t1 + timedelta(hours=6), host="host-042")) == 360
    assert h.hosts_between(t1, t1 + timedelta(minutes=1)) == []  # the rows were inserted without hosts rows
    assert h.first_time() is None  # likewise (every writer through History has one)
    with h.engine.begin() as conn:
        conn.execute(text("INSERT INTO hosts (name, node_id, role, version, started_at, seen_at) "
                          "SELECT DISTINCT host, '', 'node', '', 0, 0 FROM samples"))
    assert len(h.hosts_between(t1, t1 + timedelta(minutes=1))) == HOSTS
    assert h.first_time() == T0 and h.last_time() == T0 + 3 * DAY - timedelta(milliseconds=INTERVAL_MS)
    assert datetime.now(UTC) > T0  # (T0 is in the past: nothing above depends on the wall clock)
