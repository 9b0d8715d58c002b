"""The alert data model shared by rules, state, dispatch and receivers.

Terms as in Prometheus/Alertmanager: an alert is one labelled instance of a rule; its state is ``inactive``,
``pending`` (condition true, ``for`` not yet elapsed) or ``firing``; a firing alert whose condition stops
being true is ``resolved``. The fingerprint is a hash of the labels.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

# the batch shape handed to notify lives there (notify never imports alerting); re-exported for alerting
from reporter.notify.notification import SEVERITIES, AlertNotice, Notification

__all__ = ["SEVERITIES", "AlertNotice", "AlertState", "Notification", "fingerprint"]


class AlertState(StrEnum):
    """Lifecycle state of one alert."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


def fingerprint(labels: dict[str, str]) -> str:
    """16 hex characters of SHA-256 over the sorted labels (stable across restarts and processes)."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
