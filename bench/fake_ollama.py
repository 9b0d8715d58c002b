"""A tiny fake Ollama for the benchmarks: ``GET /api/tags`` and ``GET /api/version`` on a loopback port.

Prints its base URL on the first line of stdout, then serves until terminated. Run as its own process so
its CPU time is not counted as the reporter's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
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

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def do_GET(self) -> None:
            body = {"/api/tags": tags, "/api/version": version}.get(self.path.split("?")[0])
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
