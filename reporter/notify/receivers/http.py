"""Receiver types that POST a body over HTTP (Slack, webhook): the attempt, bounded by an overall deadline, and
the classification of the answer.

2xx delivered; 429 retried no sooner than ``Retry-After`` (capped by the outbox at the receiver's
``backoff_max``); 408, 425, 5xx, timeouts and connection errors retried with backoff; any other status is a
permanent failure (kept with the response). 401, 403, 404 and 410 say the URL or its token is invalid or revoked
(Slack: ``403 invalid_token``, ``404 no_service``, ``410 channel_is_archived``): one such answer makes the receiver
failing (:mod:`reporter.notify.health`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from pydantic import field_validator

from reporter.base.errors import one_line
from reporter.base.ms import elapsed_ms
from reporter.base.urls import http_url
from reporter.masking import masked_url, userinfo_problem
from reporter.notify.receivers.base import (
    DELIVERED,
    FAILED,
    RETRY,
    Attempt,
    ReceiverOptions,
    ReceiverType,
)

if TYPE_CHECKING:
    import httpx

RESPONSE_KEPT = 2000  # characters of a failed response kept for inspection


class HTTPOptions(ReceiverOptions):
    """``url``: where to POST (``http://`` or ``https://``; a user name or password in it must be
    percent-encoded)."""

    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = userinfo_problem(value)
        if problem:
            raise ValueError(problem)
        return http_url(value)


class HTTPReceiverType(ReceiverType):
    """A receiver type that POSTs its rendered body to ``options.url``; subclasses give :meth:`headers`."""

    Options = HTTPOptions
    options: HTTPOptions
    revoked_statuses = frozenset({401, 403, 404, 410})

    def headers(self, notification_id: str, body: bytes) -> dict[str, str]:
        """The headers of one attempt (computed per attempt: a signature carries the attempt's time)."""
        return {"content-type": "application/json"}

    async def send(self, client: httpx.AsyncClient, notification_id: str, body: bytes, timeout: float) -> Attempt:
        """POST ``body`` within ``timeout`` seconds overall, whatever the peer does (a peer that drips one byte
        at a time is cut off at the deadline). The timeout is the only limit: the request overrides whatever
        timeout ``client`` was made with (httpx's default would cut every answer slower than 5 s)."""
        import httpx

        url = self.options.url
        headers = self.headers(notification_id, body)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                # httpx's own limits a little beyond the deadline, so that the deadline is what ends a slow attempt
                response = await client.post(url, content=body, headers=headers,
                                             timeout=httpx.Timeout(timeout + 1.0))
        except TimeoutError:
            return Attempt(RETRY, None, f"no answer within {timeout:g} s", None, None, elapsed_ms(started))
        except httpx.HTTPError as exc:
            return Attempt(RETRY, None, one_line(exc).replace(url, masked_url(url)), None, None, elapsed_ms(started))
        outcome = classify(response.status_code)
        text = None if outcome == DELIVERED else response.text[:RESPONSE_KEPT]
        error = None if outcome == DELIVERED else f"HTTP {response.status_code}" + (
            " (permanent: not retried)" if outcome == FAILED else "")
        return Attempt(outcome, response.status_code, error, text,
                       retry_after_seconds(response.headers.get("retry-after")), elapsed_ms(started))


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
