"""A Redis ``PING`` over one short RESP exchange on the standard library (no redis-py): what the Redis probe
needs, so that a node that does not read the AI counters (an agent) never loads redis-py (~7 MB resident)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import BinaryIO

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
    bounded by ``timeout`` seconds. Raises ``TimeoutError`` ("Timeout ..."), ``OSError`` (refused, reset) or
    :class:`RedisPingError`; never puts the password in a message.

    The connection is kept from one ping to the next (connecting costs three times the CPU of the ping itself),
    for at most ``reconnect_seconds`` (then a new one is made and authenticated again, so a changed password is
    seen within that time); a kept connection the server has closed (restart, idle timeout, ``CLIENT KILL``) is
    replaced by a new one for the same ping, and one that failed otherwise is dropped."""

    RECONNECT_SECONDS = 300.0

    def __init__(self, url: str, timeout: float, reconnect_seconds: float = RECONNECT_SECONDS) -> None:
        self.address = parse_redis_url(url)
        self.timeout = timeout
        self.reconnect_seconds = reconnect_seconds
        self._kept: tuple[socket.socket, BinaryIO, float] | None = None  # socket, its reader, connected at
        self._lock = threading.Lock()

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
        with self._lock:  # taken: a ping still stuck from an earlier sample never shares it
            kept, self._kept = self._kept, None
        if kept is not None and time.monotonic() - kept[2] >= self.reconnect_seconds:
            self._close(kept)
            kept = None
        try:
            if kept is not None:
                try:
                    reply = self._ping(kept)
                except ConnectionError:  # closed by the server since the last ping (reset, or no answer)
                    self._close(kept)
                    kept = None
            if kept is None:
                kept = self._open()
                reply = self._ping(kept)
        except TimeoutError:
            self._close(kept)
            raise TimeoutError(f"Timeout talking to Redis at {self._where()} (no answer within "
                               f"{self.timeout:g} s)") from None
        except BaseException:
            self._close(kept)
            raise
        if reply != "PONG":
            self._close(kept)
            raise RedisPingError(f"unexpected answer to PING: {reply[:80]!r}")
        with self._lock:
            keep, self._kept = self._kept is None, self._kept or kept
        if not keep:
            self._close(kept)
        return True

    def _open(self) -> tuple[socket.socket, BinaryIO, float]:
        """A new connection, authenticated when the URL has a password."""
        a = self.address
        sock = self._connect()
        try:
            reader = sock.makefile("rb")
            if a.password is not None:
                sock.sendall(_command("AUTH", *((a.username,) if a.username else ()), a.password))
                self._reply(reader)
        except BaseException:
            sock.close()
            raise
        return sock, reader, time.monotonic()

    def _ping(self, conn: tuple[socket.socket, BinaryIO, float]) -> str:
        conn[0].sendall(_command("PING"))
        return self._reply(conn[1])

    @staticmethod
    def _close(conn: tuple[socket.socket, BinaryIO, float] | None) -> None:
        if conn is not None:
            conn[1].close()
            conn[0].close()

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
        """Close the connection kept between pings."""
        with self._lock:
            kept, self._kept = self._kept, None
        self._close(kept)
