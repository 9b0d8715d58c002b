"""Detection latency: from the sample that completes a rule's ``for`` window to the firing notification received.

The real daemon runs as a subprocess (``reporter run``) sampling every second (probe timeout 0.5 s) into a
temporary SQLite history, with an alerting file holding ``[defaults] group_wait = "0s"`` and a rule on an AI
Redis counter (as README "Trying it"): ``ai.total_requests > 100`` for 2 s, under a unique Redis key prefix. A
webhook receiver in this process (``REPORTER_WEBHOOK_URL``, 127.0.0.1) records the wall-clock arrival time of
each request. The other default rules stay on, as in production.

Each run: set the counter to 150 with redis-py, wait for the firing notification, read the alert's ``fired_at``
from ``GET /alerts`` (the timestamp of the sample at which ``for`` had elapsed, UTC, ms), and compute

    latency = arrival at the receiver - fired_at

then set the counter to 50 and wait for the resolved notification (its latency, arrival - ``endsAt``, is shown
too). One daemon serves all runs. ``fired_at`` is the sample's start time, so the figure includes the sample's
own collection time, the history write, rule evaluation, dispatch, the outbox write and the HTTP POST.
The per-run breakdown uses the daemon's outbox row (``created_at`` = queued, ``delivered_at``).

Target (issue 3): <= 1 s past that sample, over 20 runs (checked on the maximum; median and p95 shown).

    .venv/bin/python bench/detection_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TARGET_S = 1.0
ALERTNAME = "bench_requests_high"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent

ALERTING_TOML = f"""
[defaults]
group_wait = "0s"

[rules.{ALERTNAME}]
metric = "ai.total_requests"
op = ">"
threshold = 100
for = "2s"
severity = "warning"
summary = "AI requests above {{threshold}}"
description = "ai.total_requests is {{value}} (threshold {{threshold}})."
"""


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 with ``Z`` -> Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------------------------------- receiver

class Arrivals:
    """A loopback webhook receiver recording (arrival wall time, payload) per request."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict, str | None]] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                arrived = time.time()  # request line and headers read; the body follows
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                with outer.cond:
                    outer.items.append((arrived, payload, self.headers.get("webhook-id")))
                    outer.cond.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, status: str, after: int, timeout: float) -> tuple[int, float, dict, str | None] | None:
        """The first request from index ``after`` on with an alert ``ALERTNAME`` of ``status``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for index in range(after, len(self.items)):
                    arrived, payload, notification_id = self.items[index]
                    for alert in payload.get("alerts", []):
                        if alert.get("labels", {}).get("alertname") == ALERTNAME and alert.get("status") == status:
                            return index, arrived, alert, notification_id
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------------------- daemon

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def daemon(tmp: Path, webhook_url: str, prefix: str):
    """``reporter run`` with 1 s samples; yields (base URL, history path, log path)."""
    (tmp / "alerting.toml").write_text(ALERTING_TOML, encoding="utf-8")
    port = free_port()
    history = tmp / "history.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env.update({
        "REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.5",
        "REPORTER_HISTORY_URL": f"sqlite:///{history}", "REPORTER_ALERTING_FILE": str(tmp / "alerting.toml"),
        "REPORTER_WEBHOOK_URL": webhook_url, "REPORTER_AI_KEY_PREFIX": prefix, "REPORTER_REDIS_URL": REDIS_URL,
        "REPORTER_HTTP_HOST": "127.0.0.1", "REPORTER_HTTP_PORT": str(port), "REPORTER_LOG_LEVEL": "INFO",
    })
    reporter = Path(sys.executable).parent / "reporter"
    command = [str(reporter), "run"] if reporter.exists() else [sys.executable, "-m", "reporter", "run"]
    log_path = tmp / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
            try:
                get_json(f"{base}/alerts")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon did not serve /alerts within 30 s:\n"
                                       f"{log_path.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield base, history, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fired_at(base: str, timeout: float = 3.0) -> tuple[float, float] | None:
    """(fired_at, active_at) of the firing alert from ``GET /alerts``; polls because the notification can arrive
    before the daemon publishes the snapshot of the sample that fired it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in get_json(f"{base}/alerts").get("alerts", []):
            if alert["alertname"] == ALERTNAME and alert["state"] == "firing" and alert.get("fired_at"):
                return parse_time(alert["fired_at"]), parse_time(alert["active_at"])
        time.sleep(0.02)
    return None


def outbox_times(history: Path, notification_id: str) -> tuple[float, float] | None:
    """(queued, delivered) wall times of a notification, from the daemon's outbox (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute("SELECT created_at, delivered_at FROM outbox WHERE id = ?", (notification_id,)).fetchone()
    if not row or row[1] is None:
        return None
    return row[0] / 1000.0, row[1] / 1000.0


# ------------------------------------------------------------------------------------------- benchmark

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=f"Target: <= {TARGET_S:g} s past the sample completing the window.")
    parser.add_argument("--runs", type=int, default=20, help="fire/resolve cycles (20)")
    parser.add_argument("--verbose", action="store_true", help="print each run")
    args = parser.parse_args(argv)

    import redis

    prefix = f"bench:{uuid.uuid4().hex[:12]}:ai:"
    key = f"{prefix}total_requests"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.set(key, 50)
    receiver = Arrivals()
    rows, problems = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmpdir, \
                daemon(Path(tmpdir), receiver.url, prefix) as (base, history, _log):
            print(f"detection latency: `reporter run` (1 s samples, probe timeout 0.5 s), rule {ALERTNAME}: "
                  f"ai.total_requests > 100 for 2s, group_wait 0s; webhook receiver on 127.0.0.1; {args.runs} runs")
            print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start "
                  "(other processes add noise)")
            time.sleep(2.5)  # two samples with the counter below the threshold
            seen = len(receiver.items)
            for run in range(1, args.runs + 1):
                client.set(key, 150)
                set_at = time.time()
                got = receiver.wait_for("firing", seen, timeout=15)
                if got is None:
                    problems.append(f"run {run}: no firing notification within 15 s")
                    break
                index, arrived, alert, notification_id = got
                times = fired_at(base)
                if times is None:
                    problems.append(f"run {run}: GET /alerts did not show the alert firing")
                    break
                fired, active = times
                client.set(key, 50)
                got_resolved = receiver.wait_for("resolved", index + 1, timeout=15)
                if got_resolved is None:
                    problems.append(f"run {run}: no resolved notification within 15 s")
                    break
                r_index, r_arrived, r_alert, _ = got_resolved
                seen = r_index + 1
                queued = None
                if notification_id:
                    outbox = outbox_times(history, notification_id)
                    if outbox:
                        queued, _delivered = outbox
                starts = parse_time(alert["startsAt"])
                row = {"run": run, "latency": arrived - fired, "for_elapsed": fired - starts,
                       "set_to_fired": fired - set_at, "resolved_latency": r_arrived - parse_time(r_alert["endsAt"]),
                       "to_queued": None if queued is None else queued - fired,
                       "queued_to_arrival": None if queued is None else arrived - queued,
                       "active_matches": abs(active - starts) < 0.002}
                rows.append(row)
                if args.verbose:
                    print(f"  run {run:2d}: latency {row['latency'] * 1000:7.1f} ms  (for elapsed at the firing sample "
                          f"{row['for_elapsed']:.3f} s; resolved {row['resolved_latency'] * 1000:.1f} ms)")
    finally:
        receiver.close()
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    if not rows:
        print("no run completed: " + "; ".join(problems))
        print(f"target: <= {TARGET_S:g} s -> MISS")
        return 1
    lat = [r["latency"] for r in rows]
    res = [r["resolved_latency"] for r in rows]
    print()
    print(f"firing notification, arrival - fired_at of the sample completing `for` ({len(rows)} runs):")
    print(f"  median {statistics.median(lat) * 1000:.0f} ms   p95 {pct(lat, 95) * 1000:.0f} ms   "
          f"max {max(lat) * 1000:.0f} ms   min {min(lat) * 1000:.0f} ms")
    split = [r for r in rows if r["to_queued"] is not None]
    if split:
        to_queued = statistics.median(r["to_queued"] for r in split) * 1000
        print(f"  of which sample start -> outbox row written: median {to_queued:.0f} ms "
              f"(collection, history write, evaluation, notifier wake-up, dispatch); "
              f"outbox row -> received: median {statistics.median(r['queued_to_arrival'] for r in split) * 1000:.0f} ms")
    print(f"resolved notification, arrival - endsAt: median {statistics.median(res) * 1000:.0f} ms   "
          f"p95 {pct(res, 95) * 1000:.0f} ms   max {max(res) * 1000:.0f} ms")
    elapsed = [r["for_elapsed"] for r in rows]
    late = sum(1 for e in elapsed if e >= 2.5)
    print(f"`for` elapsed at the firing sample (fired_at - startsAt): median {statistics.median(elapsed):.3f} s, "
          f"{late} of {len(rows)} runs fired one sample later: the sample 2 s after the pending one started a few ms "
          f"early (scheduler jitter), so `for` had not quite elapsed")
    print(f"counter set -> firing sample: median {statistics.median(r['set_to_fired'] for r in rows):.2f} s "
          f"(next sample + 2 s of `for`)")
    if not all(r["active_matches"] for r in rows):
        problems.append("startsAt in the payload differs from active_at in GET /alerts")
    if len(rows) < args.runs:
        problems.append(f"only {len(rows)} of {args.runs} runs completed")
    ok = not problems and max(lat) <= TARGET_S
    print()
    print(f"target: <= {TARGET_S:g} s past the sample, over {args.runs} runs (max {max(lat) * 1000:.0f} ms) -> "
          f"{'PASS' if ok else 'MISS'}")
    for problem in problems:
        print(f"  problem: {problem}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
