"""The retry policy of deliveries, in one place.

2xx delivered; 429 retried no sooner than ``Retry-After`` (capped at the receiver's ``backoff_max``); 408, 5xx,
timeouts and connection errors retried with exponential backoff and jitter (the leased queues' one policy,
:class:`reporter.store.leases.Backoff`, capped per receiver); any other status is a permanent
failure (kept with the response). Retries go on until the notification is ``max_age`` seconds old.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"


def classify(status_code: int) -> str:
    """The outcome of an HTTP answer: delivered, retry or failed (permanent)."""
    if 200 <= status_code < 300:
        return DELIVERED
    if status_code in (408, 425, 429) or status_code >= 500:
        return RETRY
    return FAILED


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
