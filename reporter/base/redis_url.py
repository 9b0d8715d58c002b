"""Redis URLs (REPORTER_REDIS_URL) read as redis-py reads them, without importing redis-py (an agent, which only
PINGs Redis, never loads it): ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) and
``unix://[[user]:password@]/path``, with redis-py's typed query options checked the same way."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlparse

SCHEMES = ("redis://", "rediss://", "unix://")
_TYPED = {"db": int, "socket_timeout": float, "socket_connect_timeout": float, "socket_read_size": int,
          "max_connections": int, "health_check_interval": int, "ssl_min_version": int, "timeout": float,
          "protocol": int}


@dataclass(frozen=True)
class RedisAddress:
    """Where a Redis URL points: ``tls`` for rediss://, ``path`` for unix:// (else ``host``/``port``), and the
    credentials (None when absent)."""

    host: str
    port: int
    path: str | None
    tls: bool
    username: str | None
    password: str | None


def parse_redis_url(url: str) -> RedisAddress:
    """The address of ``url``; ValueError (redis-py's wording) when the scheme, the port or a typed query option
    (``db``, timeouts...) is not valid."""
    if not url.lower().startswith(SCHEMES):
        raise ValueError("Redis URL must specify one of the following schemes (redis://, rediss://, unix://)")
    parsed = urlparse(url)
    for name, values in parse_qs(parsed.query).items():
        kind = _TYPED.get(name)
        if kind is not None and values:
            try:
                kind(values[0])
            except (TypeError, ValueError):
                raise ValueError(f"Invalid value for '{name}' in connection URL.") from None
    username = unquote(parsed.username) if parsed.username else None
    password = unquote(parsed.password) if parsed.password else None
    if parsed.scheme.lower() == "unix":
        return RedisAddress("", 0, unquote(parsed.path) or None, False, username, password)
    port = parsed.port  # ValueError when not a number in 0-65535
    return RedisAddress(unquote(parsed.hostname or "localhost"), int(port) if port is not None else 6379, None,
                        parsed.scheme.lower() == "rediss", username, password)
