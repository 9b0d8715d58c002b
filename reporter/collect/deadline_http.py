"""HTTP answers read against an overall deadline, for the plain ``http.client`` requests of the Ollama probes.

``http.client`` bounds each socket read by the socket's timeout only: a server sending its status line, headers or
body a byte at a time, each byte within the timeout, holds a request (and the probe) for as long as it likes.
:func:`bound` makes the next answer of a connection read every byte within the time left to a deadline on the
monotonic clock: each read waits at most what is left, and none starts after it (``TimeoutError("timed out")``,
as a socket timeout says it). Works for HTTP and HTTPS alike (it reads through the socket's ``recv_into``).
"""

from __future__ import annotations

import functools
import http.client
import io
import socket
import time
from typing import Any


class _DeadlineReader(io.RawIOBase):
    """The raw stream of one answer: ``recv_into`` on ``sock``, each call bounded by the time left to ``ends``.
    ``holder`` is the socket's own reader, closed with this one: while open it keeps the socket from closing
    when ``http.client`` closes the connection of an answer read to its end (no length, ``Connection: close``)."""

    def __init__(self, sock: socket.socket, ends: float, holder: io.IOBase) -> None:
        super().__init__()
        self.sock, self.ends, self.holder = sock, ends, holder

    def close(self) -> None:
        self.holder.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class DeadlineResponse(http.client.HTTPResponse):
    """An ``HTTPResponse`` reading through :class:`_DeadlineReader` (``ends``: monotonic seconds)."""

    def __init__(self, sock: socket.socket, *args: Any, ends: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._reader = _DeadlineReader(sock, ends, self.fp)  # self.fp: the socket's own reader, replaced
        self.fp = io.BufferedReader(self._reader)

    def until(self, ends: float) -> None:
        """Bring the deadline forward to ``ends`` (monotonic seconds) when that is sooner."""
        self._reader.ends = min(self._reader.ends, ends)


def bound(conn: http.client.HTTPConnection, ends: float) -> None:
    """Make ``conn``'s next answer (status line, headers and body) arrive by ``ends`` (``time.monotonic()``
    seconds), or raise ``TimeoutError``; call it before ``conn.getresponse()``."""
    conn.response_class = functools.partial(DeadlineResponse, ends=ends)  # type: ignore[assignment]
