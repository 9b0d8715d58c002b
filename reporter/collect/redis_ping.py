"""A Redis ``PING`` over one short RESP exchange on the standard library (no redis-py): what the Redis probe
needs, so that a node that does not read the AI counters (an agent) never loads redis-py (~7 MB resident)."""

from __future__ import annotations

import socket
import ssl

from reporter.base.redis_url import parse_redis_url


class RedisPingError(Exception):
    """Redis answered, but not ``PONG`` (e.g. ``NOAUTH``, ``WRONGPASS``): the error text is Redis's."""


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RedisPing:
    """``ping()`` connects to ``url`` (REPORTER_REDIS_URL; TLS for rediss://, a socket path for unix://),
    authenticates when the URL has a password, sends ``PING`` and expects ``+PONG``; every socket operation is
    bounded by ``timeout`` seconds. A fresh connection per ping (one every sample interval). Raises
    ``TimeoutError`` ("Timeout ..."), ``OSError`` (refused, reset) or :class:`RedisPingError`; never puts the
    password in a message."""

    def __init__(self, url: str, timeout: float) -> None:
        self.address = parse_redis_url(url)
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        a = self.address
        if a.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(a.path)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((a.host, a.port), timeout=self.timeout)
        if a.tls:
            try:
                return ssl.create_default_context().wrap_socket(sock, server_hostname=a.host)
            except BaseException:
                sock.close()
                raise
        return sock

    def ping(self) -> bool:
        """True after ``+PONG``; raises as the class says."""
        a = self.address
        try:
            with self._connect() as sock:
                reader = sock.makefile("rb")
                if a.password is not None:
                    sock.sendall(_command("AUTH", *((a.username,) if a.username else ()), a.password))
                    self._reply(reader)
                sock.sendall(_command("PING"))
                reply = self._reply(reader)
        except TimeoutError:
            raise TimeoutError(f"Timeout talking to Redis at {self._where()} (no answer within "
                               f"{self.timeout:g} s)") from None
        if reply != "PONG":
            raise RedisPingError(f"unexpected answer to PING: {reply[:80]!r}")
        return True

    def _reply(self, reader) -> str:
        line = reader.readline(1024)
        if not line:
            raise ConnectionError(f"Redis at {self._where()} closed the connection")
        text = line.rstrip(b"\r\n").decode(errors="replace")
        if text.startswith("-"):
            raise RedisPingError(text[1:])
        return text[1:] if text[:1] == "+" else text

    def _where(self) -> str:
        a = self.address
        return a.path if a.path is not None else f"{a.host}:{a.port}"

    def close(self) -> None:
        """Nothing to close (no connection is kept between pings)."""
