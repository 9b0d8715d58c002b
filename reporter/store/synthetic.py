"""Realistic synthetic history: days of samples at a fixed interval, for trying reports and for benchmarks.

Deterministic for a given seed. CPU and memory follow a daily cycle with noise, disk grows slowly, services
have occasional outages, AI counters grow with traffic that peaks in the afternoon (with a Redis flush now
and then), usage figures are stored every 60 s with top-user and scenario lists.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reporter.base.ms import to_ms
from reporter.base.timefmt import format_utc
from reporter.store.history import History


def generate(history: History, start: datetime, end: datetime, interval: float = 10.0, seed: int = 7,
             batch: int = 5000, progress: Callable[[int], None] | None = None, outages: float = 0.0004) -> int:
    """Insert samples from ``start`` to ``end`` (aware datetimes) every ``interval`` seconds; returns the count.
    ``outages``: the chance that a service goes down at a sample (0.0004 at 10 s: about 3 outages of a few minutes
    a day per service; 0.00003 gives availabilities around 99.8 %)."""
    rng = random.Random(seed)
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # step in real time (DST days are 23 h / 25 h)
    features = history.features
    counters = {"ai_total_requests": 0.0, "ai_total_time_seconds": 0.0, "ai_cache_hits": 0.0}
    counters.update({f"ai_{f}_{k}": 0.0 for f in features for k in ("requests", "success", "time_seconds")})
    outage_until: dict[str, datetime | None] = {"database": None, "redis": None, "ollama": None}
    disk = 40.0
    users = 120
    rows: list[dict[str, float | None]] = []
    lists: list[dict[str, object]] = []
    count = 0
    t = start
    while t < end:
        hour = t.hour + t.minute / 60
        daily = 0.5 + 0.5 * math.sin((hour - 9) / 24 * 2 * math.pi)
        row: dict[str, float | None] = {"ts": to_ms(t)}
        row["cpu_percent"] = cpu = min(100.0, max(0.5, 15 + 45 * daily + rng.gauss(0, 6)))
        row["memory_percent"] = memory = min(99.0, 55 + 15 * daily + rng.gauss(0, 1.5))
        row["memory_total_gb"] = 23.5
        row["memory_used_gb"] = memory / 100 * 23.5
        disk = min(97.0, disk + 0.0000035 * interval * (1 + rng.random()))  # about 0.45 % a day, never full
        row["disk_percent"], row["disk_total_gb"] = disk, 250.0
        row["disk_used_gb"] = disk / 100 * 250.0
        row["uptime_seconds"] = (t - start).total_seconds() + 86400 * 12
        row["load_1m"] = row["load_5m"] = row["load_15m"] = 2 * cpu / 100
        for service in outage_until:
            if outage_until[service] is None and rng.random() < outages:
                outage_until[service] = t + timedelta(seconds=rng.uniform(30, 900))
            until = outage_until[service]
            down = until is not None and t < until
            if until is not None and not down:
                outage_until[service] = None
            row[f"{service}_up"] = 0.0 if down else 1.0
            row[f"{service}_latency_ms"] = None if down else rng.uniform(0.3, 4.0)
        row["ollama_model_available"] = row["ollama_up"]
        if rng.random() < 0.00005:  # a Redis flush: every counter starts again from zero
            counters = dict.fromkeys(counters, 0.0)
        traffic = rng.random() < 0.9
        if traffic and row["redis_up"]:
            for f in features:
                n = rng.randint(0, int(1 + 4 * daily))
                ok = sum(1 for _ in range(n) if rng.random() < 0.96)
                spent = sum(rng.uniform(0.8, 4.5) for _ in range(n))
                counters[f"ai_{f}_requests"] += n
                counters[f"ai_{f}_success"] += ok
                counters[f"ai_{f}_time_seconds"] += spent
                counters["ai_total_requests"] += n
                counters["ai_total_time_seconds"] += spent
                counters["ai_cache_hits"] += sum(1 for _ in range(n) if rng.random() < 0.15)
        row.update(counters)
        row["status_code"] = 0.0 if all(row[f"{s}_up"] for s in outage_until) else 1.0
        row["sample_duration_ms"] = rng.uniform(2, 9)
        if int(t.timestamp()) % 60 < interval:
            users += rng.random() < 0.02
            row.update({"usage_total_users": users, "usage_active_users_24h": int(users * 0.4 * (0.5 + daily)),
                        "usage_active_users_1h": int(users * 0.1 * daily), "usage_total_scenarios": 12,
                        "usage_active_conversations": int(10 * daily), "usage_total_quizzes_taken": 800 + count // 50,
                        "usage_total_grammar_checks": 300 + count // 90})
            if int(t.timestamp()) % 3600 < interval:
                lists.append({"kind": "top_users", "ts": to_ms(t), "body": json.dumps(
                    [{"user_id": f"user_{i:03d}", "email": "u***@example.com", "activity_count": 90 - 7 * i,
                      "last_active": format_utc(t)} for i in range(10)])})
                lists.append({"kind": "popular_scenarios", "ts": to_ms(t), "body": json.dumps(
                    [{"scenario_id": f"scn_{i:02d}", "name": name, "start_count": 60 - 9 * i,
                      "completion_rate": round(80 - 4.5 * i, 1)}
                     for i, name in enumerate(["Restaurant Reservation", "Hotel Check-in", "東京-db01 tour",
                                               "שלום conversation", "Airport 🛫 small talk", "Job interview"])])})
        rows.append(row)
        count += 1
        if len(rows) >= batch:
            _flush(history, rows, lists)
            if progress:
                progress(len(rows))
            rows, lists = [], []
        t += timedelta(seconds=interval)
    _flush(history, rows, lists)
    if progress and rows:
        progress(len(rows))
    return count


def _flush(history: History, rows: list[dict], lists: list[dict]) -> None:
    if not rows:
        return
    names = list(history.metrics)
    own = {"host": history.host, "app": True} if history.fleet else {}  # a fleet: the leader's rows, app-wide
    rows = [{**own, "ts": r["ts"], **{n: r.get(n) for n in names}} for r in rows]
    with history.engine.begin() as conn:
        conn.execute(history.samples.insert(), rows)
        if lists:
            conn.execute(history.usage_lists.insert(), lists)
