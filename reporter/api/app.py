"""The Starlette application: ``GET /snapshot`` and ``GET /healthz``, answered from memory."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reporter.api.latest import Latest

JSON = "application/json"


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(payload).encode(), status_code=status, media_type=JSON, headers=headers)


def create_app(latest: Latest, sample_interval: float) -> Starlette:
    """The ASGI app. ``/healthz`` is 200 while the latest sample is younger than 3 sample intervals."""
    stale_after = 3.0 * sample_interval

    async def snapshot(request: Request) -> Response:
        current = latest.get()
        if current is None:
            return _json({"error": "no snapshot yet: the first sample is still running", "retry_after_seconds": 1},
                         503, {"Retry-After": "1"})
        if request.headers.get("if-none-match") == current.etag:
            return Response(status_code=304, headers={"ETag": current.etag})
        return Response(current.body, media_type=JSON, headers={"ETag": current.etag, "Cache-Control": "no-cache"})

    async def healthz(request: Request) -> Response:
        age = latest.age_seconds()
        if age is None:
            return _json({"status": "starting", "detail": "no sample yet"}, 503)
        body = {"last_sample_age_seconds": round(age, 3), "stale_after_seconds": stale_after}
        if age > stale_after:
            return _json({"status": "stale", **body}, 503)
        return _json({"status": "ok", **body})

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return _json({"error": exc.detail, "endpoints": ["/snapshot", "/healthz"]}, exc.status_code)

    return Starlette(
        routes=[Route("/snapshot", snapshot, methods=["GET", "HEAD"]),
                Route("/healthz", healthz, methods=["GET", "HEAD"])],
        exception_handlers={HTTPException: not_found},
    )
