"""The outbox body of a notification for a receiver: whatever its receiver type renders, serialised once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from zoneinfo import ZoneInfo

from reporter.notify.notification import Notification


class Renders(Protocol):
    """A configured receiver (``reporter.alerting.config.Receiver``): renders through its receiver type."""

    def render(self, notification: Notification, tz: ZoneInfo) -> bytes: ...


def renderer(tz: ZoneInfo) -> Callable[[Renders, Notification], bytes]:
    """``render(receiver, notification) -> bytes`` for the configured timezone (times shown to people)."""

    def render(receiver: Renders, notification: Notification) -> bytes:
        return receiver.render(notification, tz)

    return render
