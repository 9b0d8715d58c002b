"""The alert data model shared by rules, state, dispatch and receivers.

Terms as in Prometheus/Alertmanager: an alert is one labelled instance of a rule; its state is ``inactive``,
``pending`` (condition true, ``for`` not yet elapsed) or ``firing``; a firing alert whose condition stops
being true is ``resolved``. The fingerprint is a hash of the labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertState(StrEnum):
    """Lifecycle state of one alert."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


SEVERITIES = ("critical", "warning", "info")


def fingerprint(labels: dict[str, str]) -> str:
    """16 hex characters of SHA-256 over the sorted labels (stable across restarts and processes)."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertNotice:
    """One alert as it goes out in a notification.

    ``status`` is ``firing`` or ``resolved``; ``starts_at`` is when the condition became true (the start of
    pending, as Prometheus' ``activeAt``); ``ends_at`` is when it resolved (None while firing). Datetimes are
    timezone-aware UTC. ``labels`` always hold ``alertname`` and ``severity``; ``annotations`` hold ``summary``
    and ``description`` (times in them are in the configured timezone, for people).
    """

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    generator_url: str = ""


@dataclass(frozen=True)
class Notification:
    """A batch of alerts for one receiver, delivered as one HTTP request.

    ``id`` is stable across retries (the Standard Webhooks ``webhook-id``); ``status`` is ``firing`` when any
    alert in it fires, else ``resolved``; ``truncated`` counts alerts left out to respect a size limit.
    """

    id: str
    receiver: str
    alerts: list[AlertNotice]
    created_at: datetime
    group_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    truncated: int = 0

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"
