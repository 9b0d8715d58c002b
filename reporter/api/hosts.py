"""Which ``Host`` header values the HTTP server answers (protection against DNS rebinding).

A web page on ``evil.example`` whose name is re-pointed at this machine can make a browser send requests here;
they carry ``Host: evil.example``. Only these names are answered (port and case ignored, a trailing dot too):

- ``localhost``, ``127.0.0.1`` and ``::1`` (written ``[::1]`` in a Host header), always;
- the bind address (``REPORTER_HTTP_HOST``) itself, and the host of ``REPORTER_EXTERNAL_URL`` (where the links in
  notifications point);
- on a wildcard bind (``0.0.0.0``, ``::``), any IP address: an address cannot be re-pointed, so it is no
  rebinding (the machine's own addresses, a published container port...); names must be listed;
- the entries of ``REPORTER_ALLOWED_HOSTS``: a name (``reporter.example.com``), a domain with its subdomains
  (``.example.com``), an address, or ``*`` for any Host.

An HTTP/1.0 request without a ``Host`` header is answered (browsers always send one). RFC 9112 section 3.2: an
HTTP/1.1 request without ``Host``, any request with two or more, or one whose value is no ``host[:port]``
(``[::1]evil``, ``[::1].evil.example``) gets 400. For an absolute-form target (``GET http://name/path``) the
target's authority is the request's host, not the ``Host`` header (section 3.2.2;
:mod:`reporter.api.protocol` puts it in the ``Host`` header before the app sees the request).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from reporter.base.hostnames import check_allowed_entry, normalise_host

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
ALWAYS = ("localhost", "127.0.0.1", "::1")
SETTING = "REPORTER_ALLOWED_HOSTS"
_CACHE_SIZE = 256


# RFC 3986 host ("[" IPv6 "]", an IPv4 address or a reg-name: unreserved, %XX, sub-delims) and an optional port
_HOST_SYNTAX = re.compile(rb"(?:\[([0-9A-Fa-f:.]+)\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?")


def valid_host_header(value: bytes) -> bool:
    """True when a raw ``Host`` header value is ``host[:port]`` by RFC 3986 (an IPv6 literal must be one)."""
    match = _HOST_SYNTAX.fullmatch(value.strip(b" \t"))
    if match is None:
        return False
    if match.group(1) is not None:
        try:
            ipaddress.IPv6Address(match.group(1).decode("ascii"))
        except ValueError:
            return False
    return True


def external_host(external_url: str | None) -> list[str]:
    """The host name of REPORTER_EXTERNAL_URL (links in notifications point there, so it is answered), or []."""
    if not external_url:
        return []
    try:
        host = urlsplit(external_url).hostname
    except ValueError:
        return []
    return [host] if host else []


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Decides whether a request's ``Host`` header is answered (see the module docstring).

    ``bind_host``: REPORTER_HTTP_HOST; ``allowed``: REPORTER_ALLOWED_HOSTS entries.
    """

    def __init__(self, bind_host: str = "127.0.0.1", allowed: Iterable[str] = ()) -> None:
        entries = [check_allowed_entry(e) for e in allowed]
        self.any_host = "*" in entries
        bind = normalise_host(bind_host)
        self.any_address = bind_host.strip() in WILDCARD_BINDS
        self.names = frozenset([*ALWAYS, *(e for e in entries if not e.startswith("."))]
                               + ([] if self.any_address else [bind]))
        self.domains = tuple(e for e in entries if e.startswith("."))
        self._seen: dict[bytes, int] = {}  # raw Host -> 200, 400 or 421

    def allows(self, host: bytes | None) -> bool:
        """True when a request with this raw ``Host`` header value (None = absent) is answered."""
        return host is None or self._host_status(host) == 200

    def _host_status(self, host: bytes) -> int:
        known = self._seen.get(host)
        if known is not None:
            return known
        if not valid_host_header(host):
            status = 400
        else:
            name = normalise_host(host.decode("latin-1"))
            status = 200 if (self.any_host or name in self.names or any(name.endswith(d) or name == d[1:]
                                                                       for d in self.domains)
                             or (self.any_address and _is_address(name))) else 421
        if len(self._seen) >= _CACHE_SIZE:
            self._seen.clear()
        self._seen[host] = status
        return status

    def status(self, hosts: list[bytes], http_version: str) -> int:
        """200 when a request with these raw ``Host`` header values is answered, 400 when its Host is missing
        (HTTP/1.1), repeated or malformed, 421 when it names another server."""
        if len(hosts) > 1 or (not hosts and http_version not in ("1.0", "0.9")):
            return 400
        return self._host_status(hosts[0]) if hosts else 200

    @staticmethod
    def bad_request_body(hosts: list[bytes]) -> bytes:
        """The JSON body of a 400 for a missing, repeated or malformed ``Host``."""
        if not hosts:
            said = "an HTTP/1.1 request needs a Host header"
        elif len(hosts) > 1:
            said = "a request must have exactly one Host header"
        else:
            said = f"Host {hosts[0].decode('latin-1')[:100]!r} is not host[:port]"
        return json.dumps({"error": said}).encode()

    @staticmethod
    def refusal_body(host: bytes) -> bytes:
        """The JSON body of the refusal: names the Host and the setting that would allow it."""
        shown = host.decode("latin-1")[:100]
        return json.dumps({"error": f"Host {shown!r} is not answered here (DNS rebinding protection); if it is a "
                                    f"name of this server, add it to {SETTING} (comma-separated; * = any)"}).encode()
