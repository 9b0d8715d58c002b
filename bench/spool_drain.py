"""The local sample spool: the cost of spooling a sample (one fsynced JSON line) and how fast a long spool drains
into a PostgreSQL history (the local `test` database, a private schema dropped afterwards).

    .venv/bin/python bench/spool_drain.py [--rows 8640]

8640 rows = 24 h of samples at a 10 s interval (the default REPORTER_SPOOL_MAX_AGE). Target: a day's spool
drains in under a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from reporter.daemon.spooling import Spooler
from reporter.store.history import History
from reporter.store.spool import Spool
from tests.snapshots import rich_snapshot

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8640)
    rows = parser.parse_args().rows
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        history = History(f"{PG}?options=-csearch_path%3D{schema}", ["grammar", "quiz", "voice", "scenario"],
                          host="bench")
        spool = Spool(tempfile.mkdtemp(prefix="spool-bench-"), 64 << 20, 2 * 86400.0)
        start, base = datetime.now(UTC) - timedelta(hours=24), rich_snapshot()
        began = time.perf_counter()
        for i in range(rows):
            snapshot = base.model_copy(update={"timestamp": start + timedelta(seconds=10 * i), "usage": None})
            spool.append(history.prepare(snapshot))
        appended = time.perf_counter() - began
        print(f"spool {rows} samples: {appended / rows * 1000:.2f} ms per sample (fsync each), "
              f"{spool.bytes / rows:.0f} bytes per sample")
        began = time.perf_counter()
        Spooler(spool, history, 10.0).drain()
        drained = time.perf_counter() - began
        print(f"drain {rows} samples into PostgreSQL: {drained:.1f} s ({rows / drained:.0f} samples/s); "
              f"target < {TARGET_SECONDS:g} s: {'PASS' if drained < TARGET_SECONDS else 'MISS'}")
        history.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
