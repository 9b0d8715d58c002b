"""A real HTTP receiver on loopback that records what it gets and answers from a script."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body)


class Receiver:
    """Answers POSTs with the next scripted (status, headers) or 200; ``stop()``/``start()`` to refuse."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.port = port
        self.server = None
        self.start()

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    status, headers = outer.script.pop(0) if outer.script else (200, {})
                    if 200 <= status < 300:
                        outer.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                       body))
                    outer.attempts = getattr(outer, "attempts", 0) + 1
                payload = b"ok" if status < 300 else b'{"error": "scripted failure"}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        return list(self.received)
