"""Realistic synthetic history: days of samples at a fixed interval, for trying reports and for benchmarks.

Deterministic for a given seed. CPU and memory follow a daily cycle with noise, disk grows slowly, services
have occasional outages, AI counters grow with traffic that peaks in the afternoon (with a Redis flush now
and then), usage figures are stored every 60 s with top-user and scenario lists. The model (Ollama's ``/api/ps``)
stays loaded while requests come and unloads after 5 idle minutes (each reload is a cold load); about once in
three days it runs partly on the CPU for an hour at a third of its usual tokens per second; the token counters
grow with the requests (from their own random sequence, so the other series are those of a given seed before
they existed).
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
    counters.update({f"ai_{f}_{k}": 0.0 for f in features
                     for k in ("prompt_tokens", "completion_tokens", "generation_seconds", "cold_loads")})
    model = _Model(random.Random(seed + 1), interval)
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
        served = 0
        if traffic and row["redis_up"]:
            for f in features:
                n = rng.randint(0, int(1 + 4 * daily))
                ok = sum(1 for _ in range(n) if rng.random() < 0.96)
                spent = sum(rng.uniform(0.8, 4.5) for _ in range(n))
                model.count(counters, f, n, bool(row["ollama_up"]))
                served += n
                counters[f"ai_{f}_requests"] += n
                counters[f"ai_{f}_success"] += ok
                counters[f"ai_{f}_time_seconds"] += spent
                counters["ai_total_requests"] += n
                counters["ai_total_time_seconds"] += spent
                counters["ai_cache_hits"] += sum(1 for _ in range(n) if rng.random() < 0.15)
        row.update(counters)
        row.update(model.step(t, served, bool(row["ollama_up"])))
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


class _Model:
    """The configured model in Ollama's memory and the token counters of its requests (its own ``rng``)."""

    SIZE = 5_400_000_000  # bytes of a 7B Q4_0 model with its context
    IDLE_UNLOAD = 300.0  # Ollama's default keep_alive

    def __init__(self, rng: random.Random, interval: float) -> None:
        self.rng = rng
        self.interval = interval
        self.loaded = False
        self.idle = 0.0
        self.loads = 0
        self.cpu_until: datetime | None = None

    def count(self, counters: dict[str, float], feature: str, requests: int, up: bool) -> None:
        """Add ``requests`` requests of ``feature`` to its token counters; the first one while the model is not
        loaded loads it (a cold load)."""
        if requests == 0 or not up:
            return
        if not self.loaded:
            self.loaded = True
            self.loads += 1
            counters[f"ai_{feature}_cold_loads"] += 1
        slow = self.cpu_until is not None
        for _ in range(requests):
            prompt, completion = self.rng.randint(120, 420), self.rng.randint(60, 320)
            speed = self.rng.gauss(13.0 if slow else 38.0, 1.5)
            counters[f"ai_{feature}_prompt_tokens"] += prompt
            counters[f"ai_{feature}_completion_tokens"] += completion
            counters[f"ai_{feature}_generation_seconds"] += round(completion / max(speed, 1.0), 6)

    def step(self, t: datetime, requests: int, up: bool) -> dict[str, float | None]:
        """The ``ollama_model_*`` columns at ``t`` after ``requests`` requests in the interval (None while down)."""
        if not up:
            return {}
        if self.cpu_until is not None and t >= self.cpu_until:
            self.cpu_until = None
        elif self.cpu_until is None and self.rng.random() < self.interval / (3 * 86400):
            self.cpu_until = t + timedelta(hours=1)
        if requests:
            self.idle = 0.0
        elif self.loaded:
            self.idle += self.interval
            if self.idle >= self.IDLE_UNLOAD:
                self.loaded = False
        ratio = 0.62 if self.cpu_until is not None else 0.0
        return {"ollama_model_loaded": 1.0 if self.loaded else 0.0,
                "ollama_model_cpu_offload_ratio": ratio if self.loaded else None,
                "ollama_model_size_bytes": float(self.SIZE) if self.loaded else None,
                "ollama_model_vram_bytes": round(self.SIZE * (1 - ratio)) if self.loaded else None,
                "ollama_model_loads": float(self.loads)}


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
