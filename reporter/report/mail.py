"""Email the daily report: HTML as the body, the PDF (and the full lists as CSV) attached.

Sends go through the ``report_emails`` queue: a row is written when the day is rendered, a send is retried with
backoff (1 min doubling to 1 h, jittered: the leased queues' one policy, :mod:`reporter.store.leases`; for up
to 24 h) and recorded as sent, so a restart never emails a day twice.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reporter.collect.runner import one_line
from reporter.failures import FailureLog
from reporter.report.text import summary_of
from reporter.settings import Settings
from reporter.store.history import to_ms
from reporter.store.leases import Backoff, LeasedQueue
from reporter.store.report_schema import report_emails

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 30.0
MAX_AGE_SECONDS = 24 * 3600.0
BACKOFF = Backoff(60.0, 3600.0)  # between attempts of one email: 1 min doubling to 1 h, jittered


class MailError(RuntimeError):
    """The email could not be built or sent; the message says why (no secrets)."""


def report_files(report_dir: Path, day: str) -> dict[str, Path]:
    """The files of one day in ``report_dir``: ``html``, ``pdf`` and any ``<day>.<list>.csv``."""
    files = {"html": report_dir / f"{day}.html", "pdf": report_dir / f"{day}.pdf"}
    for csv in sorted(report_dir.glob(f"{day}.*.csv")):
        files[csv.name] = csv
    return files


def build_message(settings: Settings, day: str, host: str, files: dict[str, Path]) -> EmailMessage:
    """The email of ``day``: plain-text part (the key figures the HTML report carries, else a pointer to it),
    HTML alternative, PDF and CSV attachments."""
    if not files["html"].is_file():
        raise MailError(f"{files['html']} is missing; render the report first")
    message = EmailMessage()
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=f"report-{day}", domain=host or None)
    message["Subject"] = settings.email_subject.replace("{date}", day).replace("{host}", host)
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    has_pdf = files.get("pdf") is not None and files["pdf"].is_file()
    where = (" is attached as PDF (the message also has an HTML version)" if has_pdf
             else " is in the HTML version of this message")
    html = files["html"].read_text(encoding="utf-8")
    figures = summary_of(html)
    message.set_content(f"{figures}\nThe full report{where}.\n" if figures
                        else f"The daily report of {host} for {day}{where}.\n")
    message.add_alternative(html, subtype="html")
    if has_pdf:
        message.add_attachment(files["pdf"].read_bytes(), maintype="application", subtype="pdf",
                               filename=files["pdf"].name)
    for name, path in files.items():
        if name.endswith(".csv"):
            message.add_attachment(path.read_bytes(), maintype="text", subtype="csv", filename=path.name)
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Send over SMTP with the configured security (none, STARTTLS, implicit TLS) and optional auth.

    Raises MailError with the server's answer (never the password).
    """
    if not settings.smtp_host:
        raise MailError("REPORTER_SMTP_HOST is not set")
    if not settings.email_to:
        raise MailError("REPORTER_EMAIL_TO is empty")
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if settings.smtp_security == "tls":
            client = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS,
                                      context=context)
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=context)
            if settings.smtp_username:
                client.login(settings.smtp_username, settings.smtp_password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        text = one_line(exc)
        if settings.smtp_password:
            text = text.replace(settings.smtp_password, "***")
        hint = security_hint(settings.smtp_security, settings.smtp_port, exc)
        raise MailError(f"SMTP {settings.smtp_host}:{settings.smtp_port}: "
                        + (f"{hint} ({text})" if hint else text)) from None


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


class ReportMailer:
    """Delivers queued report emails. An SMTP server that keeps failing is logged when it starts failing, at
    most every 5 minutes while it goes on, and once when an email goes out again (not on every retry).

    ``backoff``: the wait between attempts of one email (the leased queues' one policy, 1 min doubling to 1 h,
    jittered); ``queue``: the ``report_emails`` rows as a :class:`reporter.store.leases.LeasedQueue`.
    """

    def __init__(self, engine: Engine, settings: Settings, host: str, backoff: Backoff = BACKOFF) -> None:
        self.engine, self.settings, self.host, self.backoff = engine, settings, host, backoff
        self.queue = LeasedQueue(engine, report_emails, "day", ("pending",))
        self._now = datetime.now(UTC)
        # on the queue's clock (the ``now`` of deliver_due), as its retries are
        self.failures = FailureLog(log, clock=lambda: self._now.timestamp())

    def deliver_due(self, now: datetime | None = None) -> int:
        """Send every due email (claimed first: another process sending it meanwhile is skipped); returns how many
        were sent."""
        now = self._now = now or datetime.now(UTC)
        sent = 0
        with self.engine.connect() as conn:
            due = conn.execute(select(report_emails).where(self.queue.claimable(now))
                               .order_by(report_emails.c.day)).mappings().all()
        for row in due:
            if self.queue.claim(row["day"], now, SMTP_TIMEOUT_SECONDS * 3) is None:
                continue
            sent += self._attempt(dict(row), now)
        return sent

    def _attempt(self, row: dict, now: datetime) -> int:
        day = row["day"]
        try:
            message = build_message(self.settings, day, self.host, report_files(Path(self.settings.report_dir), day))
            send(self.settings, message)
        except MailError as exc:
            age = (now - datetime.fromtimestamp(row["created_at"] / 1000, UTC)).total_seconds()
            if age > MAX_AGE_SECONDS:
                attempt = self.queue.attempted(day, now, status="failed", values={"last_error": str(exc)})
                log.error("report %s: email given up after %d attempts over 24 h: %s", day, attempt.attempts, exc)
            else:
                attempt = self.queue.attempted(day, now, retry=self.backoff, values={"last_error": str(exc)})
                self.failures.failed("report email", f"report {day}: not sent ({exc}); retry in "
                                     f"{attempt.delay:.0f} s", hint="queued emails are retried for 24 h")
            return 0
        self.queue.attempted(day, now, status="sent", values={"sent_at": to_ms(now), "last_error": None})
        self.failures.ok("report email")
        log.info("report %s: emailed to %s", day, ", ".join(self.settings.email_to))
        return 1
