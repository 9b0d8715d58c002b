"""uvicorn's httptools protocol with a deadline for request headers, and the host of an absolute-form target.

uvicorn closes idle keep-alive connections, but not a connection that was opened and never sends a request,
nor one that sends its headers a byte at a time: enough of those (1,000) would lock every client out,
/healthz included. Here a request's headers must be complete within HEADER_TIMEOUT_SECONDS of the connection
opening (or of the request's first byte on a kept-alive connection), else the connection is closed.

A request may name its target in absolute form (``GET http://evil.example/snapshot HTTP/1.1``); the target's
authority is then the request's host, whatever the ``Host`` header says (RFC 9112 section 3.2.2). uvicorn keeps
only the path of such a target, so the authority would be lost and the ``Host`` check
(:mod:`reporter.api.hosts`) fooled by ``Host: localhost``: here the ``Host`` header is replaced by the target's
authority before the app sees the request (added for an HTTP/1.0 request without ``Host``; a missing or repeated
``Host`` of HTTP/1.1 is left for the app to refuse with 400).
"""

from __future__ import annotations

import asyncio

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol + a header deadline (see module docstring)."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        if self.url[:1] not in (b"/", b"*") and self.parser.get_method() != b"CONNECT":
            self._host_from_target()
        super().on_headers_complete()

    def _host_from_target(self) -> None:
        """An absolute-form target's ``host[:port]`` becomes the ``Host`` header (see module docstring)."""
        try:
            target = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            return  # uvicorn answers 400
        if not target.host:
            return
        host = b"[" + target.host + b"]" if b":" in target.host else target.host
        authority = host + (b":%d" % target.port if target.port is not None else b"")
        found = [i for i, (name, _) in enumerate(self.headers) if name == b"host"]
        if len(found) == 1:
            self.headers[found[0]] = (b"host", authority)
        elif not found and self.parser.get_http_version() != "1.1":
            self.headers.append((b"host", authority))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
