"""The status page: ``GET /`` and its stylesheet and scripts, files of this package (``reporter/api/static/``).

The page holds no data: its scripts read the JSON endpoints (``/snapshot``, ``/healthz``, ``/api/v1/history``,
``/api/v1/hosts``, ``/api/v1/reports``) with the visitor's bearer token, so these files are answered
without a token (a browser must get the page to ask for it) and the page can show nothing the API would not.

Paths (``GET``/``HEAD``; :data:`PAGE_PATHS`): ``/`` (``status.html``), ``/static/status.css``,
``/static/status.js`` (the page), ``/static/charts.js`` (its SVG charts) and ``/static/favicon.svg``. Each
answer carries an ``ETag`` (a hash of the file; ``If-None-Match`` gives 304), ``Cache-Control: no-cache`` and
the security headers of :data:`SECURITY_HEADERS`: a Content-Security-Policy allowing only this origin's script,
style and fetches (no inline script or style, no frame, no form), no MIME sniffing, no referrer.

The files are read and their messages built on the first request (:class:`StatusPage`), never at start: a
daemon nobody looks at spends nothing on the page.
"""

from __future__ import annotations

import hashlib

INDEX_PATH = "/"
CSS_PATH = "/static/status.css"
JS_PATH = "/static/status.js"
CHARTS_PATH = "/static/charts.js"
ICON_PATH = "/static/favicon.svg"
PAGE_PATHS = {  # path -> (file in reporter/api/static, content type)
    INDEX_PATH: ("status.html", b"text/html; charset=utf-8"),
    CSS_PATH: ("status.css", b"text/css; charset=utf-8"),
    JS_PATH: ("status.js", b"text/javascript; charset=utf-8"),
    CHARTS_PATH: ("charts.js", b"text/javascript; charset=utf-8"),
    ICON_PATH: ("favicon.svg", b"image/svg+xml"),
}
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                           "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def read_static(name: str) -> bytes:
    """The bytes of ``reporter/api/static/<name>`` (package data; FileNotFoundError when not installed)."""
    from importlib.resources import files

    return files("reporter.api").joinpath("static", name).read_bytes()


class _Prepared:
    __slots__ = ("etag", "not_modified", "ok")

    def __init__(self, body: bytes, content_type: bytes) -> None:
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'.encode()
        common = [(b"etag", self.etag), (b"cache-control", b"no-cache"), *SECURITY_HEADERS]
        self.ok = ({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                *common]},
                   {"type": "http.response.body", "body": body, "more_body": False})
        self.not_modified = {"type": "http.response.start", "status": 304, "headers": common}


class StatusPage:
    """The page's answers, each built once on its first request and reused."""

    def __init__(self) -> None:
        self._prepared: dict[str, _Prepared] = {}

    def messages(self, path: str, if_none_match: bytes | None, matches) -> tuple[dict, dict | None]:
        """(start message, body message or None for a 304) answering ``path`` (one of :data:`PAGE_PATHS`);
        ``matches(if_none_match, etag)`` compares ETags (:func:`reporter.api.fastpath.etag_matches`)."""
        prepared = self._prepared.get(path)
        if prepared is None:
            name, content_type = PAGE_PATHS[path]
            prepared = self._prepared[path] = _Prepared(read_static(name), content_type)
        if if_none_match is not None and matches(if_none_match, prepared.etag):
            return prepared.not_modified, None
        return prepared.ok
