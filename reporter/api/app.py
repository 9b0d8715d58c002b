"""The HTTP application: a raw ASGI fast path for the snapshot-backed GETs in front of a Starlette app.

:class:`reporter.api.fastpath.FastPath` answers ``/snapshot``, ``/alerts``, ``/healthz``, ``/metrics`` and the
seed's ``/api/v1/analytics/*`` GETs from messages pre-built once per sample. Everything else goes to the Starlette
app built here: ``POST /api/v1/analytics/log-ai-usage``, ``/api/v1/silences`` (:mod:`reporter.api.silences`),
``POST /api/v1/alerts/{fingerprint}/ack``, ``GET /api/v1/history``, ``GET /api/v1/hosts`` and another host's
answers (``?host=``, :mod:`reporter.api.fleet`), ``GET /api/v1/reports`` (:mod:`reporter.api.reports`),
``GET /openapi.json``, CORS preflights (when origins are
configured) and JSON 404/405 answers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reporter import __version__
from reporter.api.acks import ack_endpoint
from reporter.api.fastpath import FAST_PATHS, HOST_PATHS, JSON, FastPath, etag_matches
from reporter.api.fleet import Fleet
from reporter.api.history import history_endpoint
from reporter.api.hosts import HostPolicy
from reporter.api.latest import Latest
from reporter.api.openapi import document
from reporter.api.reports import report_endpoints
from reporter.api.silences import silence_routes
from reporter.api.usage_log import log_usage_endpoint

__all__ = ["FastPath", "create_app", "etag_matches"]
DEFAULT_FEATURES = ("grammar", "quiz", "voice", "scenario")
ENDPOINTS = ["/snapshot", "/healthz", "/alerts", "/metrics", "/openapi.json", "/api/v1/history", "/api/v1/hosts",
             "/api/v1/analytics/metrics", "/api/v1/analytics/health", "/api/v1/analytics/ai-features",
             "/api/v1/analytics/top-users", "/api/v1/analytics/popular-scenarios",
             "/api/v1/analytics/log-ai-usage", "/api/v1/silences", "/api/v1/silences/{silence_id}",
             "/api/v1/alerts/{fingerprint}/ack", "/api/v1/reports", "/api/v1/reports/{name}"]


def _json(payload: dict, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(payload).encode(), status_code=status, media_type=JSON, headers=headers)


def create_app(latest: Latest, sample_interval: float, token: str | None = None, *, redis=None,
               ai_prefix: str = "ai:", ai_features: list[str] | tuple[str, ...] = DEFAULT_FEATURES,
               history=None, cors_origins: list[str] | tuple[str, ...] = (), bind_host: str = "127.0.0.1",
               allowed_hosts: list[str] | tuple[str, ...] = (), report_dir: str | None = None) -> FastPath:
    """The ASGI app.

    ``token`` (REPORTER_API_TOKEN): every path but ``/healthz`` needs ``Authorization: Bearer <token>``
    (constant-time compare), else 401; without a token the write endpoints (POST, DELETE) answer 403. ``redis``: a
    ``redis.asyncio`` client for the POST endpoint (closed when the app shuts down), counters under
    ``ai_prefix`` for ``ai_features``. ``history``: a :class:`reporter.store.history.History` for
    ``/api/v1/history``, ``/api/v1/hosts`` and ``?host=`` (503 without; its ``host`` is this node's host name).
    ``cors_origins``: allowed browser origins (``*`` = any); empty = no CORS.
    ``bind_host`` (REPORTER_HTTP_HOST) and ``allowed_hosts`` (REPORTER_ALLOWED_HOSTS): the ``Host`` header values
    answered, others get 421 (:mod:`reporter.api.hosts`). ``report_dir`` (REPORTER_REPORT_DIR): the folder
    ``/api/v1/reports`` lists (503 without). ``GET /`` is the status page (:mod:`reporter.api.statuspage`).
    """
    features = list(ai_features)
    report_list, report_file = report_endpoints(report_dir)
    fleet = Fleet(history, sample_interval, __version__)
    openapi_body = json.dumps(document(features, list(history.metrics) if history is not None else None,
                                       bool(token))).encode()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # its only registration; Starlette types handlers with Exception
        return _json({"error": exc.detail, "endpoints": ENDPOINTS}, exc.status_code, exc.headers)

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type=JSON)

    async def served_by_fast_path(request: Request) -> Response:  # pragma: no cover (FastPath answers first)
        raise HTTPException(500, "FastPath should have answered this request")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            if redis is not None:
                await redis.aclose()

    middleware = []
    if cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(cors_origins),
                                     allow_methods=["GET", "HEAD", "POST", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type", "If-None-Match"],
                                     expose_headers=["ETag"], max_age=600))
    # GET and HEAD of the fast paths never reach Starlette; their routes make it answer other methods with a
    # JSON 405 (and an Allow header) instead of a 404
    fallback = Starlette(
        routes=[*(Route(path, fleet.host_endpoint(path) if path in HOST_PATHS else served_by_fast_path,
                        methods=["GET", "HEAD"]) for path in FAST_PATHS),
                Route("/openapi.json", openapi, methods=["GET", "HEAD"]),
                Route("/api/v1/history", history_endpoint(history, fleet.known), methods=["GET", "HEAD"]),
                Route("/api/v1/hosts", fleet.hosts, methods=["GET", "HEAD"]),
                Route("/api/v1/analytics/log-ai-usage", log_usage_endpoint(redis, ai_prefix, features, bool(token)),
                      methods=["POST"]),
                Route("/api/v1/alerts/{fingerprint}/ack", ack_endpoint(history, bool(token)), methods=["POST"]),
                Route("/api/v1/reports", report_list, methods=["GET", "HEAD"]),
                Route("/api/v1/reports/{name}", report_file, methods=["GET", "HEAD"]),
                *silence_routes(history, bool(token))],
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    return FastPath(latest, sample_interval, fallback, token, cors_origins, HostPolicy(bind_host, allowed_hosts),
                    host_name=None if history is None else history.host)
