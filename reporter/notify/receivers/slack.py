"""``type = "slack"``: a Slack incoming webhook, Block Kit body (``reporter.notify.slack``).

Fields: ``url`` (the webhook URL). The whole URL is a secret (its path is the key), so are its path and password.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from reporter.notify.notification import Notification
from reporter.notify.receivers.http import HTTPReceiverType
from reporter.notify.slack import slack_payload


class SlackReceiver(HTTPReceiverType):
    """POSTs the Block Kit payload of a notification as JSON (Slack has its own block limit: ``max_alerts`` is
    not used)."""

    type = "slack"
    secret_fields = ("url",)

    def secrets(self) -> list[str]:
        path = urlsplit(self.options.url).path.strip("/")
        return [*super().secrets(), *([path] if path else [])]

    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        return json.dumps(slack_payload(notification, tz), ensure_ascii=False, separators=(",", ":")).encode()
