"""Reference server for ``snapshot_http.py``: uvicorn configured as ``reporter run`` configures it, serving a
minimal ASGI app that returns a fixed JSON body of ``--body-bytes``. Its req/s on a machine is the most any
ASGI app can get from that uvicorn set-up there (the per-request cost of the server itself).
"""

from __future__ import annotations

import argparse
import sys

import uvicorn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--body-bytes", type=int, default=4000, help="size of the response body")
    args = parser.parse_args()
    body = b'{"x":"' + b"x" * max(0, args.body_bytes - 8) + b'"}'
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    message = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await send(start)
        await send(message)

    # the same settings as reporter.daemon.run
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=1, timeout_keep_alive=5, limit_concurrency=1000,
                            server_header=False, lifespan="off")
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
