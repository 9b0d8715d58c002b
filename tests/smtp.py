"""A real SMTP server on loopback (aiosmtpd) that keeps the messages it receives."""

from __future__ import annotations

import email
import email.policy
import time

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []  # each kept message as received (DATA), for line-length checks
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) of each message kept
        self.reply: str | None = None  # an answer to DATA instead of accepting (e.g. "451 4.3.0 try later")
        self.refused = 0  # messages answered with ``reply``

    async def handle_DATA(self, server, session, envelope):
        if self.reply is not None:
            self.refused += 1
            return self.reply
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.raw.append(envelope.content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SMTPServer:
    """``start()`` on a loopback port; ``messages`` holds parsed EmailMessages."""

    def __init__(self, port: int = 0) -> None:
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port or _free_port())
        self.port = self.controller.port
        self.controller.start()

    @property
    def messages(self):
        return self.handler.messages

    @property
    def raw(self) -> list[bytes]:
        """The bytes of each kept message as received."""
        return self.handler.raw

    def answer(self, reply: str | None) -> None:
        """Answer every following message with ``reply`` (an SMTP reply line); None accepts them again."""
        self.handler.reply = reply

    def wait_for(self, count: int, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        return list(self.messages)

    def stop(self) -> None:
        self.controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
