"""Outbox drain rate to a loopback webhook receiver, in notifications per second.

N notifications (Alertmanager webhook payloads, one alert each, signed per Standard Webhooks as with a configured
secret) are written with ``Outbox.enqueue`` into a temporary SQLite history, then ``Outbox.deliver_due`` runs
with an ``httpx.AsyncClient`` (the notifier thread's limits) until every row is delivered. This is the daemon's
delivery path minus the dispatcher: per notification a head query, a lease (UPDATE), the HTTP POST, and the
outcome (UPDATE + ``delivery_attempts`` INSERT).

The receiver is a minimal asyncio HTTP/1.1 server (keep-alive, answers 200 at once) in a *child process*, so it
does not share this process's GIL; it counts requests and distinct ``webhook-id``s, which are checked against N
at the end (at least once, no loss; duplicates would show).

Two figures: all N for one receiver (each receiver's queue is strictly in order, so this is one request at a
time), and N spread over 4 receivers, which ``deliver_due`` sends in parallel. No numeric target in issue 3.

    .venv/bin/python bench/outbox_drain.py [--notifications 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import table

FEATURES = ["grammar", "quiz", "voice", "scenario"]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# ------------------------------------------------------------------------------------------- receiver (child)

def serve() -> None:
    """The loopback receiver: prints its base URL, answers every POST 200, ``GET /stats`` with counts."""
    received = {"requests": 0, "ids": set(), "bytes": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "GET" and path == "/stats":
                    payload = json.dumps({"requests": received["requests"], "distinct_ids": len(received["ids"]),
                                          "bytes": received["bytes"]}).encode()
                else:
                    received["requests"] += 1
                    received["bytes"] += len(body)
                    received["ids"].add(headers.get("webhook-id"))
                    payload = b"ok"
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class ReceiverProcess:
    """The receiver in a child process (this file with ``--serve``)."""

    def __enter__(self) -> ReceiverProcess:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.proc.kill()
            raise RuntimeError(f"the receiver did not start (printed {self.url!r})")
        return self

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as response:
            return json.loads(response.read())

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------------------- benchmark

def body_for(receiver, index: int, render) -> tuple[str, bytes]:
    """A realistic payload: one firing alert, as the dispatcher renders it."""
    from reporter.alerting.model import AlertNotice, Notification

    now = datetime.now(UTC)
    labels = {"alertname": "service_down", "severity": "critical", "service": f"svc{index % 50}"}
    notice = AlertNotice(status="firing", labels=labels,
                         annotations={"summary": f"svc{index % 50} is down",
                                      "description": "The probe has failed for 30 s. Since 2026-11-02 09:00 CET."},
                         starts_at=now, ends_at=None, fingerprint=f"{index:016x}",
                         generator_url="http://127.0.0.1:8321/alerts")
    notification = Notification(id=f"msg_{uuid.uuid4().hex}", receiver=receiver.name, alerts=[notice],
                                created_at=now, external_url="http://127.0.0.1:8321")
    return notification.id, render(receiver, notification)


def run_case(url: str, receivers_count: int, total: int) -> dict:
    """Enqueue ``total`` notifications spread over ``receivers_count`` receivers, drain them; figures."""
    import httpx
    from sqlalchemy import func, select

    from reporter.alerting.config import Defaults, Receiver
    from reporter.notify.outbox import Outbox
    from reporter.notify.render import renderer
    from reporter.store.alert_schema import delivery_attempts, outbox
    from reporter.store.history import History

    render = renderer(ZoneInfo("Europe/Berlin"))
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        history = History(f"sqlite:///{Path(tmp) / 'history.db'}", FEATURES)
        try:
            receivers = [Receiver(name=f"hook{i}", type="webhook", url=f"{url}/hook{i}", secret=SECRET)
                         for i in range(receivers_count)]
            box = Outbox(history.engine, receivers, Defaults())
            bodies = [(receivers[i % receivers_count], *body_for(receivers[i % receivers_count], i, render))
                      for i in range(total)]
            started = time.perf_counter()
            for receiver, notification_id, body in bodies:
                box.enqueue(notification_id, receiver.name, body, 1, datetime.now(UTC))
            enqueue_s = time.perf_counter() - started

            async def drain() -> tuple[int, int]:
                delivered = passes = 0
                deadline = time.monotonic() + 110
                limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)  # as the notifier
                async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
                    while delivered < total and time.monotonic() < deadline:
                        delivered += await box.deliver_due(client)
                        passes += 1
                return delivered, passes

            started = time.perf_counter()
            delivered, passes = asyncio.run(drain())
            drain_s = time.perf_counter() - started
            with history.engine.connect() as conn:
                statuses = dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())
                durations = [d for (d,) in conn.execute(select(delivery_attempts.c.duration_ms))]
            return {"receivers": receivers_count, "total": total, "delivered": delivered, "passes": passes,
                    "enqueue_s": enqueue_s, "drain_s": drain_s, "statuses": statuses, "durations": durations,
                    "body_bytes": statistics.mean(len(b) for _, _, b in bodies)}
        finally:
            history.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Prints notifications/s; no numeric target in issue 3.")
    parser.add_argument("--notifications", type=int, default=2000, help="notifications per case (2000)")
    parser.add_argument("--parallel", type=int, default=4, help="receivers of the parallel case (4)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0

    print(f"outbox drain: {args.notifications} notifications per case, temporary SQLite history, receiver in a "
          f"child process on 127.0.0.1; Python {sys.version.split()[0]}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start (other processes add noise)")
    rows, problems = [], []
    with ReceiverProcess() as receiver:
        run_case(receiver.url, 1, 50)  # warm-up (imports, connections, statement caches)
        before = receiver.stats()
        for count in (1, args.parallel):
            r = run_case(receiver.url, count, args.notifications)
            after = receiver.stats()
            got, ids = after["requests"] - before["requests"], after["distinct_ids"] - before["distinct_ids"]
            before = after
            rate = r["delivered"] / r["drain_s"]
            http_share = sum(r["durations"]) / 1000.0 / r["drain_s"] / count
            rows.append((f"{count} receiver{'s' if count > 1 else ''}" + (" in parallel" if count > 1 else ""),
                         r["delivered"], f"{r['drain_s']:.2f}", f"{rate:.0f}",
                         f"{statistics.median(r['durations']):.2f}",
                         f"{http_share * 100:.0f} %" if count == 1 else "-",
                         f"{r['total'] / r['enqueue_s']:.0f}"))
            if r["delivered"] != r["total"] or r["statuses"] != {"delivered": r["total"]}:
                problems.append(f"{count} receiver(s): delivered {r['delivered']}/{r['total']}, outbox {r['statuses']}")
            if got != r["total"] or ids != r["total"]:
                problems.append(f"{count} receiver(s): receiver got {got} requests, {ids} distinct ids, "
                                f"expected {r['total']}")
            body_bytes = r["body_bytes"]
    print(f"payload: Alertmanager webhook v4, 1 alert, signed; {body_bytes:.0f} bytes")
    print()
    print(table(rows, ("case", "delivered", "drain s", "notifications/s", "median POST ms", "POST share of wall",
                       "enqueue/s")))
    print()
    print("POST share of wall (1 receiver): summed attempt durations (delivery_attempts.duration_ms) over the drain "
          "time;\nthe rest is outbox bookkeeping in SQLite (head query, lease UPDATE, outcome UPDATE + attempt INSERT).")
    print("In parallel, that bookkeeping runs synchronously on the event loop thread, so 4 queues overlap only the "
          "network\nwait (small on loopback) and their POST durations include time blocked behind other queues' "
          "SQLite calls.")
    print("checks: " + ("every notification delivered exactly once (outbox rows and receiver's distinct webhook-ids)"
                        if not problems else "; ".join(problems)))
    print("target: none in issue 3 (figure recorded)." + ("" if not problems else " MISS: delivery incomplete"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
