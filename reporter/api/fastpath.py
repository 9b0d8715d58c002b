"""The raw ASGI fast path: every ``GET``/``HEAD`` answered from the latest snapshot, with pre-built messages.

Dashboards and Prometheus poll these paths every few seconds, so they never reach Starlette: the bodies are
serialised once per published sample (:class:`reporter.api.latest.Published`) and the ASGI messages (status,
headers, body) are built once per snapshot and path, then reused for every request until the next sample.
Everything else (other paths and methods, CORS preflights, lifespan) goes to the Starlette ``fallback``.

Answers:

- ``/snapshot``, ``/alerts``, ``/metrics``,
  ``/api/v1/analytics/{metrics,health,ai-features,top-users,popular-scenarios}``:
  200 with ``ETag`` and ``Cache-Control: no-cache``; 304 when ``If-None-Match`` matches; 503 JSON with
  ``Retry-After: 1`` before the first sample; ``?limit=`` of the two lists: 1-100 (default 10), else 422;
- ``/snapshot``, ``/api/v1/analytics/{health,metrics}`` with ``?host=`` naming another host go to the fallback
  (:mod:`reporter.api.fleet`: that host's latest snapshot from the history); ``?host=`` naming this one is
  answered here as without it;
- ``/``, ``/static/status.css``, ``/static/status.js``: the status page (:mod:`reporter.api.statuspage`), which
  holds no data, so answered without a token;
- ``/healthz``: 200 while the latest sample is younger than 3 sample intervals and the history can be written,
  else 503 (JSON either way; ``status`` ``stale`` or ``history_failing`` with the history ``error``; ``spool``:
  ``spooling N samples`` while the spool of a fleet node holds samples);
- a ``Host`` that is not this server's (:mod:`reporter.api.hosts`, DNS rebinding) gets 421 on every path and
  method, ``/healthz`` included (local supervisors ask for 127.0.0.1 or localhost, which are always answered);
  an HTTP/1.1 request without ``Host``, or with two, or with a malformed one (``[::1]evil``) gets 400;
- with a token, every path but ``/healthz`` (and CORS preflights) needs ``Authorization: Bearer <token>``
  (the scheme in any case, RFC 7235), compared in constant time, else 401;
- with CORS origins, an allowed ``Origin`` gets ``Access-Control-Allow-Origin`` (responses carry
  ``Vary: Origin``); without, no CORS header is ever sent.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from urllib.parse import parse_qsl

from reporter.api.hosts import HostPolicy
from reporter.api.latest import (
    ALERTS_PATH,
    ANALYTICS,
    METRICS_PATH,
    PROMETHEUS_CONTENT_TYPE,
    SNAPSHOT_PATH,
    Latest,
    Published,
)
from reporter.api.statuspage import PAGE_PATHS, StatusPage
from reporter.api.views import json_list

JSON = "application/json"
_JSON = JSON.encode()
_READ_METHODS = frozenset({"GET", "HEAD"})
BODY_PATHS = {  # path -> content type of its pre-serialised body in Published.bodies
    SNAPSHOT_PATH: _JSON,
    ALERTS_PATH: _JSON,
    f"{ANALYTICS}/metrics": _JSON,
    f"{ANALYTICS}/health": _JSON,
    f"{ANALYTICS}/ai-features": _JSON,
    METRICS_PATH: PROMETHEUS_CONTENT_TYPE.encode(),
}
LIST_PATHS = {f"{ANALYTICS}/top-users": "top_users", f"{ANALYTICS}/popular-scenarios": "popular_scenarios"}
# the per-host paths: with ?host=<another host> they are answered from the history (reporter.api.fleet)
HOST_PATHS = frozenset({SNAPSHOT_PATH, f"{ANALYTICS}/health", f"{ANALYTICS}/metrics"})
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
FAST_PATHS = (*BODY_PATHS, *LIST_PATHS, "/healthz")
_LIMIT = re.compile(r"^[0-9]{1,3}$")
_NO_SNAPSHOT = json.dumps({"error": "no snapshot yet: the first sample is still running",
                           "retry_after_seconds": 1}).encode()


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes) -> dict:
    return {"type": "http.response.body", "body": body, "more_body": False}


def _json_messages(status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> tuple[dict, dict]:
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


def parse_limit(query_string: bytes) -> int | str:
    """``limit`` of the query string (default 10), or the 422 message when it is not an integer 1-100."""
    if not query_string:
        return DEFAULT_LIMIT
    values = [v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k == "limit"]
    if not values:
        return DEFAULT_LIMIT
    raw = values[-1]
    if _LIMIT.match(raw) and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    return f"limit must be an integer from 1 to {MAX_LIMIT} (got {raw[:20]!r})"


def query_host(query_string: bytes) -> str | None:
    """``host`` of the query string (the last one given), None when absent or empty."""
    if not query_string or b"host" not in query_string:
        return None
    values = [v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k == "host"]
    return values[-1] if values and values[-1] else None


class _Prepared:
    """The ASGI messages answering one path for one published snapshot (built once, reused)."""

    __slots__ = ("etag", "not_modified", "ok")

    def __init__(self, body: bytes, content_type: bytes, etag: bytes, extra: list[tuple[bytes, bytes]]) -> None:
        self.etag = etag
        common = [(b"etag", etag), (b"cache-control", b"no-cache"), *extra]
        self.ok = (_start(200, [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                *common]), _body(body))
        self.not_modified = _start(304, common)


class FastPath:
    """Raw ASGI app serving the snapshot-backed GET/HEAD paths; every other request goes to ``fallback``.

    Runs on the server's event loop only; ``latest`` is published from the sampler thread (a single attribute
    read per request, so no lock is needed here).
    """

    def __init__(self, latest: Latest, sample_interval: float, fallback, token: str | None = None,
                 cors_origins: list[str] | tuple[str, ...] = (), hosts: HostPolicy | None = None,
                 host_name: str | None = None) -> None:
        self.latest = latest
        self.host_name = host_name  # this node's host: ?host=<it> is answered here, another goes to fallback
        self.stale_after = 3.0 * sample_interval
        self.fallback = fallback
        self.hosts = hosts or HostPolicy()
        self._expected = None if not token else token.encode()
        self._cors_any = "*" in cors_origins
        self._cors = frozenset(o.encode() for o in cors_origins)
        self._vary = [(b"vary", b"Origin")] if self._cors else []
        self._prepared_for: Published | None = None
        self._prepared: dict[tuple[str, int], _Prepared] = {}
        self.page = StatusPage()

    def _authorized(self, scope) -> bool:
        """``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235), the token is not."""
        if self._expected is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                parts = value.split(None, 1)
                return (len(parts) == 2 and parts[0].lower() == b"bearer"
                        and hmac.compare_digest(parts[1].strip(), self._expected))
        return False

    def _header(self, scope, wanted: bytes) -> bytes | None:
        for name, value in scope["headers"]:
            if name == wanted:
                return value
        return None

    def _cors_headers(self, scope) -> list[tuple[bytes, bytes]]:
        """``Access-Control-Allow-Origin`` for an allowed ``Origin``, else nothing."""
        origin = self._header(scope, b"origin")
        if origin is None or not (self._cors_any or origin in self._cors):
            return []
        return [(b"access-control-allow-origin", b"*" if self._cors_any else origin),
                (b"access-control-expose-headers", b"ETag")]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        host_status = self.hosts.status(hosts, scope.get("http_version", "1.1"))
        if host_status != 200:
            refusal = HostPolicy.refusal_body(hosts[0]) if host_status == 421 else HostPolicy.bad_request_body(hosts)
            start, body = _json_messages(host_status, refusal, [(b"cache-control", b"no-store")])
        elif path in PAGE_PATHS and method in _READ_METHODS:  # the status page holds no data: no token needed
            start, page_body = self.page.messages(path, self._header(scope, b"if-none-match"), etag_matches)
            body = page_body or _EMPTY_BODY
        elif path != "/healthz" and not self._authorized(scope):
            if method == "OPTIONS" and self._cors and self._header(scope, b"access-control-request-method"):
                await self.fallback(scope, receive, send)  # a CORS preflight carries no credentials
                return
            start, body = _UNAUTHORIZED
        elif method not in _READ_METHODS:
            await self.fallback(scope, receive, send)
            return
        elif path in HOST_PATHS and scope["query_string"] and query_host(scope["query_string"]) not in (
                None, self.host_name):
            await self.fallback(scope, receive, send)  # another host's answer, from the history
            return
        elif path in BODY_PATHS or path in LIST_PATHS:
            start, body = self._from_snapshot(scope, path)
        elif path == "/healthz":
            start, body = self._healthz()
        else:
            await self.fallback(scope, receive, send)
            return
        if self._cors:
            cors = self._cors_headers(scope)
            if cors:
                start = {**start, "headers": [*start["headers"], *cors]}
        await send(start)
        await send(_EMPTY_BODY if method == "HEAD" else body)

    def _from_snapshot(self, scope, path: str) -> tuple[dict, dict]:
        current = self.latest.get()
        if current is None:
            return _NO_SNAPSHOT_MESSAGES
        limit = 0
        if path in LIST_PATHS:
            parsed = parse_limit(scope["query_string"])
            if isinstance(parsed, str):
                return self._invalid_limit(parsed)
            limit = parsed
        if self._prepared_for is not current:
            self._prepared_for, self._prepared = current, {}
        prepared = self._prepared.get((path, limit))
        if prepared is None:
            if limit:
                body, content_type = json_list(getattr(current, LIST_PATHS[path]), limit), _JSON
            else:
                body, content_type = current.body_for(path), BODY_PATHS[path]
            prepared = self._prepared[(path, limit)] = _Prepared(body, content_type, current.etag.encode(),
                                                                 self._vary)
        if_none_match = self._header(scope, b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, prepared.etag):
            return prepared.not_modified, _EMPTY_BODY
        return prepared.ok

    def _invalid_limit(self, message: str) -> tuple[dict, dict]:
        body = json.dumps({"error": message, "detail": [{"loc": ["query", "limit"], "msg": message,
                                                         "type": "value_error"}]}).encode()
        return _json_messages(422, body, [(b"cache-control", b"no-store"), *self._vary])

    def _healthz(self) -> tuple[dict, dict]:
        age = self.latest.age_seconds()
        if age is None:
            return _json_messages(503, b'{"status": "starting", "detail": "no sample yet"}',
                                  [(b"cache-control", b"no-store"), *self._vary])
        status = "stale" if age > self.stale_after else "ok"
        payload = {"status": status, "last_sample_age_seconds": round(age, 3), "stale_after_seconds": self.stale_after}
        current = self.latest.get()
        history_error = current.snapshot.errors.get("history") if current is not None else None
        spooled = current.snapshot.spooled if current is not None else None
        if spooled:  # fleet mode: samples wait in the local spool (history down, or draining after it)
            payload["spool"] = f"spooling {spooled} samples"
        if history_error:  # the daemon cannot record samples nor alert state changes
            payload.update(status="history_failing" if status == "ok" else status, error=f"history: {history_error}")
        body = json.dumps(payload).encode()
        return _json_messages(200 if status == "ok" and not history_error else 503, body,
                              [(b"cache-control", b"no-store"), *self._vary])
