"""``type = "slack"``: a Slack incoming webhook, Block Kit body (``reporter.notify.slack``).

Fields: ``url`` (the webhook URL). The whole URL is a secret (its path is the key), so are its path and password.
A ``slack.txt.j2`` template replaces the message (``reporter.notify.templates``).

Slack answers ``400 invalid_blocks`` when it rejects the Block Kit body; the same notification is then sent once
more, at once, as plain text (its ``text`` only), and that second answer is the attempt's outcome.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from reporter.notify.notification import Notification
from reporter.notify.receivers.base import Attempt
from reporter.notify.receivers.http import HTTPReceiverType
from reporter.notify.slack import slack_payload, text_payload

if TYPE_CHECKING:
    import httpx

INVALID_BLOCKS = "invalid_blocks"
MIN_SECRET_PATH = 16  # a shorter URL path is not masked on its own (the whole URL always is)


def plain_text(body: bytes) -> bytes | None:
    """The plain-text form of a rendered Slack body (``{"text": ...}`` only), or None when it has no text."""
    try:
        text = json.loads(body).get("text")
    except (ValueError, AttributeError):
        return None
    return json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":")).encode() if text else None


class SlackReceiver(HTTPReceiverType):
    """POSTs the Block Kit payload of a notification as JSON (Slack has its own block limit: ``max_alerts`` is
    not used)."""

    type = "slack"
    secret_fields = ("url",)  # and the path, when long enough to be a token (a short /hook would mask every "hook")

    def secrets(self) -> list[str]:
        path = urlsplit(self.options.url).path.strip("/")  # Slack's services/T.../B.../token is the secret
        return [*super().secrets(), *([path] if len(path) >= MIN_SECRET_PATH else [])]

    async def send(self, client: httpx.AsyncClient, notification_id: str, body: bytes, timeout: float) -> Attempt:
        """POST the Block Kit body; on Slack's ``400 invalid_blocks``, POST the same notification once more as
        plain text (same id) and return that attempt (its error says it was the plain-text retry)."""
        attempt = await super().send(client, notification_id, body, timeout)
        if attempt.status_code != 400 or INVALID_BLOCKS not in (attempt.response or ""):
            return attempt
        text = plain_text(body)
        if text is None:
            return attempt
        retried = await super().send(client, notification_id, text, timeout)
        if retried.error is None:
            return retried
        return dataclasses.replace(retried, error=f"{retried.error} (plain-text retry after {INVALID_BLOCKS})")

    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        """The Block Kit body; with a ``slack.txt.j2`` template that renders, that text as mrkdwn sections."""
        text = self.text("slack.txt.j2", notification)
        payload = slack_payload(notification, tz) if text is None else text_payload(text)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
