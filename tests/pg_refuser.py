"""A loopback server speaking the start of the PostgreSQL protocol: it asks for a cleartext password and refuses
it, quoting the password in its error (as a misbehaving server or proxy may). A real driver (psycopg/libpq) then
carries the password in its exception text, which is what the masking must catch."""

from __future__ import annotations

import socket
import struct
import threading

SSL_REQUEST, GSSENC_REQUEST, PROTOCOL_3 = 80877103, 80877104, 196608


class PasswordRefuser:
    """Listens on 127.0.0.1:``port``; ``passwords`` collects every password a client sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.passwords: list[str] = []
        self._stop = False
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with conn:
                while True:  # SSL / GSS encryption requests are declined, then the startup message follows
                    length, code = struct.unpack("!iI", self._read(conn, 8))
                    body = self._read(conn, length - 8)
                    if code in (SSL_REQUEST, GSSENC_REQUEST):
                        conn.sendall(b"N")
                        continue
                    break
                if code != PROTOCOL_3:
                    return
                params = body.split(b"\0")
                user = params[params.index(b"user") + 1].decode() if b"user" in params else "?"
                conn.sendall(b"R" + struct.pack("!iI", 8, 3))  # AuthenticationCleartextPassword
                _kind, length = struct.unpack("!ci", self._read(conn, 5))
                password = self._read(conn, length - 4).rstrip(b"\0").decode("utf-8", "replace")
                self.passwords.append(password)
                fields = b"".join(key + value.encode() + b"\0" for key, value in (
                    (b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"),
                    (b"M", f'password "{password}" is not accepted for user "{user}"')))
                message = fields + b"\0"
                conn.sendall(b"E" + struct.pack("!i", len(message) + 4) + message)
        except (OSError, ConnectionError, ValueError, struct.error):
            pass

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()
