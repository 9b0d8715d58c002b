"""``type = "apprise"``: alert notifications through Apprise (https://github.com/caronc/apprise): Teams, Discord,
Telegram, ntfy, Pushover, ``json://``, ``form://`` and the other services Apprise knows.

Fields: ``urls`` (one or more Apprise URLs; each is a secret, masked whole wherever the receiver is shown).
Each URL is checked when the configuration is loaded (an unknown scheme or a malformed URL: the daemon refuses to
start, exit 2, without showing the URL). ``apprise`` is imported only when a receiver of this type is configured.

The message: title ``[FIRING:2] cpu_high, disk_high`` (``[RESOLVED:1] ...``), a plain-text body (Apprise's
TEXT format: each service escapes it for its own markup) listing each alert's status, name, host, severity,
summary (or the ``apprise_title.txt.j2`` and ``apprise_body.txt.j2`` templates, ``reporter.notify.templates``).
An attempt where Apprise reports a failure for any URL is retried with backoff (Apprise gives False,
not the reason; the error says how many URLs failed).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from reporter.base.ms import elapsed_ms
from reporter.base.timefmt import format_local
from reporter.notify.notification import Notification
from reporter.notify.receivers.base import DELIVERED, RETRY, Attempt, ReceiverOptions, ReceiverType
from reporter.notify.receivers.email import subject


def _plugin(url: str) -> Any:
    """The Apprise plugin for ``url``, or None when Apprise does not accept it (lazy import)."""
    import apprise  # heavy: loaded only for apprise receivers

    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


class AppriseOptions(ReceiverOptions):
    """``urls``: the Apprise URLs (at least one); a string is one URL."""

    urls: list[str] = Field(min_length=1)

    @field_validator("urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            for i, url in enumerate(value):
                scheme = url.partition("://")[0] if isinstance(url, str) and "://" in url else None
                if scheme is None or _plugin(url) is None:
                    shown = f" (scheme {scheme!r})" if scheme and scheme.isalnum() else ""
                    raise ValueError(f"urls[{i}] is not a valid Apprise URL{shown}")
        return value


class AppriseReceiver(ReceiverType):
    """Sends each notification (title and text body) to every URL of ``urls`` through Apprise."""

    type = "apprise"
    Options = AppriseOptions
    options: AppriseOptions
    secret_fields = ("urls",)

    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        """JSON ``{"title": str, "body": str}`` (plain text, firing alerts first), or the text of the
        ``apprise_title.txt.j2`` and ``apprise_body.txt.j2`` templates."""
        alerts = sorted(notification.alerts, key=lambda a: a.status != "firing")
        if max_alerts > 0:
            alerts = alerts[:max_alerts]
        lines = []
        for alert in alerts:
            host = f" on {alert.labels['host']}" if alert.labels.get("host") else ""
            lines.append(f"{alert.status.upper()} {alert.labels.get('alertname', '?')}{host}"
                         f" ({alert.labels.get('severity', 'unknown')})")
            if alert.annotations.get("summary"):
                lines.append(f"  {alert.annotations['summary']}")
            if alert.acknowledged_by:
                at = f" at {format_local(alert.acknowledged_at, tz)}" if alert.acknowledged_at is not None else ""
                lines.append(f"  acknowledged by {alert.acknowledged_by}{at}")
        left_out = len(notification.alerts) - len(alerts) + notification.truncated
        if left_out:
            lines.append(f"and {left_out} more alert(s)")
        if notification.external_url:
            lines.append(f"Sent by reporter at {notification.external_url}")
        title = self.text("apprise_title.txt.j2", notification)
        body = self.text("apprise_body.txt.j2", notification)
        return json.dumps({"title": " ".join((title or subject(notification)).split()),
                           "body": "\n".join(lines) if body is None else body.strip("\n")}).encode()

    async def send(self, client: Any, notification_id: str, body: bytes, timeout: float) -> Attempt:
        """Notify every URL within ``timeout`` seconds (in a thread); a False from Apprise or a timeout is
        retried. ``client`` is not used."""
        started = time.perf_counter()
        message = json.loads(body)
        try:
            async with asyncio.timeout(timeout):
                failed = await asyncio.to_thread(self._notify, message["title"], message["body"], timeout)
        except TimeoutError:
            return Attempt(RETRY, None, f"no answer within {timeout:g} s", None, None, elapsed_ms(started))
        if failed:
            return Attempt(RETRY, None, f"Apprise could not deliver to {failed} of {len(self.options.urls)} "
                           "URL(s)", None, None, elapsed_ms(started))
        return Attempt(DELIVERED, None, None, None, None, elapsed_ms(started))

    def _notify(self, title: str, body: str, timeout: float) -> int:
        """The number of URLs Apprise failed to notify (a blocking call)."""
        import apprise

        failed = 0
        for url in self.options.urls:
            plugin = _plugin(url)
            if plugin is None:
                failed += 1
                continue
            plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout
            if not plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT):
                failed += 1
        return failed
