"""The fleet history's reads at scale on PostgreSQL: N hosts, a sample every 10 s, for H hours.

Builds the rows server-side (``INSERT ... SELECT generate_series``, every host each 10 s in time order, host-000
the leader holding the app-wide values) in a private schema of the local ``test`` database through the real
schema (``History`` creates it at head), ANALYZEs, then times each read ``History`` makes, median of 5 after a
warm-up: one host's metric over 1 h (``rows``), app-wide counters over 1 h (``app_rows``, the error_spike
baseline) and 10 min (``counter_samples``, the seed at takeover), ``hosts_between`` over 1 h, ``first_time``,
``last_time``, and a prune of one day partition (DROP TABLE). The schema is dropped afterwards.

    .venv/bin/python bench/fleet_store.py --hosts 500 --hours 24     # 4.3 M rows, ~1 min
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from reporter.base.ms import to_ms
from reporter.store.history import History
from reporter.store.partitions import day_of

PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
CYCLE_MS, REPORT_MS = 100.0, 1000.0  # a read the leader may make each cycle; a read of the daily report


def timed(read) -> tuple[float, object]:
    read()
    times, result = [], None
    for _ in range(5):
        started = time.perf_counter()
        result = read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        history = History(url, ["grammar", "quiz"], host="host-000")
        end = T0 + timedelta(hours=args.hours)
        assert history.partitions is not None
        history.partitions.ensure(range(day_of(to_ms(T0)), day_of(to_ms(end)) + 2))
        loader = create_engine(url)  # no statement timeout: the load is one long statement
        started = time.perf_counter()
        with loader.begin() as conn:
            conn.execute(text(
                "INSERT INTO samples (host, ts, cpu_percent, memory_percent, disk_percent, load_1m, status_code, "
                "ai_total_requests, ai_grammar_requests, ai_grammar_success, app) "
                "SELECT 'host-' || lpad(n::text, 3, '0'), t, (random() * 10000)::bigint, "
                "(random() * 10000)::bigint, 4000, 100, 0, CASE WHEN n = 0 THEN t / 1000 END, "
                "CASE WHEN n = 0 THEN t / 2000 END, CASE WHEN n = 0 THEN t / 2000 END, n = 0 "
                "FROM generate_series(:a, :b - 1, 10000) t, generate_series(0, :n - 1) n ORDER BY t, n"),
                {"a": to_ms(T0), "b": to_ms(end), "n": args.hosts})
            conn.execute(text("INSERT INTO hosts (name, node_id, role, version, started_at, seen_at) "
                              "SELECT DISTINCT host, '', 'node', '', 0, 0 FROM samples"))
            conn.execute(text("ANALYZE samples"))
        rows = round(args.hosts * args.hours * 360)
        print(f"{args.hosts} hosts x {args.hours:g} h at 10 s: {rows:,} rows loaded in "
              f"{time.perf_counter() - started:.1f} s")
        hour = (end - timedelta(hours=1), end)
        reads = [
            ("rows: one host's metric, 1 h", CYCLE_MS, lambda: history.rows(["cpu_percent"], *hour, host="host-123")),
            ("app_rows: AI counters, 1 h", CYCLE_MS,
             lambda: history.app_rows(["ai_grammar_requests", "ai_grammar_success"], *hour)),
            ("counter_samples: 10 min", CYCLE_MS, lambda: history.counter_samples(end - timedelta(minutes=10), end)),
            ("hosts_between: 1 h", REPORT_MS, lambda: history.hosts_between(*hour)),
            ("first_time", CYCLE_MS, history.first_time),
            ("last_time", CYCLE_MS, history.last_time),
        ]
        for label, target, read in reads:
            ms, result = timed(read)
            size = f"{len(result)} rows" if isinstance(result, list) else str(result)
            print(f"  {label:32s} {ms:8.1f} ms  ({size})  {'PASS' if ms <= target else 'MISS'} (<= {target:g} ms)")
        started = time.perf_counter()
        pruned = history.prune(T0 + timedelta(days=1))
        print(f"  prune of the first day: {pruned:,} rows by DROP TABLE in {time.perf_counter() - started:.2f} s")
        history.close()
        loader.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
