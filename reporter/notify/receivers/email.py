"""``type = "email"``: alert notifications by SMTP, through the server of the ``REPORTER_SMTP_*`` settings (the
report's, :mod:`reporter.smtp`), from ``REPORTER_EMAIL_FROM``.

Fields: ``to`` (one or more addresses). No field is a secret (the SMTP password is a setting, masked as such).

The message: subject ``[FIRING:2] cpu_high, disk_high`` (``[RESOLVED:1] ...`` when every alert resolved); a
plain-text part and an HTML part (every value escaped) listing, firing first, each alert's name, severity,
summary, description, labels, other annotations, start (and end) time in the configured timezone, its link;
then the reporter's external URL. ``Message-ID`` is made from the notification id, the same on every retry.
The ``email_subject.txt.j2``, ``email_body.txt.j2`` and ``email_body.html.j2`` templates
(``reporter.notify.templates``) replace the subject (made one line) and the parts; a text template alone makes a
plain-text email (no built-in HTML part beside a text of one's own).

Answers: accepted → delivered; a 4xx reply, a refused or dropped connection, a timeout → retried with backoff;
a 5xx reply (or a server without STARTTLS when it is required) → permanent failure, with the server's answer.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from reporter.base.ms import elapsed_ms
from reporter.base.timefmt import format_local
from reporter.notify.notification import Notification
from reporter.notify.receivers.base import (
    DELIVERED,
    FAILED,
    RETRY,
    Attempt,
    ReceiverOptions,
    ReceiverType,
)
from reporter.settings import Settings

if TYPE_CHECKING:
    from reporter.notify.templates import TemplateSet
from reporter.smtp import SMTPSendError, SMTPServer, send_message

_ADDRESS = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")


class EmailOptions(ReceiverOptions):
    """``to``: the recipients' addresses (at least one)."""

    to: list[str] = Field(min_length=1)

    @field_validator("to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):  # to = "oncall@example.com" is one address
            value = [value]
        if isinstance(value, list):
            for address in value:
                if not isinstance(address, str) or not _ADDRESS.match(address):
                    raise ValueError(f"{address!r} is not an email address")
        return value


class EmailReceiver(ReceiverType):
    """Sends each notification as one email to ``to``. Raises ValueError at configuration when
    ``REPORTER_SMTP_HOST`` is not set (the daemon then refuses to start, exit 2)."""

    type = "email"
    Options = EmailOptions
    options: EmailOptions

    def __init__(self, options: EmailOptions, settings: Settings | None = None,
                 templates: TemplateSet | None = None) -> None:
        super().__init__(options, settings, templates)
        self.server: SMTPServer | None = None
        self.sender = "reporter@localhost"
        if settings is not None:
            try:
                self.server = SMTPServer.from_settings(settings)
            except ValueError:
                raise ValueError("REPORTER_SMTP_HOST is not set; an email receiver sends through the SMTP "
                                 "server of the REPORTER_SMTP_* settings") from None
            self.sender = settings.email_from

    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        alerts = sorted(notification.alerts, key=lambda a: a.status != "firing")
        if max_alerts > 0:
            alerts = alerts[:max_alerts]
        left_out = len(notification.alerts) - len(alerts) + notification.truncated
        message = EmailMessage()
        custom_subject = self.text("email_subject.txt.j2", notification)
        message["Subject"] = " ".join((custom_subject or subject(notification)).split())
        message["From"] = self.sender
        message["To"] = ", ".join(self.options.to)
        message["Date"] = format_datetime(notification.created_at)
        message["Message-ID"] = f"<{notification.id}@reporter>"
        text = self.text("email_body.txt.j2", notification)
        page = self.text("email_body.html.j2", notification)
        message.set_content(text or _text(notification, alerts, left_out, tz))
        if page is not None or text is None:  # a plain-text template of its own alone: no built-in HTML part
            message.add_alternative(page or _html(notification, alerts, left_out, tz), subtype="html")
        return message.as_bytes(policy=SMTP)  # CRLF line ends: the bytes go to the server as they are

    async def send(self, client: Any, notification_id: str, body: bytes, timeout: float) -> Attempt:
        """Send ``body`` (the message rendered above) to ``to`` within ``timeout`` seconds (each SMTP operation
        too); ``client`` is not used."""
        started = time.perf_counter()
        if self.server is None:
            return Attempt(FAILED, None, "REPORTER_SMTP_HOST is not set (permanent: not retried)", None, None,
                           elapsed_ms(started))
        server = replace(self.server, timeout=timeout, deadline=timeout)  # the thread ends with the attempt
        try:
            async with asyncio.timeout(timeout):
                await asyncio.to_thread(send_message, server, body, self.sender, list(self.options.to))
        except TimeoutError:
            return Attempt(RETRY, None, f"no answer within {timeout:g} s", None, None, elapsed_ms(started))
        except SMTPSendError as exc:
            if exc.permanent:
                return Attempt(FAILED, exc.code, f"{exc} (permanent: not retried)", str(exc), None,
                               elapsed_ms(started))
            return Attempt(RETRY, exc.code, str(exc), str(exc), None, elapsed_ms(started))
        return Attempt(DELIVERED, 250, None, None, None, elapsed_ms(started))


def subject(notification: Notification) -> str:
    """``[FIRING:2] cpu_high, disk_high``: the status, the number of alerts, the alert names (sorted, once)."""
    names = sorted({a.labels.get("alertname", "?") for a in notification.alerts})
    return f"[{notification.status.upper()}:{len(notification.alerts)}] {', '.join(names)}"


def _when(alert_time, tz: ZoneInfo) -> str:
    return format_local(alert_time, tz)


def _rows(alert, tz: ZoneInfo) -> list[tuple[str, str]]:
    """(name, value) lines of one alert, the same in the text and the HTML part."""
    rows = [(key, alert.annotations[key]) for key in ("summary", "description") if alert.annotations.get(key)]
    rows.append(("labels", ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))))
    others = {k: v for k, v in sorted(alert.annotations.items()) if k not in ("summary", "description")}
    if others:
        rows.append(("annotations", ", ".join(f"{k}={v}" for k, v in others.items())))
    rows.append(("started", _when(alert.starts_at, tz)))
    if alert.status == "resolved" and alert.ends_at is not None:
        rows.append(("ended", _when(alert.ends_at, tz)))
    if alert.acknowledged_by:
        at = f" at {_when(alert.acknowledged_at, tz)}" if alert.acknowledged_at is not None else ""
        rows.append(("acknowledged", f"by {alert.acknowledged_by}{at}"
                                     + (f": {alert.ack_comment}" if alert.ack_comment else "")))
    if alert.generator_url:
        rows.append(("link", alert.generator_url))
    return rows


def _title(alert) -> str:
    on = f" on {alert.labels['host']}" if alert.labels.get("host") else ""
    return (f"{alert.status.upper()} {alert.labels.get('alertname', '?')}{on}"
            f" ({alert.labels.get('severity', 'unknown')})")


def _text(notification: Notification, alerts: list, left_out: int, tz: ZoneInfo) -> str:
    lines = [subject(notification), ""]
    for alert in alerts:
        lines.append(_title(alert))
        lines += [f"  {name}: {value}" for name, value in _rows(alert, tz)]
        lines.append("")
    if left_out:
        lines += [f"and {left_out} more alert(s)", ""]
    if notification.external_url:
        lines.append(f"Sent by reporter at {notification.external_url}")
    return "\n".join(lines) + "\n"


def _html(notification: Notification, alerts: list, left_out: int, tz: ZoneInfo) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><body><h2>{e(subject(notification))}</h2>"]
    for alert in alerts:
        color = "#d32f2f" if alert.status == "firing" else "#2e7d32"
        parts.append(f'<h3 style="color:{color}">{e(_title(alert))}</h3><table>')
        for name, value in _rows(alert, tz):
            cell = f'<a href="{e(value)}">{e(value)}</a>' if name == "link" else e(value)
            parts.append(f"<tr><th align=\"left\">{e(name)}</th><td>{cell}</td></tr>")
        parts.append("</table>")
    if left_out:
        parts.append(f"<p>and {left_out} more alert(s)</p>")
    if notification.external_url:
        url = e(notification.external_url)
        parts.append(f'<p>Sent by reporter at <a href="{url}">{url}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
