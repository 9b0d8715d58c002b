"""Serving the app over a real loopback socket (snapshots come from :mod:`tests.snapshots`)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx
import uvicorn

from reporter.api.app import create_app
from reporter.api.latest import Latest
from reporter.api.protocol import HeaderDeadlineProtocol
from tests.conftest import free_port


@contextlib.contextmanager
def serve(latest: Latest | None = None, **options) -> Iterator[tuple[Latest, str]]:
    """``create_app(latest, 10, **options)`` served by uvicorn on a free loopback port; yields (latest, base URL)."""
    latest = latest or Latest()
    options.setdefault("sample_interval", 10)
    interval = options.pop("sample_interval")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(latest, interval, **options), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, timeout_keep_alive=5,
                                           http=HeaderDeadlineProtocol))  # as the daemon serves
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.025)
    try:
        yield latest, base
    finally:
        server.should_exit = True
        thread.join(5)
