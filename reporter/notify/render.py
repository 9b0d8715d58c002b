"""Payload bytes for a receiver: Slack Block Kit or the Alertmanager webhook payload, serialised once."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from reporter.alerting.config import Receiver
from reporter.alerting.model import Notification
from reporter.notify.slack import slack_payload
from reporter.notify.webhook import alertmanager_payload, encode_body


def renderer(tz: ZoneInfo):
    """``render(receiver, notification) -> bytes`` for the configured timezone (used in Slack text)."""

    def render(receiver: Receiver, notification: Notification) -> bytes:
        if receiver.type == "slack":
            return json.dumps(slack_payload(notification, tz), ensure_ascii=False, separators=(",", ":")).encode()
        return encode_body(alertmanager_payload(notification, receiver.max_alerts))

    return render
