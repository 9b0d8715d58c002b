"""The leader's rule evaluation per cycle with N other hosts (issue 10): PostgreSQL, default rules.

Each cycle, N simulated hosts leave their ``hosts`` row as their sample writes do (latest snapshot JSON,
``last_sample``; one in ten with CPU at 95 %, one in fifty with Redis down), the leader writes its own sample,
then ``Evaluator.evaluate(snapshot)`` is timed: read every host's snapshot from ``hosts``, evaluate the per-host
rules on each (alerts labelled ``host``), the app-wide rules once, ``host_down``, and persist the changes. The
hosts have no stored series, so ``predict_linear`` reads are empty range scans (bounded per cycle anyway).
Target (issue 10): a leader cycle < 1 s at 500 hosts, 10 s interval.

    .venv/bin/python bench/fleet_eval.py [--hosts 10 100 500] [--cycles 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertStore
from reporter.base.ms import to_ms
from reporter.store.history import History
from reporter.store.hosts import upsert_sample
from tests.snapshots import FEATURES, snapshot

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def run(hosts: int, cycles: int) -> tuple[float, float, float, int]:
    """(first cycle, median, max) in ms and the active alerts at the end, for ``hosts`` other hosts."""
    admin = create_engine(PG_URL)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        lead = History(f"{PG_URL}?options=-csearch_path%3D{schema}", FEATURES, host="lead")
        ev = Evaluator(build_rules({}, FEATURES), Defaults(), AlertStore(lead.engine), lead, ZoneInfo("UTC"),
                       FEATURES)
        times = []
        for cycle in range(cycles):
            t = cycle * 10
            with lead.engine.begin() as conn:
                for i in range(hosts):
                    s = snapshot(t, cpu=95 if i % 10 == 0 else 20, down=("redis",) if i % 50 == 0 else ())
                    upsert_sample(conn, f"h{i:04d}", to_ms(s.timestamp), to_ms(s.timestamp), s.model_dump_json(),
                                  "healthy")
            lead.write(snapshot(t))
            started = time.perf_counter()
            ev.evaluate(snapshot(t))
            times.append((time.perf_counter() - started) * 1000)
        active = len(ev.active())
        lead.close()
        return times[0], statistics.median(times), max(times), active
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--cycles", type=int, default=12)
    args = parser.parse_args()
    print(f"{'hosts':>6} {'first ms':>9} {'median ms':>10} {'max ms':>8} {'alerts':>7}")
    for n in args.hosts:
        first, med, worst, active = run(n, args.cycles)
        print(f"{n:>6} {first:>9.0f} {med:>10.0f} {worst:>8.0f} {active:>7}")


if __name__ == "__main__":
    main()
