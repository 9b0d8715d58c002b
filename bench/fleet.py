"""A fleet on one PostgreSQL: N simulated hosts writing a sample every 10 s, and the leader's evaluation cycle.

Each simulated host writes its snapshots through the real write path (``History.write``: the ``samples`` row in
its day partition plus its ``hosts`` row with the snapshot's JSON, in one transaction) into a fresh schema of
the local ``test`` database; host-000 is the leader (it holds the app-wide AI and usage values; the others'
``ai`` section says "sampled by the leader"). Time is compressed: each cycle's N samples (timestamps 10 s
apart from cycle to cycle) are written as fast as ``--writers`` threads can, then the leader evaluates the
fleet: the seed's default rules on every host's latest snapshot (:func:`evaluate_fleet`, the one place the
per-host call is made), timed alone.

Figures per N (the first cycle, which makes the day partitions and warms the plans, left out): write latency
per sample (median, p95), the leader's evaluation time per cycle (median, max)
against the target (< 1 s at 500 hosts), and PostgreSQL's CPU per cycle: CPU seconds of the server's
processes (``/proc/<pid>/stat``; this benchmark's own backends, found by their ``application_name``, and the
server's background processes — WAL writer, checkpointer, autovacuum — which other sessions share) per cycle of
N writes + one evaluation, divided by the 10 s interval = the share of one core the fleet would cost at its
real rate (the mean over cycles: the kernel counts CPU in 10 ms ticks). Latencies and evaluation times are medians;
the machine is shared, so read ratios, not absolutes.

    .venv/bin/python bench/fleet.py                       # N = 10, 100, 500 (~1.5 min)
    .venv/bin/python bench/fleet.py --hosts 500 --cycles 8
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psutil
from _support import median, percentile, table, verdict
from alert_eval import FEATURES, Scenario
from sqlalchemy import create_engine, text

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertStore
from reporter.snapshot import AISection, Snapshot
from reporter.store.history import History

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
APP_NAME = "reporter-bench-fleet"
INTERVAL = 10.0  # seconds between a host's samples
TARGET_CYCLE_S = 1.0  # the leader's evaluation of the whole fleet, per cycle, at 500 hosts
TZ = ZoneInfo("UTC")
TICK = os.sysconf("SC_CLK_TCK")
BACKGROUND = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical replication")


# ------------------------------------------------------------------------------------------- the hosts

def host_name(i: int) -> str:
    return f"host-{i:03d}"


def host_writer(history: History, name: str) -> History:
    """A writer storing its samples under host ``name`` through ``History.write`` (the history's engine, tables
    and partitions shared: one process stands in for N nodes). A real node opens ``History(url, ..., host=name)``;
    that would be N engines and N migration checks here."""
    writer = copy.copy(history)
    writer.host = name
    writer._last_lists = {}  # per host, as each node's History keeps its own
    return writer


def host_snapshot(scenario: Scenario, cycle: int, name: str, leader: bool, t0: datetime) -> Snapshot:
    """The snapshot host ``name`` takes at ``cycle``: the scenario's values at the fleet's time; a follower's
    app-wide sections are the leader's (ai: every value None, usage: None)."""
    snap = scenario.snapshot(cycle)
    update: dict = {"timestamp": t0 + timedelta(seconds=cycle * INTERVAL), "host": name}
    if not leader:
        update.update(ai=AISection(model=snap.ai.model, error="sampled by the leader"), usage=None)
    return snap.model_copy(update=update)


# ------------------------------------------------------------------------------------------- the leader

def evaluate_fleet(evaluator: Evaluator, own: Snapshot, others: dict[str, Evaluator] | None) -> int:
    """The leader's evaluation of one cycle; returns the number of alert state changes.

    With per-host evaluation in the Evaluator (it reads every other host's latest snapshot from the ``hosts``
    rows itself), one call on the leader's own snapshot. Without it (``others``: one evaluator per other host,
    each reading its host's snapshot from the ``hosts`` rows), the same work host by host."""
    changes = len(evaluator.evaluate(own))
    if others:
        from reporter.store.hosts import HostRegistry

        for row in HostRegistry(evaluator.store.engine).list():
            if row.name in others and row.snapshot is not None:
                changes += len(others[row.name].evaluate(Snapshot.model_validate_json(row.snapshot)))
    return changes


def per_host_in_evaluator(evaluator: Evaluator) -> bool:
    """True when the Evaluator evaluates the other hosts itself (issue 10's per-host evaluation)."""
    return getattr(evaluator, "fleet", None) is not None


# ------------------------------------------------------------------------------------------- PostgreSQL CPU

def server_pids(admin) -> tuple[list[int], list[int]]:
    """(this benchmark's backends, the server's background processes) by pid."""
    with admin.connect() as conn:
        ours = [r[0] for r in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": APP_NAME})]
        background = [r[0] for r in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = ANY(:t)"),
            {"t": [b if b != "autovacuum" else "autovacuum launcher" for b in BACKGROUND]
             + ["autovacuum worker", "walwriter"]})]
    return ours, background


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` from /proc/<pid>/stat (a process that ended counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / TICK


# ------------------------------------------------------------------------------------------- one run

def run(hosts: int, cycles: int, writers: int) -> dict:
    """N hosts for ``cycles`` cycles in a fresh schema; the figures of one row."""
    schema = f"bench_fleet_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}&application_name={APP_NAME}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=cycles * INTERVAL)
    try:
        history = History(url, FEATURES, host=host_name(0))
        names = [host_name(i) for i in range(hosts)]
        hosts_writers = {name: host_writer(history, name) for name in names}
        scenarios = {name: Scenario(i) for i, name in enumerate(names)}
        rules = build_rules({}, FEATURES)
        evaluator = Evaluator(rules, Defaults(), AlertStore(history.engine), history, TZ, FEATURES,
                              sample_interval=INTERVAL)
        others = None
        if not per_host_in_evaluator(evaluator):
            others = {name: Evaluator(rules, Defaults(), AlertStore(history.engine), hosts_writers[name], TZ,
                                      FEATURES, sample_interval=INTERVAL) for name in names[1:]}
        latencies: list[list[float]] = []  # per cycle, ms
        lock = threading.Lock()

        def write(name: str, snap: Snapshot) -> None:
            started = time.perf_counter()
            hosts_writers[name].write(snap)
            elapsed = (time.perf_counter() - started) * 1000.0
            with lock:
                latencies[-1].append(elapsed)

        evals, changes, write_walls, pg_ours, pg_bg = [], [], [], [], []
        with ThreadPoolExecutor(writers) as pool:
            for cycle in range(cycles):
                snaps = {name: host_snapshot(scenarios[name], cycle, name, name == names[0], t0) for name in names}
                ours, background = server_pids(admin)
                c_ours, c_bg = cpu_seconds(ours), cpu_seconds(background)
                latencies.append([])
                started = time.perf_counter()
                list(pool.map(write, names, [snaps[n] for n in names]))
                write_walls.append(time.perf_counter() - started)
                started = time.perf_counter()
                changes.append(evaluate_fleet(evaluator, snaps[names[0]], others))
                evals.append(time.perf_counter() - started)
                pg_ours.append(cpu_seconds(ours) - c_ours)
                pg_bg.append(cpu_seconds(background) - c_bg)
        evaluated = (sum(1 for view in evaluator.fleet.views(snaps[names[0]].timestamp) if view.data is not None) + 1
                     if others is None else len(others) + 1)  # hosts with a fresh snapshot in the last cycle
        warm = slice(1, None) if cycles > 2 else slice(None)  # the first cycle makes partitions and plans
        written = [ms for cycle_ms in latencies[warm] for ms in cycle_ms]
        result = {
            "hosts": hosts, "cycles": cycles, "write_p50": median(written), "write_p95": percentile(written, 95),
            "write_wall": median(write_walls[warm]), "eval_p50": median(evals[warm]), "eval_max": max(evals[warm]),
            "pg_ours": sum(pg_ours[warm]) / len(pg_ours[warm]), "pg_bg": sum(pg_bg[warm]) / len(pg_bg[warm]),
            "changes": sum(changes), "evaluated": evaluated,
            "per_host_in_evaluator": others is None,
        }
        history.close()
        return result
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"),
                         {"a": APP_NAME})
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=f"Target: the leader's cycle < {TARGET_CYCLE_S:g} s at 500 hosts.")
    parser.add_argument("--hosts", default="10,100,500", help="comma-separated host counts (default 10,100,500)")
    parser.add_argument("--cycles", type=int, default=6, help="sample cycles per host count (default 6)")
    parser.add_argument("--writers", type=int, default=4,
                        help="writer threads standing in for the hosts' processes (default 4)")
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    load = os.getloadavg()[0]
    results = [run(n, args.cycles, args.writers) for n in counts]
    print(f"fleet on PostgreSQL ({PG_URL.rsplit('@', 1)[-1]}), {args.cycles} cycles of {INTERVAL:g} s (compressed), "
          f"{args.writers} writer threads, default rules; load average {load:.1f} at start, "
          f"{psutil.cpu_count()} CPUs\n")
    rows = []
    for r in results:
        ok = r["eval_p50"] < TARGET_CYCLE_S and r["eval_max"] < TARGET_CYCLE_S
        rows.append((f"{r['hosts']} hosts", f"{r['write_p50']:.1f} / {r['write_p95']:.1f}",
                     f"{r['write_wall']:.2f}", f"{r['eval_p50'] * 1000:.0f} / {r['eval_max'] * 1000:.0f}",
                     f"< {TARGET_CYCLE_S * 1000:g}" if r["hosts"] >= 500 else "",
                     verdict(ok) if r["hosts"] >= 500 else "",
                     f"{r['pg_ours'] / INTERVAL * 100:.1f}", f"{r['pg_bg'] / INTERVAL * 100:.1f}", r["changes"],
                     r["evaluated"]))
    print(table(rows, ("N", "write ms p50/p95", "writes s/cycle", "leader eval ms p50/max", "target", "",
                       "PG CPU % (backends)", "PG CPU % (background)", "alert changes", "hosts evaluated")))
    how = ("the Evaluator's per-host evaluation (one call)" if results and results[0]["per_host_in_evaluator"]
           else "one Evaluator per host over the hosts rows (no per-host evaluation in the Evaluator yet)")
    print(f"\nleader evaluation: {how}. PG CPU: CPU seconds per cycle (N writes + one evaluation) / {INTERVAL:g} s,"
          "\nas % of one core at the real 10 s rate; background = WAL writer, checkpointer, autovacuum (shared "
          "with other sessions).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
