"""Record one AI request in the application's Redis counters (the keys in README.md, "AI usage counters"),
for the application.

One call writes every counter of the request in a single MULTI/EXEC transaction, so a reader (the reporter's
sampler) never sees the totals and the per-feature counters disagree::

    from reporter.ai_usage import record, record_async

    record("grammar", 2.31, success=True, cache_hit=False, client=redis_client)             # redis.Redis
    await record_async("quiz", 1.2, success=False, client=async_redis_client, prefix="ai:")  # redis.asyncio

Counters written (prefix ``ai:`` by default): ``total_requests`` +1, ``total_time`` +seconds,
``{feature}:requests`` +1, ``{feature}:time`` +seconds, ``{feature}:success`` +1 when ``success``,
``cache_hits`` +1 when ``cache_hit``. Without a ``client`` a connection to ``REPORTER_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``) is used. This module imports only redis-py, so the application can use it
without the daemon's dependencies being loaded; redis-py loads at the first write (the daemon imports this
module for its checks and must not load redis-py where nothing is counted).
"""

from __future__ import annotations

import math
import os
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

MAX_RESPONSE_TIME_SECONDS = 3600.0  # an AI request taking longer than an hour is a bug in the caller
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

_default_client: redis.Redis | None = None  # created on first use of record() without a client
_default_lock = threading.Lock()


def check_feature(feature: object, features: list[str] | tuple[str, ...] | None = None) -> str:
    """``feature`` if it is a valid (and, given ``features``, a known) feature name; ValueError otherwise."""
    if not isinstance(feature, str) or not FEATURE_NAME.match(feature) or feature == "total":
        raise ValueError(f"feature must be a feature name such as 'grammar' (got {feature!r:.60})")
    if features is not None and feature not in features:
        raise ValueError(f"unknown feature {feature!r}; known: {', '.join(features)}")
    return feature


def check_seconds(value: object) -> float:
    """``value`` as float seconds if it is a finite number from 0 to 3600; TypeError/ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"response_time_seconds must be a number of seconds (got {value!r:.60})")
    seconds = float(value) if not isinstance(value, int) or abs(value) < 2**53 else math.inf
    if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_RESPONSE_TIME_SECONDS):
        raise ValueError(f"response_time_seconds must be a finite number from 0 to {MAX_RESPONSE_TIME_SECONDS:g} "
                         f"(got {value!r:.60})")
    return seconds


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is a real boolean; TypeError otherwise (1, "true" and null are refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false (got {value!r:.60})")
    return value


def check(feature: object, response_time_seconds: object, success: object, cache_hit: object = False,
          features: list[str] | tuple[str, ...] | None = None) -> tuple[str, float, bool, bool]:
    """Validate one request's values; returns them normalised or raises ValueError/TypeError saying which
    value is wrong and what is expected. ``features``: the known feature names (None = any valid name)."""
    return (check_feature(feature, features), check_seconds(response_time_seconds),
            check_flag("success", success), check_flag("cache_hit", cache_hit))


def queue(pipe, prefix: str, feature: str, seconds: float, success: bool, cache_hit: bool) -> None:
    """Queue the counter updates of one request on a (sync or asyncio) redis-py pipeline."""
    pipe.incr(prefix + "total_requests")
    pipe.incrbyfloat(prefix + "total_time", seconds)
    pipe.incr(f"{prefix}{feature}:requests")
    pipe.incrbyfloat(f"{prefix}{feature}:time", seconds)
    if success:
        pipe.incr(f"{prefix}{feature}:success")
    if cache_hit:
        pipe.incr(prefix + "cache_hits")


def client_options(asyncio: bool = False, timeout: float = 5.0) -> dict:
    """redis-py client options for counting: timeouts and no automatic retry (a MULTI/EXEC retried after a
    lost reply could count the request twice: fail instead, and let the caller decide)."""
    from redis.backoff import NoBackoff

    retry: object
    if asyncio:
        from redis.asyncio.retry import Retry as AsyncRetry

        retry = AsyncRetry(NoBackoff(), 0)
    else:
        from redis.retry import Retry

        retry = Retry(NoBackoff(), 0)
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": retry, "retry_on_timeout": False}


def _client() -> redis.Redis:
    import redis

    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = redis.Redis.from_url(os.environ.get("REPORTER_REDIS_URL", DEFAULT_REDIS_URL),
                                                   **client_options())
        return _default_client


def record(feature: str, response_time_seconds: float, success: bool, cache_hit: bool = False, *,
           client: redis.Redis | None = None, prefix: str = "ai:") -> None:
    """Count one AI request of ``feature`` that took ``response_time_seconds`` (0 to 3600), in one MULTI/EXEC.

    Raises ValueError/TypeError for a bad value (nothing is written) and redis-py's errors when Redis cannot
    be reached.
    """
    feature, seconds, success, cache_hit = check(feature, response_time_seconds, success, cache_hit)
    with (client or _client()).pipeline(transaction=True) as pipe:
        queue(pipe, prefix, feature, seconds, success, cache_hit)
        pipe.execute()


async def record_async(feature: str, response_time_seconds: float, success: bool, cache_hit: bool = False, *,
                       client=None, prefix: str = "ai:") -> None:
    """:func:`record` for asyncio code, with a ``redis.asyncio.Redis`` client (without one, a client to
    ``REPORTER_REDIS_URL`` is opened and closed for this call: pass your own to reuse connections)."""
    import redis.asyncio

    feature, seconds, success, cache_hit = check(feature, response_time_seconds, success, cache_hit)
    own = client is None
    if own:
        client = redis.asyncio.Redis.from_url(os.environ.get("REPORTER_REDIS_URL", DEFAULT_REDIS_URL),
                                              **client_options(asyncio=True))
    try:
        async with client.pipeline(transaction=True) as pipe:
            queue(pipe, prefix, feature, seconds, success, cache_hit)
            await pipe.execute()
    finally:
        if own:
            await client.aclose()
