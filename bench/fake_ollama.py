"""A tiny fake Ollama for the benchmarks: ``GET /api/tags``, ``/api/version`` and ``/api/ps`` (the model loaded,
expiring in 4 minutes) on a loopback port.

Prints its base URL on the first line of stdout, then serves until terminated. Run as its own process so
its CPU time is not counted as the reporter's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--model", default="mistral:7b", help="model listed by /api/tags")
    args = parser.parse_args()
    tags = json.dumps({"models": [
        {"name": args.model, "model": args.model, "size": 4113301824, "digest": "f974a74358d6",
         "modified_at": "2024-05-01T10:00:00Z", "details": {"family": "llama", "parameter_size": "7.2B",
                                                            "quantization_level": "Q4_0"}},
        {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "size": 274302450,
         "digest": "0a109f422b47", "modified_at": "2024-05-01T10:00:00Z", "details": {"family": "nomic-bert"}},
    ]}).encode()
    version = b'{"version":"0.5.7"}'

    def ps() -> bytes:  # as Ollama answers: expires_at moves with the clock (keep_alive 5 minutes)
        expires = (datetime.now(UTC) + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
        return json.dumps({"models": [
            {"name": args.model, "model": args.model, "size": 5137025024, "size_vram": 5137025024,
             "digest": "f974a74358d6", "expires_at": expires,
             "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                         "parameter_size": "7.2B", "quantization_level": "Q4_0"}},
        ]}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            body = ps() if path == "/api/ps" else {"/api/tags": tags, "/api/version": version}.get(path)
            self.send_response(200 if body else 404)
            body = body or b'{"error":"not found"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
