"""History size and read speed: bytes per snapshot on disk and the time to read a 24 h series, from 30 days of
10 s samples (259,200 rows) in a SQLite history file.

The file is built from realistic synthetic Snapshots (see :class:`Synthetic`: a daily traffic curve drives
CPU, memory, load and the AI counters; latencies with outliers; a Redis flush and short outages; usage
figures and the top-users / popular-scenarios lists every 60 s from a simulated user population). Rows are
encoded exactly as ``History.write`` does (each metric's ``read`` and fixed-point column type), but inserted in
batches of a day per transaction for speed; before that, a self-check writes the first hours both through
``History.write`` and through the batch path into two files and compares their contents.

Bytes per snapshot = file size after a WAL checkpoint / rows (all tables: ``samples`` and ``usage_lists``).
The 24 h read is ``History.series("cpu_percent", end - 24 h, end)``, median of ``--reads`` runs.
The file is cached under ``bench/out/`` (keyed by rows and the history schema); ``--rebuild`` forces a new one.
Targets: <= 150 bytes per snapshot, 24 h series read < 200 ms.

Retention (on a copy of the file): the daily prune (the oldest day) and a retention cut (10 more days), each
followed by ``History.reclaim`` exactly as the daemon's prune job runs them, while a writer thread stores a
sample every 50 ms and a monitor polls the WAL every 5 ms. Printed: file and WAL size before and after, the
WAL's peak, the reclaim's steps and longest step, and the longest sample write. Targets: the file shrinks with
the rows (after <= before x rows kept / rows before + 2 %), the WAL <= 2 MiB after and <= 4 MiB at its peak,
no sample write waits >= 100 ms (1 % of the 10 s interval).
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import math
import random
import sqlite3
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _support as s

TARGET_BYTES = 150.0
TARGET_READ_MS = 200.0
TARGET_WAL_AFTER = 2 * 1024 * 1024
TARGET_WAL_PEAK = 4 * 1024 * 1024
TARGET_WRITE_WAIT_MS = 100.0
INTERVAL_S = 10
USAGE_EVERY = 6  # usage figures every 60 s
GENERATOR_VERSION = 2  # 2: files made with incremental auto-vacuum
OUT = s.BENCH / "out"
FEATURE_MIX = {"grammar": (0.40, 1.2), "quiz": (0.25, 1.6), "voice": (0.15, 3.1), "scenario": (0.20, 2.2)}
SCENARIOS = ["cafe", "airport", "hotel", "doctor", "job interview", "bank", "pharmacy", "train station",
             "restaurant", "shopping", "small talk", "apartment viewing"]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


class ActiveUsers:
    """Distinct users active in the last ``seconds`` (a sliding window of activity events)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.events: deque[tuple[float, int]] = deque()
        self.counts: dict[int, int] = {}

    def add(self, at: float, user: int) -> None:
        self.events.append((at, user))
        self.counts[user] = self.counts.get(user, 0) + 1

    def distinct(self, now: float) -> int:
        while self.events and self.events[0][0] < now - self.seconds:
            _, user = self.events.popleft()
            self.counts[user] -= 1
            if not self.counts[user]:
                del self.counts[user]
        return len(self.counts)


class Synthetic:
    """Snapshots of a small production host running the app, one every 10 s from ``start``.

    Traffic follows a daily curve (quiet nights, busy afternoons, quieter weekends); CPU, memory, load and
    the AI request rate follow it with noise. Counters only grow (one Redis flush on day 17 resets them); the
    app's users are a population with Zipf-like activity from which the usage figures and lists are computed.
    """

    def __init__(self, start: datetime, features: list[str], seed: int = 20261129) -> None:
        from reporter.snapshot import (
            AISection,
            FeatureStats,
            OllamaHealth,
            PopularScenario,
            ServiceHealth,
            Services,
            Snapshot,
            SystemSection,
            TopUser,
            UsageSection,
            overall_status,
        )

        self.m = dict(AISection=AISection, FeatureStats=FeatureStats, OllamaHealth=OllamaHealth,
                      PopularScenario=PopularScenario, ServiceHealth=ServiceHealth, Services=Services,
                      Snapshot=Snapshot, SystemSection=SystemSection, TopUser=TopUser, UsageSection=UsageSection,
                      overall_status=overall_status)
        self.usage_fields = set(UsageSection.model_fields)
        self.rng = random.Random(seed)
        self.start = start
        self.features = features
        self.cpu_noise = 0.0
        self.mem_walk = 0.0
        self.load = [0.5, 0.5, 0.5]
        self.uptime = 3 * 86400.0 + 1234.5
        self.disk_used = 41.2
        self.counters = self._zero_counters()
        self.usage = None
        # the app's users: activity weight (Zipf-like), counts, last activity
        self.user_weights = [1.0 / (i + 1) ** 0.9 for i in range(1200)]
        self.users_total = 900
        self.activity = {}
        self.last_active = {}
        self.top: list[int] = []
        self.scenario_starts = [0] * len(SCENARIOS)
        self.scenario_completed = [0] * len(SCENARIOS)
        self.scenario_weights = [1.0 / (i + 1) ** 0.7 for i in range(len(SCENARIOS))]
        self.quizzes, self.grammar_checks = 18_400, 52_100
        self.cum_weights = list(itertools.accumulate(self.user_weights[:self.users_total]))
        self.active_24h, self.active_1h = ActiveUsers(86400), ActiveUsers(3600)

    def _zero_counters(self) -> dict:
        c = {"total_requests": 0, "total_time": 0.0, "cache_hits": 0}
        for f in self.features:
            c[f"{f}:requests"], c[f"{f}:success"], c[f"{f}:time"] = 0, 0, 0.0
        return c

    @staticmethod
    def traffic(at: datetime) -> float:
        """0..1: share of peak traffic at ``at`` (UTC): low at night, peak mid-afternoon, weekends at 60 %."""
        hour = at.hour + at.minute / 60.0
        daily = max(0.03, math.sin(math.pi * (hour - 6.0) / 18.0)) if 6.0 <= hour <= 24.0 else 0.03
        return daily * (0.6 if at.weekday() >= 5 else 1.0)

    def snapshot(self, i: int):
        m, rng = self.m, self.rng
        at = self.start + timedelta(seconds=i * INTERVAL_S, milliseconds=rng.randint(1, 40))
        d = self.traffic(at)
        day = i * INTERVAL_S / 86400.0

        # system
        self.cpu_noise = 0.8 * self.cpu_noise + rng.gauss(0, 2.5)
        cpu = 4.0 + 38.0 * d + self.cpu_noise + (rng.uniform(20, 50) if rng.random() < 0.002 else 0.0)
        cpu = round(min(100.0, max(0.3, cpu)), 2)
        self.mem_walk = max(-5.0, min(5.0, self.mem_walk + rng.gauss(0, 0.05)))
        mem_pct = round(31.0 + 14.0 * d + self.mem_walk, 1)
        mem_total = 23.541
        self.uptime += INTERVAL_S + rng.uniform(-0.05, 0.05)
        self.disk_used += 0.06 / 8640 + rng.gauss(0, 0.0005)
        ncpu = 4
        self.load[0] = 0.8 * self.load[0] + 0.2 * (cpu / 100 * ncpu + abs(rng.gauss(0, 0.2)))
        self.load[1] = 0.97 * self.load[1] + 0.03 * self.load[0]
        self.load[2] = 0.99 * self.load[2] + 0.01 * self.load[0]
        system = m["SystemSection"](
            cpu_percent=cpu, memory_percent=mem_pct, memory_used_gb=round(mem_total * mem_pct / 100, 3),
            memory_total_gb=mem_total, disk_path="/", disk_percent=round(self.disk_used / 98.3 * 100, 1),
            disk_used_gb=round(self.disk_used, 3), disk_total_gb=98.3, uptime_seconds=round(self.uptime, 1),
            load_1m=round(self.load[0], 2), load_5m=round(self.load[1], 2), load_15m=round(self.load[2], 2))

        # services: short outages of Ollama (day 9, 20 min) and Redis (day 20, 3 min)
        ollama_down = 9.40 <= day < 9.40 + 20 / 1440
        redis_down = 20.61 <= day < 20.61 + 3 / 1440

        def latency(median_ms: float, spread: float) -> float:
            return round(median_ms * math.exp(rng.gauss(0, spread)) * (1 + 0.5 * d), 2)

        database = m["ServiceHealth"](up=True, latency_ms=latency(0.9, 0.35))
        redis = (m["ServiceHealth"](up=False, latency_ms=latency(1800, 0.01), error="Timeout connecting to server")
                 if redis_down else m["ServiceHealth"](up=True, latency_ms=latency(0.35, 0.3)))
        if ollama_down:
            ollama = m["OllamaHealth"](model="mistral:7b", up=False, is_available=False, latency_ms=latency(0.6, 0.2),
                                       error="ConnectError: [Errno 111] Connection refused")
        else:
            ollama = m["OllamaHealth"](model="mistral:7b", up=True, is_available=True, latency_ms=latency(2.4, 0.4),
                                       models=["mistral:7b", "nomic-embed-text:latest"])
        services = m["Services"](database=database, redis=redis, ollama=ollama)

        # AI counters: requests of the last 10 s, split by feature; one Redis flush on day 17
        if i == int(17.3 * 8640):
            self.counters = self._zero_counters()
        requests = 0 if ollama_down else poisson(rng, 0.2 + 4.5 * d)
        c = self.counters
        for f in self.features:
            share, mean_s = FEATURE_MIX.get(f, (0.1, 1.5))
            n = sum(1 for _ in range(requests) if rng.random() < share)
            if n:
                c[f"{f}:requests"] += n
                c[f"{f}:success"] += sum(1 for _ in range(n) if rng.random() < 0.97)
                c[f"{f}:time"] += sum(mean_s * math.exp(rng.gauss(0, 0.4)) for _ in range(n))
            c["total_requests"] += n
        c["total_time"] = sum(c[f"{f}:time"] for f in self.features)
        c["cache_hits"] += sum(1 for _ in range(requests) if rng.random() < 0.2)
        if redis_down:
            ai = m["AISection"](model="mistral:7b", error="ConnectionError: Timeout connecting to server")
        else:
            ai = m["AISection"](
                model="mistral:7b", is_available=ollama.is_available, total_requests=c["total_requests"],
                total_time_seconds=round(c["total_time"], 6), cache_hits=c["cache_hits"],
                features={f: m["FeatureStats"](requests=c[f"{f}:requests"], success=c[f"{f}:success"],
                                               total_time_seconds=round(c[f"{f}:time"], 6))
                          for f in self.features})

        if i % USAGE_EVERY == 0:
            self.usage = self._usage(at, d)
        status = m["overall_status"](services)
        return m["Snapshot"](timestamp=at, host="app01", status=status, system=system, services=services, ai=ai,
                             usage=self.usage, duration_ms=round(6.0 + abs(rng.gauss(0, 3)) + 3.0 * d, 2))

    def _usage(self, at: datetime, d: float):
        """One minute of app activity, then the usage section as the reporter's queries would read it."""
        m, rng = self.m, self.rng
        now_s = at.timestamp()
        if rng.random() < 0.02 + 0.1 * d and self.users_total < len(self.user_weights):
            self.users_total += 1
            self.cum_weights.append(self.cum_weights[-1] + self.user_weights[self.users_total - 1])
        for _ in range(poisson(rng, 0.5 + 30.0 * d)):
            user = bisect.bisect(self.cum_weights, rng.random() * self.cum_weights[-1])
            kind = rng.random()
            if kind < 0.4:
                sc = rng.choices(range(len(SCENARIOS)), weights=self.scenario_weights)[0]
                self.scenario_starts[sc] += 1
                self.scenario_completed[sc] += rng.random() < 0.72
            elif kind < 0.65:
                self.quizzes += 1
            else:
                self.grammar_checks += 1
            self.activity[user] = self.activity.get(user, 0) + 1
            self.last_active[user] = now_s - rng.uniform(0, 60)
            self.active_24h.add(now_s, user)
            self.active_1h.add(now_s, user)
            if user not in self.top:
                self.top.append(user)
            self.top.sort(key=lambda u: (-self.activity[u], f"u{u:05d}"))
            del self.top[10:]
        active_24h, active_1h = self.active_24h.distinct(now_s), self.active_1h.distinct(now_s)
        top_users = [m["TopUser"](user_id=f"u{u:05d}", email=f"u***@example{u % 7}.com",
                                  activity_count=self.activity[u],
                                  last_active=datetime.fromtimestamp(self.last_active[u], UTC))
                     for u in self.top]
        order = sorted(range(len(SCENARIOS)), key=lambda k: -self.scenario_starts[k])[:10]
        popular = [m["PopularScenario"](scenario_id=f"s{k:02d}", name=SCENARIOS[k],
                                        start_count=self.scenario_starts[k],
                                        completion_rate=round(self.scenario_completed[k] / self.scenario_starts[k]
                                                              * 100, 2) if self.scenario_starts[k] else None)
                   for k in order if self.scenario_starts[k]]
        figures = dict(collected_at=at, total_users=self.users_total, active_users_24h=active_24h,
                       active_users_1h=active_1h, total_scenarios=len(SCENARIOS),
                       active_conversations=poisson(rng, 1 + 12 * d), total_quizzes_taken=self.quizzes,
                       total_grammar_checks=self.grammar_checks, top_users=top_users, popular_scenarios=popular)
        return m["UsageSection"](**{k: v for k, v in figures.items() if k in self.usage_fields})


class BatchWriter:
    """Writes snapshots to a History in ts order, many per transaction, with History.write's encoding:
    one ``samples`` row per snapshot (every written metric's ``read``), a ``usage_lists`` row for each list that
    changed and was last stored LIST_EVERY_MS ago (same JSON and policy as History.write)."""

    def __init__(self, history) -> None:
        from reporter.base.ms import to_ms

        self.history, self.to_ms = history, to_ms
        from reporter.store.history import LIST_EVERY_MS

        self.metrics = list(history._written.items())
        self.every_ms = LIST_EVERY_MS
        self.last: dict[str, tuple[int, str]] = {}
        self.rows: list[dict] = []
        self.lists: list[dict] = []

    def add(self, snapshot) -> None:
        ts = self.to_ms(snapshot.timestamp)
        row = {"ts": ts}
        for name, metric in self.metrics:
            row[name] = metric.read(snapshot)
        self.rows.append(row)
        usage = snapshot.usage
        if usage is not None and usage.collected_at == snapshot.timestamp:
            dumped = usage.model_dump(mode="json", include={"top_users", "popular_scenarios"})
            for kind, items in dumped.items():
                body = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
                last_ts, last_body = self.last.get(kind, (None, None))
                if last_body != body and (last_ts is None or ts - last_ts >= self.every_ms):
                    self.lists.append({"kind": kind, "ts": ts, "body": body})
                    self.last[kind] = (ts, body)

    def flush(self) -> None:
        if not self.rows:
            return
        with self.history.engine.begin() as conn:
            conn.execute(self.history._insert, self.rows)
            if self.lists:
                conn.execute(self.history.usage_lists.insert(), self.lists)
        self.rows, self.lists = [], []


def table_dump(path: Path) -> list:
    conn = sqlite3.connect(path)
    try:
        return [conn.execute("SELECT * FROM samples ORDER BY ts").fetchall(),
                conn.execute("SELECT * FROM usage_lists ORDER BY kind, ts").fetchall()]
    finally:
        conn.close()


def self_check(workdir: Path, start: datetime, rows: int) -> float:
    """Write ``rows`` snapshots through History.write and through BatchWriter; raise if the files differ.
    Returns History.write's median ms per snapshot."""
    from reporter.store.history import History

    direct = History(f"sqlite:///{workdir / 'direct.db'}", s.FEATURES)
    batch = History(f"sqlite:///{workdir / 'batch.db'}", s.FEATURES)
    writer = BatchWriter(batch)
    gen_a, gen_b = Synthetic(start, s.FEATURES), Synthetic(start, s.FEATURES)
    times = []
    for i in range(rows):
        snap = gen_a.snapshot(i)
        t = time.perf_counter()
        direct.write(snap)
        times.append((time.perf_counter() - t) * 1000)
        writer.add(gen_b.snapshot(i))
    writer.flush()
    direct.close()
    batch.close()
    if table_dump(workdir / "direct.db") != table_dump(workdir / "batch.db"):
        raise RuntimeError("self-check failed: the batch path does not store what History.write stores")
    return s.median(times)


def schema_key(rows: int) -> str:
    from reporter.catalog import catalog
    from reporter.store.migrate import MIGRATIONS

    parts = [str(GENERATOR_VERSION), str(rows), ",".join(s.FEATURES)]
    parts += [f"{m.name}:{m.scale}" for m in catalog(s.FEATURES).values()]
    parts += sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py"))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def checkpoint(path: Path) -> None:
    """Move the WAL into the database file (what the file size should count)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def remove_stale(rows: int) -> None:
    """Delete cached files of the same size built for an older schema or generator."""
    for old in OUT.glob(f"history-{rows}-*"):
        old.unlink(missing_ok=True)


def build(path: Path, rows: int) -> dict:
    from reporter.store.history import History

    end = datetime.now(UTC).replace(microsecond=0)
    end -= timedelta(seconds=end.timestamp() % INTERVAL_S)
    start = end - timedelta(seconds=rows * INTERVAL_S)
    info = {"rows": rows, "start": start.isoformat(), "end": end.isoformat()}
    with s.tempdir() as workdir:
        info["history_write_ms"] = round(self_check(workdir, start, min(rows, 2 * 360)), 3)
    remove_stale(rows)
    tmp = path.with_suffix(".building")
    history = History(f"sqlite:///{tmp}", s.FEATURES)
    writer = BatchWriter(history)
    gen = Synthetic(start, s.FEATURES)
    started = time.perf_counter()
    for i in range(rows):
        writer.add(gen.snapshot(i))
        if len(writer.rows) >= 8640:
            writer.flush()
            done = i + 1
            print(f"\r  building: {done:,}/{rows:,} snapshots ({done / rows:.0%})", end="", file=sys.stderr, flush=True)
    writer.flush()
    print(file=sys.stderr)
    history.close()
    checkpoint(tmp)
    info["build_seconds"] = round(time.perf_counter() - started, 1)
    tmp.rename(path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2))
    return info


def sizes(path: Path) -> dict[str, int]:
    """Bytes on disk by table (and its indexes) from SQLite's dbstat, plus the file size."""
    conn = sqlite3.connect(path)
    try:
        by_name = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall())
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page_size
    finally:
        conn.close()
    tables: dict[str, int] = {}
    for name, size in by_name.items():
        table = owner.get(name, name)
        tables[table] = tables.get(table, 0) + size
    tables["(free pages)"] = free
    tables["(file)"] = path.stat().st_size
    return tables


class SampleLoad:
    """While running: a thread storing a sample every 50 ms (the longest wait of each write is kept) and one
    polling the WAL's size every 5 ms (its peak is kept)."""

    def __init__(self, history, wal: Path, first_ts: int) -> None:
        import threading

        self.history, self.wal, self.ts = history, wal, first_ts
        self.stop = threading.Event()
        self.waits_ms: list[float] = []
        self.wal_peak = 0
        self.threads = [threading.Thread(target=self._write), threading.Thread(target=self._watch)]

    def _write(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            with self.history.engine.begin() as conn:
                conn.execute(self.history._insert, {"ts": self.ts, "cpu_percent": 12.5})
            self.waits_ms.append((time.perf_counter() - began) * 1000)
            self.ts += 10_000
            self.stop.wait(0.05)

    def _watch(self) -> None:
        while not self.stop.is_set():
            self.wal_peak = max(self.wal_peak, self.wal.stat().st_size if self.wal.exists() else 0)
            self.stop.wait(0.005)

    def __enter__(self) -> SampleLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def retention(path: Path, end: datetime) -> list[tuple]:
    """Prune + reclaim on a copy of ``path`` (the daily prune, then a cut of 10 more days) as the daemon's
    prune job runs them, under a :class:`SampleLoad`; returns the printed rows."""
    import shutil

    from reporter.base.ms import to_ms
    from reporter.daemon.jobs import PruneJob
    from reporter.store.history import History
    from reporter.store.reclaim import vacuum_mode

    rows_out = []
    with s.tempdir() as workdir:
        copy = workdir / "history.db"
        shutil.copyfile(path, copy)
        wal = Path(f"{copy}-wal")
        history = History(f"sqlite:///{copy}", s.FEATURES)
        try:
            if vacuum_mode(history.engine) != "incremental":
                raise RuntimeError(f"{path.name} was made without incremental vacuum; run with --rebuild")
            oldest, next_ts = history.first_time(), to_ms(end)
            for label, days in (("daily prune (1 day of 30)", 1), ("retention cut (10 more days)", 11)):
                count_before, size_before = history.count(), copy.stat().st_size
                job = PruneJob(history, 1, float(INTERVAL_S))
                with SampleLoad(history, wal, next_ts) as load:
                    started = time.perf_counter()
                    history.prune(oldest + timedelta(days=days))
                    prune_s = time.perf_counter() - started
                    done = history.reclaim(job.step_seconds)
                next_ts = load.ts
                count_after, size_after = history.count(), copy.stat().st_size
                wal_after = wal.stat().st_size if wal.exists() else 0
                allowed = size_before * count_after / count_before * 1.02
                longest = max(load.waits_ms)
                rows_out += [
                    (f"{label}: samples", f"{count_before:,} -> {count_after:,}", "", ""),
                    ("  file bytes before -> after", f"{size_before:,} -> {size_after:,}", f"<= {allowed:,.0f}",
                     s.verdict(size_after <= allowed)),
                    ("  WAL bytes after / peak", f"{wal_after:,} / {load.wal_peak:,}",
                     f"<= {TARGET_WAL_AFTER:,} / {TARGET_WAL_PEAK:,}",
                     s.verdict(wal_after <= TARGET_WAL_AFTER and load.wal_peak <= TARGET_WAL_PEAK)),
                    ("  prune s / reclaim s (steps, longest step ms)",
                     f"{prune_s:.2f} / {done.seconds:.2f} ({done.steps}, {done.longest_step * 1000:.1f})", "", ""),
                    (f"  longest sample write meanwhile, ms ({len(load.waits_ms)} writes)", f"{longest:.1f}",
                     f"< {TARGET_WRITE_WAIT_MS:g}", s.verdict(longest < TARGET_WRITE_WAIT_MS)),
                ]
        finally:
            history.close()
    return rows_out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=f"Targets: <= {TARGET_BYTES:g} bytes per snapshot, "
                                            f"24 h series read < {TARGET_READ_MS:g} ms.")
    parser.add_argument("--rows", type=int, default=30 * 8640, help="snapshots, 10 s apart (default 259200 = 30 days)")
    parser.add_argument("--reads", type=int, default=7, help="timed 24 h reads (default 7)")
    parser.add_argument("--rebuild", action="store_true", help="build the file even if a cached one exists")
    args = parser.parse_args()
    if args.rows < 8640:
        parser.error("--rows must cover at least one day (8640)")

    from reporter.store.history import History

    OUT.mkdir(exist_ok=True)
    path = OUT / f"history-{args.rows}-{schema_key(args.rows)}.db"
    if args.rebuild or not path.exists():
        print(f"building {path.relative_to(s.ROOT)} ({args.rows:,} snapshots) ...", file=sys.stderr)
        info = build(path, args.rows)
        cached = False
    else:
        info = json.loads(path.with_suffix(".json").read_text())
        cached = True
    checkpoint(path)
    by_table = sizes(path)
    history = History(f"sqlite:///{path}", s.FEATURES)
    try:
        rows = history.count()
        end = datetime.fromisoformat(info["end"])
        start = end - timedelta(hours=24)
        history.series("cpu_percent", start, end)  # warm the connection pool and statement cache
        times, points = [], 0
        for _ in range(args.reads):
            t = time.perf_counter()
            points = len(history.series("cpu_percent", start, end))
            times.append((time.perf_counter() - t) * 1000)
        wide = []
        for _ in range(3):
            t = time.perf_counter()
            history.rows(["cpu_percent", "memory_percent", "ai_total_requests", "ollama_up"], start, end)
            wide.append((time.perf_counter() - t) * 1000)
    finally:
        history.close()
    checkpoint(path)
    file_bytes = path.stat().st_size
    per_snapshot = file_bytes / rows
    read_ms = s.median(times)
    print(f"{rows:,} snapshots ({rows / 8640:.1f} days at {INTERVAL_S} s) in {path.relative_to(s.ROOT)}"
          f"{' (cached)' if cached else ''}; built in {info['build_seconds']} s; "
          f"History.write {info['history_write_ms']} ms/snapshot; batch path == History.write: checked\n")
    table = [(name, f"{size:,}", f"{size / rows:.1f}") for name, size in sorted(by_table.items()) if size]
    print(s.table(table, ("on disk", "bytes", "bytes/snapshot")))
    print()
    rows_out = [
        ("bytes per snapshot (file after checkpoint / rows)", f"{per_snapshot:.1f}", f"<= {TARGET_BYTES:g}",
         s.verdict(per_snapshot <= TARGET_BYTES)),
        (f"24 h series read, cpu_percent ({points:,} points), median ms", f"{read_ms:.1f}",
         f"< {TARGET_READ_MS:g}", s.verdict(read_ms < TARGET_READ_MS)),
        ("24 h rows read, 4 metrics, median ms", f"{s.median(wide):.1f}", "", ""),
    ]
    print(s.table(rows_out, ("figure", "value", "target", "")))
    print()
    print(s.table(retention(path, datetime.fromisoformat(info["end"])), ("retention", "value", "target", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
