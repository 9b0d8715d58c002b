"""The fleet's HTTP views on PostgreSQL: N hosts in the ``hosts`` table, each with a stored snapshot.

Creates a private schema of the local ``test`` database through the real schema (``History`` at head), stores
one snapshot per host the way ``History.write`` keeps it (``hosts.snapshot``), serves the app as the daemon does
(uvicorn on 127.0.0.1) and times, over one keep-alive connection, 200 requests each (after 20 warm-up):
this node's ``/snapshot`` (the fast path, from memory), ``/snapshot?host=`` and
``/api/v1/analytics/health?host=`` of another host (its stored snapshot, read in a worker thread), and
``/api/v1/hosts``. The schema is dropped afterwards.

    .venv/bin/python bench/fleet_api.py --hosts 500     # ~10 s
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

import _support as s
import httpx
import uvicorn
from sqlalchemy import create_engine, text

from reporter.api.app import create_app
from reporter.api.latest import Latest
from reporter.api.protocol import HeaderDeadlineProtocol
from reporter.base.ms import to_ms
from reporter.collect.sampler import Sampler
from reporter.settings import load_settings
from reporter.store.history import History
from reporter.store.hosts import upsert_sample

PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FEATURES = ["grammar", "quiz", "voice", "scenario"]
TARGET_MS = 50.0  # p95 of /api/v1/hosts for a dashboard polling every few seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=500, help="hosts in the hosts table (default 500)")
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    history = None
    try:
        history = History(f"{PG_URL}?options=-csearch_path%3D{schema}", FEATURES, host="host-000")
        now = datetime.now(UTC)
        snapshot = sample_snapshot(now)
        with history.engine.begin() as conn:
            for i in range(args.hosts):
                name = f"host-{i:03d}"
                body = snapshot.model_copy(update={"host": name}).model_dump_json()
                upsert_sample(conn, name, to_ms(now), to_ms(now), body, snapshot.status.value)
        latest = Latest()
        latest.publish(snapshot.model_copy(update={"host": "host-000"}))
        other = f"host-{args.hosts // 2:03d}"
        rows = measure(latest, history, [("/snapshot (this host, from memory)", "/snapshot", {}),
                                         (f"/snapshot?host={other}", "/snapshot", {"host": other}),
                                         (f"/api/v1/analytics/health?host={other}", "/api/v1/analytics/health",
                                          {"host": other}),
                                         (f"/api/v1/hosts ({args.hosts} hosts)", "/api/v1/hosts", {})])
        for label, p50, p95 in rows:
            print(f"{label:45} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
        hosts_p95 = rows[-1][2]
        print(f"/api/v1/hosts p95 {hosts_p95:.1f} ms, target <= {TARGET_MS:g} ms: "
              f"{'PASS' if hosts_p95 <= TARGET_MS else 'MISS'}")
    finally:
        if history is not None:
            history.close()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def sample_snapshot(now: datetime):
    """One real snapshot of this machine (every service left unprobed: nothing but psutil is needed)."""
    from reporter.collect.defaults import default_collectors

    settings = load_settings(None, probes="", ai_features=FEATURES)
    sampler = Sampler(settings, default_collectors(settings), app_wide=lambda: False)
    try:
        return sampler.sample(now)
    finally:
        sampler.close()


def measure(latest: Latest, history: History, cases: list[tuple[str, str, dict]]) -> list[tuple[str, float, float]]:
    """(label, p50 ms, p95 ms) of each case, served as the daemon serves."""
    port = s.free_port()
    config = uvicorn.Config(create_app(latest, 10.0, history=history), host="127.0.0.1", port=port,
                            log_config=None, access_log=False, http=HeaderDeadlineProtocol, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(200):
                try:
                    client.get(base + "/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            rows = []
            for label, path, params in cases:
                for _ in range(20):
                    client.get(base + path, params=params).raise_for_status()
                times = []
                for _ in range(200):
                    started = time.perf_counter()
                    client.get(base + path, params=params).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                rows.append((label, statistics.median(times), times[int(len(times) * 0.95) - 1]))
            return rows
    finally:
        server.should_exit = True
        thread.join(5)


if __name__ == "__main__":
    main()
