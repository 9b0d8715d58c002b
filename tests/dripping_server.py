"""A TCP server on loopback that accepts and then sends one byte per second, forever, whatever it is sent: a
peer whose every socket read returns in time, so that only an overall deadline ends a conversation with it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class DrippingServer:
    """``port`` on 127.0.0.1; ``connections`` counts the accepted ones; ``close()`` stops it."""

    def __init__(self, byte: bytes = b"2", every: float = 1.0) -> None:
        self.byte, self.every = byte, every
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            while not self._closed.is_set():
                conn.sendall(self.byte)
                time.sleep(self.every)

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
