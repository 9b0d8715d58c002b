"""Email a report: HTML as the body, its charts as PNG images attached inline (``cid:``, the render child's email
variant, :mod:`reporter.report.email_body`), the key figures as the plain-text part, the PDF (and the full lists
as CSV) attached. Every line of the message stays within SMTP's 998 octets: the HTML goes quoted-printable.

Sends go through the ``report_emails`` queue: a row is written when the day is rendered, a send is retried with
backoff (1 min doubling to 1 h, jittered: the leased queues' one policy, :mod:`reporter.store.leases`; for up
to 24 h) and recorded as sent, so a restart never emails a day twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reporter.base.ms import from_ms, to_ms
from reporter.failures import FailureLog
from reporter.report.email_body import read_email_variant
from reporter.report.files import report_files
from reporter.report.text import summary_of
from reporter.settings import Settings
from reporter.smtp import SMTP_TIMEOUT_SECONDS, SMTPSendError, SMTPServer, send_message
from reporter.store.leases import Backoff, FenceCheck, LeasedQueue
from reporter.store.report_schema import report_emails

log = logging.getLogger(__name__)
MAX_AGE_SECONDS = 24 * 3600.0
BACKOFF = Backoff(60.0, 3600.0)  # between attempts of one email: 1 min doubling to 1 h, jittered
# the slowest upload a report email is given time for: its deadline grows with its size (PDF and CSV attached)
MIN_UPLOAD_BYTES_PER_SECOND = 32 * 1024


def send_deadline(size: int) -> float:
    """Seconds one report email of ``size`` bytes may take over SMTP as a whole: twice the per-operation timeout
    plus its upload at :data:`MIN_UPLOAD_BYTES_PER_SECOND` (a 5 MB email: 220 s), so a slow link still delivers
    it while a server answering a byte at a time cannot hold the sender for ever."""
    return 2 * SMTP_TIMEOUT_SECONDS + size / MIN_UPLOAD_BYTES_PER_SECOND


class MailError(RuntimeError):
    """The email could not be built or sent; the message says why (no secrets)."""


def build_message(settings: Settings, day: str, host: str, files: dict[str, Path]) -> EmailMessage:
    """The email of the period named ``day`` (a key: ``2026-12-03``, ``2026-W48``, ``2026-11``): plain-text
    part (the key figures the HTML report carries, else a pointer to it), HTML alternative, PDF and CSV
    attachments. The subject is ``REPORTER_EMAIL_SUBJECT`` with ``{title}``, ``{date}`` and ``{host}`` filled in.

    The HTML alternative is the report's email variant next to ``files["html"]`` when there is one
    (``multipart/related``: the HTML and each chart as an inline ``image/png`` part named by its Content-ID,
    fresh for each message), else the HTML file itself (a report rendered before the email variant existed).
    Raises MailError when the HTML file is missing."""
    from reporter.report.period import Period

    try:
        title = Period.parse(day, settings.tz).title
    except ValueError:
        title = "Report"
    if not files["html"].is_file():
        raise MailError(f"{files['html']} is missing; render the report first")
    message = EmailMessage()
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=f"report-{day}", domain=host or None)
    message["Subject"] = (settings.email_subject.replace("{title}", title).replace("{date}", day)
                          .replace("{host}", host))
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    has_pdf = files.get("pdf") is not None and files["pdf"].is_file()
    where = (" is attached as PDF (the message also has an HTML version)" if has_pdf
             else " is in the HTML version of this message")
    html = files["html"].read_text(encoding="utf-8")
    figures = summary_of(html)
    message.set_content(f"{figures}\nThe full report{where}.\n" if figures
                        else f"The {title.lower()} of {host} for {day}{where}.\n")
    variant = read_email_variant(files["html"], day)
    if variant is None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    else:
        cids = {name: make_msgid(idstring=f"chart{n}", domain="report.invalid")[1:-1]
                for n, (name, _) in enumerate(variant.images, 1)}
        body = variant.html
        for name, cid in cids.items():
            body = body.replace(f'src="cid:{name}"', f'src="cid:{cid}"')
        message.add_alternative(body, subtype="html", cte="quoted-printable")
        part = message.get_body(("html",))
        assert part is not None  # just added
        for name, png in variant.images:
            part.add_related(png, maintype="image", subtype="png", cid=f"<{cids[name]}>", filename=name,
                             disposition="inline")
    if has_pdf:
        message.add_attachment(files["pdf"].read_bytes(), maintype="application", subtype="pdf",
                               filename=files["pdf"].name)
    for name, path in files.items():
        if name.endswith(".csv"):
            message.add_attachment(path.read_bytes(), maintype="text", subtype="csv", filename=path.name)
    return message


def send(settings: Settings, message: EmailMessage, cancel: threading.Event | None = None) -> None:
    """Send over SMTP with the configured security (none, STARTTLS, implicit TLS) and optional auth
    (:func:`reporter.smtp.send_message`).

    Raises MailError with the server's answer (never the password); ``cancel`` set ends a send in progress
    (a daemon stopping).
    """
    if not settings.smtp_host:
        raise MailError("REPORTER_SMTP_HOST is not set")
    if not settings.email_to:
        raise MailError("REPORTER_EMAIL_TO is empty")
    try:
        server = replace(SMTPServer.from_settings(settings, SMTP_TIMEOUT_SECONDS),
                         deadline=send_deadline(len(message.as_bytes())))
        send_message(server, message, cancel=cancel)
    except SMTPSendError as exc:
        raise MailError(str(exc)) from None


class ReportMailer:
    """Delivers queued report emails. An SMTP server that keeps failing is logged when it starts failing, at
    most every 5 minutes while it goes on, and once when an email goes out again (not on every retry).

    ``backoff``: the wait between attempts of one email (the leased queues' one policy, 1 min doubling to 1 h,
    jittered); ``queue``: the ``report_emails`` rows as a :class:`reporter.store.leases.LeasedQueue`.
    """

    def __init__(self, engine: Engine, settings: Settings, host: str, backoff: Backoff = BACKOFF) -> None:
        self.engine, self.settings, self.host, self.backoff = engine, settings, host, backoff
        self.queue = LeasedQueue(engine, report_emails, "day", ("pending",))
        self.fence: FenceCheck | None = None  # the leader's (set by the daemon at election); None: unfenced
        self._now = datetime.now(UTC)
        self.stopping = threading.Event()  # set at daemon shutdown: no more sends, the one in progress ends
        # on the queue's clock (the ``now`` of deliver_due), as its retries are
        self.failures = FailureLog(log, clock=lambda: self._now.timestamp())

    def deliver_due(self, now: datetime | None = None) -> int:
        """Send every due email (claimed first: another process sending it meanwhile is skipped) until
        :attr:`stopping` is set (the daemon's shutdown; it also ends a send in progress); returns how many were
        sent. Raises
        :class:`reporter.store.fence.Fenced` when this node is no longer the leader."""
        now = self._now = now or datetime.now(UTC)
        sent = 0
        with self.engine.connect() as conn:
            due = conn.execute(select(report_emails).where(self.queue.claimable(now))
                               .order_by(report_emails.c.day)).mappings().all()
        for row in due:
            if self.stopping.is_set():
                break
            if self.queue.claim(row["day"], now, SMTP_TIMEOUT_SECONDS * 3, fence=self.fence) is None:
                continue
            sent += self._attempt(dict(row), now)
        return sent

    def _attempt(self, row: dict, now: datetime) -> int:
        day = row["day"]
        try:
            message = build_message(self.settings, day, self.host, report_files(Path(self.settings.report_dir), day))
            send(self.settings, message, self.stopping)
        except MailError as exc:
            if self.stopping.is_set():  # cut short by the shutdown: no attempt counted, sent at the next start
                self.queue.release(day)
                return 0
            age = (now - from_ms(row["created_at"])).total_seconds()
            if age > MAX_AGE_SECONDS:
                attempt = self.queue.attempted(day, now, status="failed", values={"last_error": str(exc)},
                                               fence=self.fence)
                log.error("report %s: email given up after %d attempts over 24 h: %s", day, attempt.attempts, exc)
            else:
                attempt = self.queue.attempted(day, now, retry=self.backoff, values={"last_error": str(exc)},
                                               fence=self.fence)
                self.failures.failed("report email", f"report {day}: not sent ({exc}); retry in "
                                     f"{attempt.delay:.0f} s", hint="queued emails are retried for 24 h")
            return 0
        self.queue.attempted(day, now, status="sent", values={"sent_at": to_ms(now), "last_error": None},
                             fence=self.fence)
        self.failures.ok("report email")
        log.info("report %s: emailed to %s", day, ", ".join(self.settings.email_to))
        return 1
