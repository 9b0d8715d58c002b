"""One delivery attempt over HTTP, bounded by an overall deadline (connect + send + response)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from reporter.alerting.config import Receiver
from reporter.collect.runner import one_line
from reporter.notify.retry import FAILED, RETRY, classify, retry_after_seconds
from reporter.notify.webhook import signed_headers

RESPONSE_KEPT = 2000  # characters of a failed response kept for inspection


@dataclass(frozen=True)
class Attempt:
    """What one attempt gave: ``outcome`` (delivered/retry/failed), the HTTP status (None when no answer),
    an error line without secrets, the start of the response body, ``Retry-After`` seconds, duration in ms."""

    outcome: str
    status_code: int | None
    error: str | None
    response: str | None
    retry_after: float | None
    duration_ms: float


def masked_url(url: str) -> str:
    """A receiver URL for logs: scheme and host only (Slack webhook paths are secrets)."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}/***"


async def send(client: httpx.AsyncClient, receiver: Receiver, notification_id: str, body: bytes) -> Attempt:
    """POST ``body`` to the receiver within ``receiver.timeout`` seconds overall, whatever the peer does
    (a peer that drips one byte at a time is cut off at the deadline).

    The receiver's timeout is the only limit: the request overrides whatever timeout ``client`` was made with
    (httpx's default would cut every answer slower than 5 s), so the caller's client needs none."""
    headers = signed_headers(receiver.secret, notification_id, body) if receiver.type == "webhook" else \
        {"content-type": "application/json"}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(receiver.timeout):
            # httpx's own limits a little beyond the deadline, so that the deadline is what ends a slow attempt
            response = await client.post(receiver.url, content=body, headers=headers,
                                         timeout=httpx.Timeout(receiver.timeout + 1.0))
    except TimeoutError:
        return Attempt(RETRY, None, f"no answer within {receiver.timeout:g} s", None, None, _ms(started))
    except httpx.HTTPError as exc:
        return Attempt(RETRY, None, one_line(exc).replace(receiver.url, masked_url(receiver.url)), None, None,
                       _ms(started))
    outcome = classify(response.status_code)
    text = None if outcome == "delivered" else response.text[:RESPONSE_KEPT]
    error = None if outcome == "delivered" else f"HTTP {response.status_code}" + (
        " (permanent: not retried)" if outcome == FAILED else "")
    return Attempt(outcome, response.status_code, error, text, retry_after_seconds(response.headers.get("retry-after")),
                   _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)
