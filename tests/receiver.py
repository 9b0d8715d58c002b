"""A real HTTP receiver on loopback that records what it gets and answers from a script."""

from __future__ import annotations

import contextlib
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
    """Answers POSTs with the next scripted (status, headers) or 200; ``stop()``/``start()`` to refuse.
    A script entry may carry a third item, the answer body (bytes), as Slack's ``invalid_blocks``.
    ``refused``: the bodies of the requests answered with a non-2xx status.
    ``delay``: seconds to wait (after reading the request) before answering, a slow but healthy receiver.
    ``host``: the address to listen on (another than loopback for a node in a network namespace)."""

    def __init__(self, port: int = 0, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.delay, self.host = delay, host
        self.received: list[Received] = []
        self.refused: list[bytes] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.port = port
        self.server = None
        self.start()

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(outer.delay)
                with outer.lock:
                    status, headers, *answer = outer.script.pop(0) if outer.script else (200, {})
                    if 200 <= status < 300:
                        outer.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                       body))
                    else:
                        outer.refused.append(body)
                    outer.attempts = getattr(outer, "attempts", 0) + 1
                payload = answer[0] if answer else b"ok" if status < 300 else b'{"error": "scripted failure"}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{self.host}:{self.port}/hook"
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


class DrippingReceiver:
    """A receiver that reads each request, then answers ``200`` one body byte every ``interval`` seconds
    (a slow peer: it never finishes within a sender's timeout). ``requests`` counts the requests read."""

    def __init__(self, interval: float = 1.0, length: int = 10_000) -> None:
        import socket

        self.interval, self.length = interval, length
        self.requests = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._stop = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn) -> None:
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         + f"Content-Length: {self.length}\r\n\r\n".encode())
            for _ in range(self.length):
                if self._stop.wait(self.interval):
                    return
                conn.sendall(b".")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
