"""The HTTP application: ``GET /snapshot`` and ``GET /healthz``, answered from memory.

Dashboards poll ``/snapshot`` every few seconds, so those two paths are served by a small raw ASGI fast path
(:class:`FastPath`) that sends pre-built response messages: the snapshot's JSON bytes and headers are built
once per published sample, never per request. Everything else (other paths and methods, lifespan) goes to a
Starlette app behind it, which answers unknown paths with a JSON 404 and is the place for further routes.

Responses:

- ``/snapshot``: 200 with the latest snapshot (``ETag``, ``Cache-Control: no-cache``); 304 when
  ``If-None-Match`` matches the ETag; 503 JSON with ``Retry-After: 1`` before the first sample;
- ``/healthz``: 200 while the latest sample is younger than 3 sample intervals, else 503 (JSON either way).
"""

from __future__ import annotations

import hmac
import json

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reporter.api.latest import Latest, Published

JSON = "application/json"
_JSON = JSON.encode()
_READ_METHODS = frozenset({"GET", "HEAD"})
_NO_SNAPSHOT = json.dumps({"error": "no snapshot yet: the first sample is still running",
                           "retry_after_seconds": 1}).encode()


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes) -> dict:
    return {"type": "http.response.body", "body": body, "more_body": False}


def _json_messages(status: int, body: bytes, extra: list[tuple[bytes, bytes]] = ()) -> tuple[dict, dict]:
    headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode()), *extra]
    return _start(status, headers), _body(body)


_EMPTY_BODY = _body(b"")
_UNAUTHORIZED = _json_messages(401, b'{"error": "missing or wrong bearer token (Authorization: Bearer ...)"}',
                               [(b"www-authenticate", b'Bearer realm="reporter"')])
_NO_SNAPSHOT_MESSAGES = _json_messages(503, _NO_SNAPSHOT, [(b"retry-after", b"1"), (b"cache-control", b"no-store")])


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 ``If-None-Match``: ``*`` or a comma-separated list of (weak or strong) tags, compared weakly."""
    if if_none_match == etag:
        return True
    for candidate in if_none_match.split(b","):
        candidate = candidate.strip()
        if candidate == b"*" or candidate.removeprefix(b"W/") == etag:
            return True
    return False


class _Prepared:
    """The ASGI messages answering ``/snapshot`` for one published snapshot (built once, reused)."""

    __slots__ = ("published", "etag", "ok", "not_modified")

    def __init__(self, published: Published) -> None:
        self.published = published
        self.etag = published.etag.encode()
        self.ok = _json_messages(200, published.body, [(b"etag", self.etag), (b"cache-control", b"no-cache")])
        self.not_modified = _start(304, [(b"etag", self.etag), (b"cache-control", b"no-cache")])


class FastPath:
    """Raw ASGI app serving ``GET|HEAD /snapshot`` and ``/healthz``; every other request goes to ``fallback``.

    Runs on the server's event loop only; ``latest`` is published from the sampler thread (a single attribute
    read per request, so no lock is needed here).
    """

    def __init__(self, latest: Latest, sample_interval: float, fallback, token: str | None = None) -> None:
        self.latest = latest
        self.stale_after = 3.0 * sample_interval
        self.fallback = fallback
        self._prepared: _Prepared | None = None
        self._expected = None if not token else b"Bearer " + token.encode()

    def _authorized(self, scope) -> bool:
        if self._expected is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] != "/healthz" and not self._authorized(scope):
            await send(_UNAUTHORIZED[0])
            await send(_UNAUTHORIZED[1])
            return
        if scope["type"] == "http" and scope["method"] in _READ_METHODS:
            path = scope["path"]
            if path == "/snapshot":
                start, body = self._snapshot(scope)
            elif path == "/healthz":
                start, body = self._healthz()
            else:
                await self.fallback(scope, receive, send)
                return
            await send(start)
            await send(_EMPTY_BODY if scope["method"] == "HEAD" else body)
            return
        await self.fallback(scope, receive, send)

    def _snapshot(self, scope) -> tuple[dict, dict]:
        current = self.latest.get()
        if current is None:
            return _NO_SNAPSHOT_MESSAGES
        prepared = self._prepared
        if prepared is None or prepared.published is not current:
            prepared = self._prepared = _Prepared(current)
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if etag_matches(value, prepared.etag):
                    return prepared.not_modified, _EMPTY_BODY
                break
        return prepared.ok

    def _healthz(self) -> tuple[dict, dict]:
        age = self.latest.age_seconds()
        if age is None:
            return _json_messages(503, b'{"status": "starting", "detail": "no sample yet"}',
                                  [(b"cache-control", b"no-store")])
        status = "stale" if age > self.stale_after else "ok"
        body = json.dumps({"status": status, "last_sample_age_seconds": round(age, 3),
                           "stale_after_seconds": self.stale_after}).encode()
        return _json_messages(503 if status == "stale" else 200, body, [(b"cache-control", b"no-store")])


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(payload).encode(), status_code=status, media_type=JSON, headers=headers)


def create_app(latest: Latest, sample_interval: float, token: str | None = None) -> FastPath:
    """The ASGI app. ``/healthz`` is 200 while the latest sample is younger than 3 sample intervals. With a
    ``token`` (REPORTER_API_TOKEN) every path but ``/healthz`` needs ``Authorization: Bearer <token>``
    (compared in constant time), else 401."""

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _json({"error": exc.detail, "endpoints": ["/snapshot", "/healthz", "/alerts"]}, exc.status_code,
                     exc.headers)

    async def alerts(request: Request) -> Response:
        current = latest.get()
        if current is None:
            return _json({"error": "no snapshot yet: the first sample is still running"}, 503, {"Retry-After": "1"})
        return Response(current.alerts_body, media_type=JSON, headers={"Cache-Control": "no-cache"})

    async def served_by_fast_path(request: Request) -> Response:  # pragma: no cover (FastPath answers first)
        raise HTTPException(500, "FastPath should have answered this request")

    # GET and HEAD of these two paths never reach Starlette; the routes make it answer other methods with a JSON
    # 405 (and an Allow header) instead of a 404
    fallback = Starlette(
        routes=[Route("/snapshot", served_by_fast_path, methods=["GET", "HEAD"]),
                Route("/healthz", served_by_fast_path, methods=["GET", "HEAD"]),
                Route("/alerts", alerts, methods=["GET", "HEAD"])],
        exception_handlers={HTTPException: http_error},
    )
    return FastPath(latest, sample_interval, fallback, token)
