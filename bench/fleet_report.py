"""Daily report of a fleet: model build, HTML and PDF time, PDF pages for N hosts on PostgreSQL (one day of
samples per host at the sample interval, written in bulk into a private schema that is dropped afterwards).

    python bench/fleet_report.py [--hosts 10,50] [--interval 10] [--url postgresql+psycopg://...]

No target in the issue; the report is rendered by the leader in its render child (REPORTER_REPORT_TIMEOUT
bounds it). Prints one row per N.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import table

from reporter.base.ms import to_ms
from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.pdf import write_pdf
from reporter.report.period import Period
from reporter.store.history import History
from reporter.store.hosts import upsert_sample

DAY = datetime(2026, 11, 10, tzinfo=UTC)
FEATURES = ["grammar", "quiz"]


def fill(history: History, hosts: int, interval: float) -> int:
    """One day of samples of ``hosts`` hosts (the first also writes the app-wide figures); returns the rows."""
    rng = random.Random(1)
    slots = int(86400 / interval)
    history.partitions.ensure_for(to_ms(DAY))  # type: ignore[union-attr]
    count = 0
    with history.engine.begin() as conn:
        for n in range(hosts):
            name = f"host-{n:03d}"
            rows = []
            for slot in range(slots):
                phase = slot / slots * 2 * math.pi
                row = {"host": name, "ts": to_ms(DAY) + int(slot * interval * 1000) + n,
                       "cpu_percent": round(30 + 20 * math.sin(phase + n) + rng.uniform(-5, 5), 2),
                       "memory_percent": round(50 + 10 * math.sin(phase / 2 + n) + rng.uniform(-2, 2), 2),
                       "disk_percent": round(40 + n % 50 + slot / slots * 5, 2),
                       "uptime_seconds": 1e6 + slot * interval, "database_up": 1.0}
                if n == 0:
                    row |= {"ai_total_requests": 10.0 * slot, "ai_total_time_seconds": 4.0 * slot,
                            "usage_total_users": 500.0 + slot // 360}
                rows.append(row)
            conn.execute(history.samples.insert(), rows)
            upsert_sample(conn, name, rows[-1]["ts"], rows[-1]["ts"])
            count += len(rows)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="10,50", help="comma-separated fleet sizes (default 10,50)")
    parser.add_argument("--interval", type=float, default=10.0, help="sample interval in s (default 10)")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rows_out = []
    for hosts in (int(n) for n in args.hosts.split(",")):
        engine = create_engine(args.url)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            history = History(f"{args.url}?options=-csearch_path%3D{schema}", FEATURES, host="host-000")
            started = time.perf_counter()
            samples = fill(history, hosts, args.interval)
            filled = time.perf_counter() - started
            started = time.perf_counter()
            report = build_report(history, Period.day(DAY.date(), UTC), sample_interval=args.interval,
                                  host="host-000")
            build = time.perf_counter() - started
            started = time.perf_counter()
            html = render_html(report)
            render = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                pdf = write_pdf(html, Path(tmp) / "r.pdf")
            history.close()
            rows_out.append([hosts, f"{samples:,}", f"{filled:.1f}", f"{build:.2f}", f"{render:.2f}",
                             f"{pdf.seconds:.1f}", pdf.pages, f"{pdf.peak_rss_bytes / 2**20:.0f}",
                             f"{len(html) / 2**20:.1f}"])
        finally:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            engine.dispose()
    print(table([tuple(r) for r in rows_out],
                ("hosts", "samples", "fill s", "build s", "html s", "pdf s", "pages", "peak RSS MB", "html MB")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
