"""Rule evaluation time per snapshot: the default rules, 200 rules, and 200 rules on a fleet of 50 hosts.

What is timed is what the leader runs for each sample: ``Evaluator.evaluate(snapshot)`` (read every rule's value
from the snapshot, or the history for ``predict_linear`` / ``error_spike`` / ``ai_traffic_anomaly``; step each
alert instance through the Prometheus lifecycle; persist the changed states), then which alerts are suppressed
(the built-in inhibition rules and 20 generated ones, as each dispatcher pass computes them) and which receivers
are muted by their time intervals. Each snapshot is first written to the history (not timed), as the daemon does.
Four weeks of synthetic history (5-minute steps) come first, so ``ai_traffic_anomaly`` has its baseline (read
once per hour of the clock, as in the daemon).

Snapshots are synthetic and 10 s apart (the default sample interval) on a controlled clock, with values that
cross thresholds so alerts go pending, fire, reset and resolve (CPU bursts, memory spikes, a service that goes
down, AI latency and success rate moving, disk growing). The 200-rule set is the defaults plus generated
threshold rules on ``system.*``, ``services.{service}.*`` and ``ai.windows.*`` paths (some with ``each``
expansions, ``clear`` hysteresis, ``min_count`` guards and ``for`` durations). The fleet set runs on a private
schema of the local PostgreSQL: 49 other hosts leave their latest snapshot in ``hosts`` each cycle (not timed;
shaped as a follower's: the app-wide ``ai`` and ``usage`` sections are the leader's to sample) and the leader
evaluates the per-host rules on each of them.

Reported: ms per snapshot (median, p95, max), split into snapshots with and without a state change, then a
short cProfile pass (a separate run) grouping the time by component. Targets (issue 11, medians): default rules
<= 1 ms per snapshot; 200 rules and 50 hosts <= 20 ms.

    .venv/bin/python bench/alert_eval.py [--snapshots 500] [--rules 200] [--hosts 50] [--no-profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import table
from sqlalchemy import create_engine, text

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.inhibition import DEFAULT_RULES, parse_rules
from reporter.alerting.loading import load_alerting
from reporter.alerting.rules import build_rules, default_rules
from reporter.alerting.state import AlertStore
from reporter.alerting.suppression import suppressions
from reporter.base.ms import to_ms
from reporter.collect.ai import ai_section
from reporter.counters import CounterWindow
from reporter.settings import Settings
from reporter.snapshot import (
    SAMPLED_BY_LEADER,
    AISection,
    FeatureStats,
    FeatureWindow,
    OllamaHealth,
    PopularScenario,
    ServiceHealth,
    Services,
    Snapshot,
    SystemSection,
    TopUser,
    UsageSection,
    WindowStats,
    overall_status,
)
from reporter.store.history import History
from reporter.store.hosts import upsert_sample
from reporter.store.partitions import day_of
from reporter.store.synthetic import generate

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FEATURES = ["grammar", "quiz", "voice", "scenario"]
SERVICES = ["database", "redis", "ollama"]
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
STEP = 10.0  # seconds between snapshots (the daemon's default sample interval)
TZ = ZoneInfo("Europe/Berlin")


# ------------------------------------------------------------------------------------------- snapshots

class Drift:
    """A value that holds a level for a while (20-80 snapshots), then moves smoothly to a new one, with a
    little noise: thresholds in its range are crossed now and then, not on every sample."""

    def __init__(self, rng: random.Random, low: float, high: float) -> None:
        self.rng, self.low, self.high = rng, low, high
        self.value = self.target = rng.uniform(low, high)
        self.left = 0

    def __call__(self) -> float:
        if self.left <= 0:
            self.target, self.left = self.rng.uniform(self.low, self.high), self.rng.randint(20, 80)
        self.left -= 1
        self.value += (self.target - self.value) * 0.2
        return self.value + self.rng.uniform(-0.003, 0.003) * (self.high - self.low)


class Scenario:
    """Values that move so alerts go pending, fire, reset and resolve; deterministic for a seed."""

    def __init__(self, seed: int) -> None:
        rng = self.rng = random.Random(seed)
        self.memory, self.load1, self.load5 = Drift(rng, 50, 99), Drift(rng, 0, 5), Drift(rng, 0, 4)
        self.requests, self.avg, self.success = Drift(rng, 0, 80), Drift(rng, 1, 14), Drift(rng, 80, 100)
        self.cache = Drift(rng, 10, 30)
        self.feature = {f: (Drift(rng, 78, 100), Drift(rng, 1, 14)) for f in FEATURES}
        self.latency = {s: Drift(rng, 0.2, 16) for s in SERVICES}

    def snapshot(self, i: int) -> Snapshot:
        rng = self.rng
        t = T0 + timedelta(seconds=i * STEP)
        phase = i % 90
        # CPU: quiet, then flapping around 90 (resets pending), then a 7-minute burst (fires), then recovery
        if phase < 30:
            cpu = rng.uniform(20, 60)
        elif phase < 45:
            cpu = 91.0 if i % 2 else 89.0
        elif phase < 87:
            cpu = rng.uniform(92, 99)
        else:
            cpu = rng.uniform(40, 80)
        memory = self.memory()
        disk = 60 + i * 0.01 + rng.uniform(-0.05, 0.05)
        down = {"redis"} if 20 <= i % 70 < 26 else set()
        if i % 150 == 100:
            down.add("ollama")
        requests, avg, success = max(0.0, self.requests()), self.avg(), min(100.0, self.success())
        features = {}
        for f, (rate, time_) in self.feature.items():
            features[f] = FeatureWindow(requests=requests / 4, success_rate=min(100.0, rate()), avg_time=time_())
        window = WindowStats(window_seconds=300, requests=requests, requests_per_second=requests / 300,
                             avg_response_time=avg, success_rate=success, error_rate=100 - success,
                             cache_hit_rate=self.cache(), features=features)
        last = WindowStats(window_seconds=STEP, requests=requests / 30, avg_response_time=avg,
                           success_rate=success, error_rate=100 - success, features=features)
        services = Services(
            database=ServiceHealth(up="database" not in down, latency_ms=self.latency["database"]()),
            redis=ServiceHealth(up="redis" not in down, latency_ms=self.latency["redis"](),
                                error="connection refused" if "redis" in down else None),
            ollama=OllamaHealth(model="mistral:7b", up="ollama" not in down, is_available="ollama" not in down,
                                latency_ms=self.latency["ollama"](), models=["mistral:7b", "llama3:8b"]),
        )
        total = 10_000 + i * 20
        ai = AISection(
            model="mistral:7b", is_available=services.ollama.is_available, total_requests=total,
            total_time_seconds=total * 1.6, avg_response_time=1.6, cache_hits=total // 5, cache_hit_rate=20.0,
            features={f: FeatureStats(requests=total // 4, success=int(total // 4 * 0.97), success_rate=97.0,
                                      total_time_seconds=total * 0.4, avg_time=1.6) for f in FEATURES},
            windows={"last_interval": last, "5m": window},
        )
        usage = UsageSection(
            collected_at=t, total_users=1200, active_users_24h=300, active_users_1h=0 if 200 <= i < 600 else 25,
            total_scenarios=40, active_conversations=12, total_quizzes_taken=9000, total_grammar_checks=15000,
            top_users=[TopUser(user_id=f"u{k}", email=f"user{k}@example.com", activity_count=100 - k,
                               last_active=t) for k in range(10)],
            popular_scenarios=[PopularScenario(scenario_id=f"s{k}", name=f"scenario {k}", start_count=50 - k,
                                               completion_rate=70.0) for k in range(10)],
        )
        system = SystemSection(cpu_percent=round(cpu, 1), memory_percent=round(memory, 1), memory_used_gb=12.0,
                               memory_total_gb=16.0, disk_path="/", disk_percent=round(disk, 2),
                               disk_used_gb=300.0, disk_total_gb=500.0, uptime_seconds=86400.0 + i * STEP,
                               load_1m=self.load1(), load_5m=self.load5(), load_15m=1.0)
        return Snapshot(timestamp=t, host="web01.example.com", status=overall_status(services), system=system,
                        services=services, ai=ai, usage=usage, duration_ms=12.0)


# ------------------------------------------------------------------------------------------- rules

METRICS = [  # (path, op, low, high): thresholds are drawn between low and high so some are crossed
    ("system.cpu_percent", ">", 70, 98),
    ("system.memory_percent", ">", 70, 98),
    ("system.disk_percent", ">", 60, 66),
    ("system.load_1m", ">", 1, 4.5),
    ("system.load_5m", ">", 1, 3.5),
    ("ai.windows.5m.avg_response_time", ">", 3, 13),
    ("ai.windows.5m.success_rate", "<", 82, 97),
    ("ai.windows.5m.error_rate", ">", 3, 18),
    ("ai.windows.5m.requests", ">", 10, 70),
    ("ai.windows.5m.cache_hit_rate", "<", 12, 28),
    ("ai.windows.last_interval.requests", ">", 0.5, 2.5),
]
EACH_METRICS = [
    ("ai.windows.5m.features.{feature}.success_rate", "<", 80, 97, {"feature": FEATURES}),
    ("ai.windows.5m.features.{feature}.avg_time", ">", 3, 13, {"feature": FEATURES}),
    ("services.{service}.latency_ms", ">", 2, 15, {"service": SERVICES}),
    ("services.{service}.up", "==", 0, 0, {"service": SERVICES}),
]
FOR = ["0s", "10s", "30s", "1m", "2m", "5m"]


def generated_overrides(count: int, seed: int) -> dict[str, dict]:
    """``count`` extra threshold rules (every 4th with an ``each`` expansion), as alerting-file overrides."""
    rng = random.Random(seed)
    rules = {}
    for n in range(count):
        if n % 4 == 3:
            path, op, low, high, each = EACH_METRICS[(n // 4) % len(EACH_METRICS)]
        else:
            path, op, low, high = METRICS[n % len(METRICS)]
            each = {}
        threshold = round(rng.uniform(low, high), 1)
        rule = {"metric": path, "op": op, "threshold": threshold, "for": rng.choice(FOR),
                "severity": rng.choice(["critical", "warning", "info"]), "labels": {"team": f"t{n % 5}"},
                "summary": "{metric} {op} {threshold}", "description": "{metric} is {value} ({op} {threshold})."}
        if each:
            rule["each"] = each
        if op in (">", "<") and n % 3 == 0:  # hysteresis
            rule["clear"] = round(threshold - 3 if op == ">" else threshold + 3, 1)
        if path.startswith("ai.windows.5m.") and n % 2 == 0:
            guard = "ai.windows.5m.features.{feature}.requests" if "{feature}" in path else "ai.windows.5m.requests"
            rule.update(min_count_metric=guard, min_count=5)
        rules[f"bench_rule_{n:03d}"] = rule
    return rules


# ------------------------------------------------------------------------------------------- running

@contextlib.contextmanager
def history_at(fleet: bool):
    """A temporary history: a SQLite file, or a private schema of the local PostgreSQL (``fleet``), dropped
    after. On PostgreSQL the history is a fleet's: the evaluator reads the other hosts' ``hosts`` rows."""
    if not fleet:
        with tempfile.TemporaryDirectory(prefix="bench-alert-eval-") as tmp:
            history = History(f"sqlite:///{Path(tmp) / 'history.db'}", FEATURES, host="web01.example.com")
            try:
                yield history
            finally:
                history.close()
        return
    admin = create_engine(PG_URL)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    history = History(f"{PG_URL}?options=-csearch_path%3D{schema}", FEATURES, host="web01.example.com")
    try:
        yield history
    finally:
        history.close()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run(rules_overrides: dict[str, dict], snapshots: int, seed: int, profile: cProfile.Profile | None = None,
        hosts: int = 1):
    """Evaluate ``snapshots`` snapshots, then compute which alerts are suppressed (inhibition rules, silences
    left out) and which receivers are muted by their time intervals, as each dispatcher pass does; with ``hosts``
    > 1 on PostgreSQL, the ``hosts - 1`` other hosts' snapshots too. Four weeks of synthetic history (5-minute
    steps) come first, so ``ai_traffic_anomaly`` has its baseline. Returns (ms per snapshot, changes per
    snapshot, rules, instances)."""
    with history_at(hosts > 1) as history:
        if history.partitions is not None:  # PostgreSQL: one partition a day
            history.partitions.ensure(range(day_of(to_ms(T0 - timedelta(weeks=4))), day_of(to_ms(T0)) + 2))
        generate(history, T0 - timedelta(weeks=4), T0 - timedelta(minutes=5), interval=300, seed=seed)
        rules = build_rules(rules_overrides, FEATURES)
        evaluator = Evaluator(rules, Defaults(), AlertStore(history.engine), history, TZ, FEATURES)
        inhibit_rules = [*DEFAULT_RULES, *parse_rules(generated_inhibitions(20, seed))]
        receivers = bench_receivers()
        scenario = Scenario(seed)
        others = [f"web{k + 2:02d}.example.com" for k in range(hosts - 1)]
        times, changes = [], []
        for i in range(snapshots):
            snapshot = scenario.snapshot(i)
            history.write(snapshot)  # as the daemon does before evaluating; not timed
            if others:  # the other hosts' sample writes leave their latest snapshot in ``hosts``; not timed
                with history.engine.begin() as conn:
                    for k, name in enumerate(others):
                        s = calm(snapshot, k, i)
                        upsert_sample(conn, name, to_ms(s.timestamp), to_ms(s.timestamp), s.model_dump_json(),
                                      s.status)
            if profile is not None:
                profile.enable()
            start = time.perf_counter()
            changed = evaluator.evaluate(snapshot)
            suppressions(evaluator.records.values(), snapshot.timestamp, None, inhibit_rules)
            for receiver in receivers:
                receiver.muted(snapshot.timestamp)
            elapsed = time.perf_counter() - start
            if profile is not None:
                profile.disable()
            times.append(elapsed * 1000.0)
            changes.append(len(changed))
        return times, changes, len(rules), len(evaluator.instances)


INTERVALS = """
[[receivers]]
name = "oncall"
type = "webhook"
url = "http://127.0.0.1:9/hook"
mute_time_intervals = ["weekend-maintenance", "nightly-backup"]

[[receivers]]
name = "business"
type = "webhook"
url = "http://127.0.0.1:9/hook"
active_time_intervals = ["business-hours"]

[[receivers]]
name = "always"
type = "webhook"
url = "http://127.0.0.1:9/hook"

[[time_intervals]]
name = "weekend-maintenance"
[[time_intervals.time_intervals]]
weekdays = ["saturday", "sunday"]
times = [{ start_time = "02:00", end_time = "04:00" }]
location = "Europe/Berlin"

[[time_intervals]]
name = "nightly-backup"
[[time_intervals.time_intervals]]
times = [{ start_time = "01:00", end_time = "01:30" }]
location = "America/New_York"

[[time_intervals]]
name = "business-hours"
[[time_intervals.time_intervals]]
weekdays = ["monday:friday"]
times = [{ start_time = "08:00", end_time = "18:00" }]
days_of_month = ["1:-1"]
months = ["january:december"]
location = "Europe/Berlin"
"""


def bench_receivers() -> list:
    """Three receivers, two with time intervals (mute, active; three zones), as an alerting file gives them:
    each pass asks each receiver whether it is muted now."""
    with tempfile.TemporaryDirectory(prefix="bench-alert-eval-") as tmp:
        path = Path(tmp) / "alerting.toml"
        path.write_text(INTERVALS)
        return load_alerting(Settings(_env_file=None, alerting_file=str(path))).receivers


def calm(snapshot: Snapshot, k: int, i: int) -> Snapshot:
    """Another host's snapshot at the same time, as a follower writes it (its ``ai`` section all null with the
    error "sampled by the leader", no ``usage``: the leader samples the app-wide sections): mostly healthy (as
    most of a fleet is), every tenth host with a CPU burst for 40 samples out of 90 and every 25th with Redis
    down for 6 samples out of 70, so its per-host rules go pending, fire and resolve too."""
    burst = k % 10 == 0 and (i + k) % 90 >= 50
    system = snapshot.system.model_copy(update={"cpu_percent": 96.0 if burst else 22.0 + k % 7,
                                                "memory_percent": 45.0 + k % 11, "disk_percent": 41.0 + k % 5,
                                                "load_1m": 0.4, "load_5m": 0.3})
    down = k % 25 == 0 and 20 <= (i + k) % 70 < 26
    services = snapshot.services.model_copy(update={"redis": ServiceHealth(up=not down, latency_ms=0.4)})
    return snapshot.model_copy(update={"system": system, "services": services, "ai": FOLLOWER_AI, "usage": None})


FOLLOWER_AI = ai_section(None, CounterWindow(300.0), 0.0, FEATURES, "mistral:7b", SAMPLED_BY_LEADER)


def generated_inhibitions(count: int, seed: int) -> list[dict]:
    """``count`` inhibition rules between generated rules' teams and severities (some with ``equal``)."""
    rng = random.Random(seed)
    return [{"source_matchers": [f'team="t{rng.randrange(5)}"', 'severity="critical"'],
             "target_matchers": [f'team="t{rng.randrange(5)}"', 'severity=~"warning|info"'],
             "equal": ["host"] if n % 2 else []} for n in range(count)]


def pct(values: list[float], q: float) -> float:
    """q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))]


COMPONENTS = [  # (label, predicate on a pstats function key (file, line, name))
    ("SQLite execute/commit (state persistence)", lambda f, n: "sqlite3" in n or (f == "~" and "sqlite" in n)),
    ("SQLAlchemy (statement building, connections)", lambda f, n: "/sqlalchemy/" in f),
    ("pydantic (snapshot model_dump)", lambda f, n: "/pydantic" in f or "model_dump" in n or "to_python" in n),
    ("rule logic (reporter.alerting)", lambda f, n: "/reporter/alerting/" in f),
    ("json / templates / datetime / other", lambda f, n: True),
]


def breakdown(profile: cProfile.Profile) -> tuple[list[tuple[str, float]], list[tuple[str, float, int]]]:
    """Own time grouped by component (ms), and the top functions by own time."""
    stats = pstats.Stats(profile)
    groups = {label: 0.0 for label, _ in COMPONENTS}
    top = []
    for (file, line, name), (_cc, calls, tottime, _ct, _callers) in stats.stats.items():
        for label, match in COMPONENTS:
            if match(file, name):
                groups[label] += tottime * 1000.0
                break
        short = f"{Path(file).name}:{line} {name}" if file != "~" else name
        top.append((short, tottime * 1000.0, calls))
    top.sort(key=lambda r: -r[1])
    return sorted(groups.items(), key=lambda kv: -kv[1]), top[:10]


def summary_row(label: str, times: list[float], changes: list[int], rules: int, instances: int) -> tuple:
    quiet = [t for t, c in zip(times, changes, strict=True) if c == 0]
    busy = [t for t, c in zip(times, changes, strict=True) if c > 0]
    return (label, rules, instances, f"{statistics.median(times):.2f}", f"{pct(times, 95):.2f}",
            f"{max(times):.2f}", sum(changes), f"{statistics.median(quiet):.2f}" if quiet else "-",
            f"{statistics.median(busy):.2f}" if busy else "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Prints ms per snapshot against issue 11's targets.")
    parser.add_argument("--snapshots", type=int, default=500, help="snapshots evaluated per rule set (500)")
    parser.add_argument("--rules", type=int, default=200, help="total rules of the large set (200)")
    parser.add_argument("--hosts", type=int, default=50, help="hosts of the fleet set, this one included (50)")
    parser.add_argument("--fleet-snapshots", type=int, default=120, help="snapshots of the fleet set (120)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the values and generated rules")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile pass")
    args = parser.parse_args(argv)

    defaults_count = len(default_rules(FEATURES))
    extra = max(0, args.rules - defaults_count)
    generated = generated_overrides(extra, args.seed)
    sets = [("default rules", {}, 1, 1.0), (f"{defaults_count} default + {extra} generated", generated, 1, None),
            (f"{args.rules} rules, {args.hosts} hosts (PostgreSQL)", generated, args.hosts, 20.0)]
    print(f"alert rule evaluation: {args.snapshots} snapshots {STEP:g} s apart, state persisted to a temporary "
          f"SQLite history; Python {sys.version.split()[0]}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start (other processes add noise)")
    rows, fits, verdicts = [], [], []
    for label, overrides, hosts, target in sets:
        count = args.snapshots if hosts == 1 else min(args.snapshots, args.fleet_snapshots)
        run(overrides, 20, args.seed, hosts=min(hosts, 2))  # warm-up: imports, SQLAlchemy statement caches
        times, changes, rules, instances = run(overrides, count, args.seed, hosts=hosts)
        rows.append(summary_row(label, times, changes, rules, instances))
        if target is not None:
            median = statistics.median(times)
            verdicts.append(f"  {label}: median {median:.2f} ms per snapshot, target <= {target:g} ms -> "
                            f"{'PASS' if median <= target else 'MISS'}")
        if len(set(changes)) > 1:
            fit = statistics.linear_regression(changes, times)
            fits.append(f"  {label}: ~{fit.intercept:.2f} ms + {fit.slope:.2f} ms per alert state change "
                        f"(least squares over the {len(times)} snapshots; most changes in one snapshot: {max(changes)})")
    print()
    print(table(rows, ("rule set", "rules", "instances", "median ms", "p95 ms", "max ms", "state changes",
                       "median ms, no change", "median ms, with change")))
    print()
    print("cost model (time vs. alert state changes in the snapshot; a change = rows written in one transaction):")
    print("\n".join(fits))
    print()
    print("targets (issue 11; evaluation + inhibition + time intervals, medians on this shared machine):")
    print("\n".join(verdicts))

    if not args.no_profile:
        profile = cProfile.Profile()
        label = sets[1][0]
        times, _, _, _ = run(sets[1][1], min(args.snapshots, 300), args.seed, profile)
        groups, top = breakdown(profile)
        total = sum(ms for _, ms in groups)
        print()
        print(f"where the time goes ({label}, cProfile over {min(args.snapshots, 300)} snapshots, own time; "
              f"profiling inflates absolute figures):")
        print(table([(g, f"{ms:.0f}", f"{ms / total * 100:.0f} %") for g, ms in groups],
                    ("component", "ms", "share")))
        print()
        print(table([(name, f"{ms:.0f}", calls) for name, ms, calls in top], ("top functions (own time)", "ms", "calls")))
        print()
        print(f"dominant: {groups[0][0]} ({groups[0][1] / total * 100:.0f} % of evaluation time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
