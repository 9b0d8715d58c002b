"""The other hosts of the fleet over HTTP: ``GET /api/v1/hosts`` and the per-host answers of ``?host=NAME``.

Every node serves its own latest snapshot from memory (:mod:`reporter.api.fastpath`). A request for another
host's (``/snapshot``, ``/api/v1/analytics/health`` and ``/api/v1/analytics/metrics`` with ``?host=``) comes
here: the answer is built from that host's latest snapshot as its node stored it in the ``hosts`` table
(:mod:`reporter.store.hosts`), read in a worker thread: what that node itself serves at the same path. A host
the history does not know is a 404 (on SQLite, every host but this one); a host with no stored snapshot yet a
503. The AI and usage answers (``ai-features``, ``top-users``, ``popular-scenarios``) are app-wide and take no
``?host=``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from reporter.api import views
from reporter.api.fastpath import JSON, etag_matches, query_host
from reporter.api.hostlist import host_entries
from reporter.api.latest import ANALYTICS, SNAPSHOT_PATH
from reporter.base.errors import one_line
from reporter.snapshot import Snapshot
from reporter.store.hosts import HostRegistry, HostRow

# path -> the answer built from a host's snapshot (None: the snapshot itself, as stored)
HOST_VIEWS: dict[str, Callable[[Snapshot], dict] | None] = {
    SNAPSHOT_PATH: None,
    f"{ANALYTICS}/health": views.health,
    f"{ANALYTICS}/metrics": views.metrics,
}


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(views.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def unknown_host(name: str) -> Response:
    """The 404 for a host the history does not know."""
    return _json({"error": f"unknown host {name[:64]!r}: GET /api/v1/hosts lists the hosts of this history"}, 404)


def no_history() -> Response:
    return _json({"error": "no history database is configured for this server"}, 503)


def unavailable(exc: Exception) -> Response:
    """The 503 when the history cannot be read (database down or locked): never a 500 page."""
    return _json({"error": f"history unavailable ({one_line(exc)})"}, 503, {"Retry-After": "5"})


class Fleet:
    """The fleet endpoints over ``history`` (a :class:`reporter.store.history.History`, or None: every answer is
    a 503). ``sample_interval``: the hosts' sample interval (a host is down after 3 without a sample);
    ``version``: this node's version, shown for it when its row has none."""

    def __init__(self, history, sample_interval: float, version: str | None = None) -> None:
        self.history = history
        self.sample_interval = sample_interval
        self.version = version
        self.registry = None if history is None else HostRegistry(history.engine)

    def known(self, name: str) -> bool:
        """True when ``name`` is a host of the history (blocking: call it in a worker thread); on SQLite only
        this host. Raises SQLAlchemy's errors when the history cannot be read."""
        if self.history is None or self.registry is None:
            return False
        if name == self.history.host:
            return True
        return self.history.fleet and self.registry.get(name) is not None

    def _row(self, name: str) -> HostRow | None:
        if self.registry is None or (not self.history.fleet and name != self.history.host):
            return None
        return self.registry.get(name)

    async def hosts(self, request: Request) -> Response:
        """``GET /api/v1/hosts``: ``{"hosts": [{name, last_sample, status, leader, version, role}]}``."""
        if self.history is None or self.registry is None:
            return no_history()
        try:
            entries = await run_in_threadpool(host_entries, self.registry, self.history.host, self.history.fleet,
                                              datetime.now(UTC), self.sample_interval, self.version)
        except Exception as exc:
            return unavailable(exc)
        return _json({"hosts": [e.as_json() for e in entries]}, headers={"Cache-Control": "no-store"})

    def host_endpoint(self, path: str):
        """The endpoint answering ``path`` (one of :data:`HOST_VIEWS`) for ``?host=NAME``, another host."""
        view = HOST_VIEWS[path]

        async def endpoint(request: Request) -> Response:
            name = query_host(request.scope["query_string"])
            if self.history is None:
                return no_history()
            if name is None:  # pragma: no cover (the fast path answers for this host)
                return _json({"error": "the fast path should have answered this request"}, 500)
            try:
                row = await run_in_threadpool(self._row, name)
            except Exception as exc:
                return unavailable(exc)
            if row is None:
                return unknown_host(name)
            if row.snapshot is None:
                retry = str(max(1, math.ceil(self.sample_interval)))
                return _json({"error": f"host {name!r} has stored no snapshot yet", "retry_after_seconds": int(retry)},
                             503, {"Retry-After": retry})
            if view is None:
                body = row.snapshot.encode()
            else:
                try:
                    body = views.dumps(view(Snapshot.model_validate_json(row.snapshot)))
                except (ValidationError, json.JSONDecodeError) as exc:  # written by another version of reporter
                    return _json({"error": f"the stored snapshot of host {name!r} cannot be read by this "
                                           f"version ({one_line(exc)[:200]}); update reporter on every host"}, 502)
            etag = f'"{zlib.crc32(body):08x}"'
            headers = {"ETag": etag, "Cache-Control": "no-cache"}
            if_none_match = request.headers.get("if-none-match")
            if if_none_match is not None and etag_matches(if_none_match.encode(), etag.encode()):
                return Response(status_code=304, headers=headers)
            return Response(body, media_type=JSON, headers=headers)

        return endpoint
