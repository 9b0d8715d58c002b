"""A loopback HTTP server speaking the part of Ollama's API that reporter uses, with knobs for the tests.

``GET /api/tags`` (the models in :attr:`FakeOllama.models`), ``GET /api/version`` (:attr:`version`),
``GET /api/ps`` (the models in :attr:`loaded`: name -> dict of Ollama's ``/api/ps`` fields, made with
:func:`ps_entry`) and ``POST /api/generate`` (streamed NDJSON: after :attr:`first_token_delay` seconds one
chunk per word of :attr:`answer`, then the final chunk with the server's own fields in :attr:`final`).
:attr:`status` is the status of ``/api/tags``; :attr:`raw` maps a path to a body sent as is (malformed answers);
:attr:`requests` lists ``(method, path, body)`` of every request received; :attr:`delays` maps a path to
seconds to wait before answering a GET (a slow or hung endpoint); a GET of a path in :attr:`not_found` is a 404
(an older Ollama); :attr:`dribble` maps a path to seconds between bytes: its whole answer, status line and
headers included, is sent one byte at a time (a server that is never silent for long, yet never done);
with :attr:`authorization` set (``"Basic ..."``, as a proxy in front of Ollama checks it), a request whose
``Authorization`` header differs is a 401.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIB = 2**30


def ps_entry(name: str, size: int = 5 * GIB, size_vram: int | None = None, expires_in: float = 240.0,
             parameter_size: str = "7.2B", quantization: str = "Q4_0") -> dict:
    """One model of Ollama's ``/api/ps`` answer (``size_vram`` defaults to ``size``: all on the GPU)."""
    expires = datetime.now(UTC) + timedelta(seconds=expires_in)
    return {"name": name, "model": name, "size": size, "size_vram": size if size_vram is None else size_vram,
            "digest": "f974a74358d6", "expires_at": expires.isoformat().replace("+00:00", "Z"),
            "details": {"family": "llama", "format": "gguf", "parameter_size": parameter_size,
                        "quantization_level": quantization}}


class _Dribbler:
    """A handler's ``wfile`` writing one byte every ``delay`` seconds; quiet once the client has gone."""

    def __init__(self, wfile, delay: float) -> None:
        self.wfile, self.delay, self.gone = wfile, delay, False

    def write(self, data: bytes) -> int:
        for i in range(len(data)):
            if self.gone:
                break
            try:
                self.wfile.write(data[i:i + 1])
            except OSError:
                self.gone = True
            time.sleep(self.delay)
        return len(data)

    def flush(self) -> None:
        pass


class FakeOllama:
    """The server on a free loopback port (:attr:`url`), serving from a thread until :meth:`close`."""

    def __init__(self, models: list[str]) -> None:
        self.models = models
        self.status = 200
        self.version = "0.12.0"
        self.loaded: dict[str, dict] = {}
        self.raw: dict[str, bytes] = {}
        self.answer = "Bonjour, comment allez-vous ?"
        self.first_token_delay = 0.0
        self.final = {"total_duration": 1_500_000_000, "load_duration": 20_000_000, "prompt_eval_count": 12,
                      "prompt_eval_duration": 80_000_000, "eval_count": 40, "eval_duration": 1_000_000_000}
        self.requests: list[tuple[str, str, bytes]] = []
        self.delays: dict[str, float] = {}
        self.not_found: set[str] = set()
        self.dribble: dict[str, float] = {}
        self.authorization: str | None = None
        self.connections = 0  # connections accepted
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                outer.connections += 1
                super().setup()

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _dribble(self, path: str) -> None:
                if path in outer.dribble:
                    self.wfile = _Dribbler(self.wfile, outer.dribble[path])

            def _refused(self) -> bool:
                if outer.authorization is None or self.headers.get("Authorization") == outer.authorization:
                    return False
                self._send(401, b'{"error":"unauthorized"}')
                return True

            def do_GET(self):
                path = self.path.split("?")[0]
                outer.requests.append(("GET", path, b""))
                self._dribble(path)
                if self._refused():
                    return None
                time.sleep(outer.delays.get(path, 0.0))
                if path in outer.not_found:
                    return self._send(404, b'{"error":"not found"}')
                if path in outer.raw:
                    return self._send(200, outer.raw[path])
                if path == "/api/tags":
                    body = {"models": [{"name": m, "model": m, "size": 4109865159} for m in outer.models]}
                    return self._send(outer.status, json.dumps(body).encode())
                if path == "/api/version":
                    return self._send(200, json.dumps({"version": outer.version}).encode())
                if path == "/api/ps":
                    return self._send(200, json.dumps({"models": list(outer.loaded.values())}).encode())
                return self._send(404, b'{"error":"not found"}')

            def do_POST(self):
                path = self.path.split("?")[0]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(("POST", path, body))
                self._dribble(path)
                if self._refused():
                    return None
                if path in outer.raw:
                    return self._send(200, outer.raw[path])
                if path != "/api/generate":
                    return self._send(404, b'{"error":"not found"}')
                model = json.loads(body or b"{}").get("model", "")
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                time.sleep(outer.first_token_delay)
                words = outer.answer.split(" ")
                for i, word in enumerate(words):
                    self._chunk({"model": model, "response": word + ("" if i == len(words) - 1 else " "),
                                 "done": False})
                self._chunk({"model": model, "response": "", "done": True, "done_reason": "stop", **outer.final})
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, obj: dict) -> None:
                line = json.dumps(obj).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def load(self, name: str, **fields) -> None:
        """Put ``name`` in ``/api/ps`` (fields as :func:`ps_entry` takes them)."""
        self.loaded[name] = ps_entry(name, **fields)

    def unload(self, name: str) -> None:
        """Take ``name`` out of ``/api/ps``."""
        self.loaded.pop(name, None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
