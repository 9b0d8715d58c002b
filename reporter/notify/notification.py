"""The notification: a batch of alerts for one receiver, the shape ``alerting`` hands to ``notify``.

``alerting`` decides what goes in a notification and when (``reporter.alerting.dispatch``); the receiver types of
``reporter.notify.receivers`` turn it into a request. Defined here, below both, so that ``notify`` never imports
``alerting``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SEVERITIES = ("critical", "warning", "info")  # most severe first (the ``severity`` label's values)


@dataclass(frozen=True)
class AlertNotice:
    """One alert as it goes out in a notification.

    ``status`` is ``firing`` or ``resolved``; ``starts_at`` is when the condition became true (the start of
    pending, as Prometheus' ``activeAt``); ``ends_at`` is when it resolved (None while firing). Datetimes are
    timezone-aware UTC. ``labels`` always hold ``alertname`` and ``severity``; ``annotations`` hold ``summary``
    and ``description`` (times in them are in the configured timezone, for people). ``acknowledged_by`` (a name,
    "" when not acknowledged), ``acknowledged_at`` (UTC) and ``ack_comment``: who acknowledged the alert's
    current episode, when, and what they said (``reporter ack``, ``POST /api/v1/alerts/{fingerprint}/ack``).
    """

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    generator_url: str = ""
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    ack_comment: str = ""


@dataclass(frozen=True)
class Notification:
    """A batch of alerts for one receiver, delivered as one request (an HTTP POST, an email).

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
