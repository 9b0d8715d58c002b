"""The SMTP transport shared by the report email (``reporter.report.mail``) and the ``email`` receiver
(``reporter.notify.receivers.email``): one connection per message, security none / STARTTLS / implicit TLS,
optional login, errors as one line without the password, classified as temporary or permanent.

The server comes from the ``REPORTER_SMTP_*`` settings (:meth:`SMTPServer.from_settings`).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from reporter.base.errors import one_line
from reporter.settings import Settings

SMTP_TIMEOUT_SECONDS = 30.0


class SMTPSendError(RuntimeError):
    """A message was not sent. ``str(error)`` is one line (``SMTP host:port: ...``, never the password);
    ``code`` is the server's reply code (None when there was none: connection refused, timeout, TLS);
    ``permanent`` is True for a 5xx reply (sending again will not help), False for 4xx and connection errors."""

    def __init__(self, text: str, code: int | None, permanent: bool) -> None:
        super().__init__(text)
        self.code, self.permanent = code, permanent


@dataclass(frozen=True)
class SMTPServer:
    """Where and how to send: ``security`` is ``none``, ``starttls`` or ``tls`` (implicit TLS, port 465);
    ``username`` None means no login; ``timeout`` bounds each socket operation, ``deadline`` the whole message
    (None: twice ``timeout``), seconds: a server that answers a byte at a time never ends a socket operation."""

    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = SMTP_TIMEOUT_SECONDS
    deadline: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, timeout: float = SMTP_TIMEOUT_SECONDS) -> SMTPServer:
        """The server of ``REPORTER_SMTP_HOST`` / ``_PORT`` / ``_SECURITY`` / ``_USERNAME`` / ``_PASSWORD``.
        Raises ValueError naming ``REPORTER_SMTP_HOST`` when it is not set."""
        if not settings.smtp_host:
            raise ValueError("REPORTER_SMTP_HOST is not set")
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_username,
                   settings.smtp_password, timeout)


class _Deadline:
    """Shuts the connection of ``client`` down when ``seconds`` have passed or ``cancel`` is set, before
    :meth:`done`: the blocked read or write of the sending thread then fails at once."""

    def __init__(self, client: smtplib.SMTP, seconds: float, cancel: threading.Event | None) -> None:
        self.client, self.expired = client, False
        self._done = threading.Event()
        threading.Thread(target=self._watch, args=(seconds, cancel), name="smtp-deadline", daemon=True).start()

    def _watch(self, seconds: float, cancel: threading.Event | None) -> None:
        end = time.monotonic() + seconds
        while not self._done.is_set():
            left = end - time.monotonic()
            if left <= 0 or (cancel is not None and cancel.is_set()):
                self.expired = True
                sock = getattr(self.client, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return
            self._done.wait(left if cancel is None else min(left, 0.2))

    def done(self) -> None:
        self._done.set()


def send_message(server: SMTPServer, message: EmailMessage | bytes, sender: str | None = None,
                 recipients: list[str] | None = None, cancel: threading.Event | None = None) -> None:
    """Send ``message`` (an EmailMessage, or its bytes with ``sender`` and ``recipients`` given) over one SMTP
    connection, within ``server.deadline`` overall (or until ``cancel`` is set: a daemon stopping). Raises
    :class:`SMTPSendError` with the server's answer (never the password); a deadline passed or a cancel is a
    temporary error."""
    context = ssl.create_default_context()
    seconds = server.deadline if server.deadline is not None else 2 * server.timeout
    deadline: _Deadline | None = None
    try:
        client: smtplib.SMTP
        if server.security == "tls":
            client = smtplib.SMTP_SSL(timeout=server.timeout, context=context)  # no host: connected below
        else:
            client = smtplib.SMTP(timeout=server.timeout)
        # made without a host, so that the deadline watches the greeting too; the TLS server name (implicit TLS,
        # STARTTLS) is the host smtplib keeps when given one at construction
        client._host = server.host  # type: ignore[attr-defined]
        deadline = _Deadline(client, seconds, cancel)
        with client:
            client.connect(server.host, server.port)
            if server.security == "starttls":
                client.starttls(context=context)
            if server.username:
                client.login(server.username, server.password or "")
            if isinstance(message, bytes):
                client.sendmail(sender or "", recipients or [], message)
            else:
                client.send_message(message, from_addr=sender, to_addrs=recipients)
    except (OSError, smtplib.SMTPException) as exc:
        if deadline is not None and deadline.expired:
            what = "stopped: the daemon is stopping" if cancel is not None and cancel.is_set() else \
                f"no answer within {seconds:g} s"
            raise SMTPSendError(f"SMTP {server.host}:{server.port}: {what}", None, permanent=False) from None
        text = one_line(exc)
        if server.password:
            text = text.replace(server.password, "***")
        hint = security_hint(server.security, server.port, exc)
        code = reply_code(exc)
        raise SMTPSendError(f"SMTP {server.host}:{server.port}: " + (f"{hint} ({text})" if hint else text), code,
                            permanent=(code is not None and code >= 500)
                            or isinstance(exc, smtplib.SMTPNotSupportedError)) from None
    finally:
        if deadline is not None:
            deadline.done()


def reply_code(exc: BaseException) -> int | None:
    """The SMTP reply code an exception carries (the lowest one when recipients were refused, so that one
    temporary refusal makes the whole send temporary), or None."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values() if isinstance(code, int)]
        return min(codes) if codes else None
    code = getattr(exc, "smtp_code", None)
    return code if isinstance(code, int) and code >= 400 else None


def security_hint(security: str, port: int, exc: BaseException) -> str | None:
    """What to change when ``exc`` says that ``REPORTER_SMTP_SECURITY`` does not fit the server, else None."""
    if security == "starttls" and isinstance(exc, smtplib.SMTPNotSupportedError):
        return ("the server does not support STARTTLS; set REPORTER_SMTP_SECURITY=none for a plain server, "
                "or REPORTER_SMTP_SECURITY=tls for implicit TLS (port 465)")
    if security == "tls" and isinstance(exc, (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionResetError)):
        return ("the server does not speak TLS on connect; set REPORTER_SMTP_SECURITY=starttls (port 587) "
                "or REPORTER_SMTP_SECURITY=none for a plain server")
    if security != "tls" and port == 465 and isinstance(exc, (TimeoutError, smtplib.SMTPServerDisconnected)):
        return "port 465 expects implicit TLS: set REPORTER_SMTP_SECURITY=tls"
    return None
