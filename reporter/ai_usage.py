"""Record one AI request in the application's Redis counters (the keys in README.md, "AI usage counters"),
for the application.

One call writes every counter of the request in a single MULTI/EXEC transaction, so a reader (the reporter's
sampler) never sees the totals and the per-feature counters disagree::

    from reporter.ai_usage import record, record_async

    record("grammar", 2.31, success=True, cache_hit=False, client=redis_client)             # redis.Redis
    await record_async("quiz", 1.2, success=False, client=async_redis_client, prefix="ai:")  # redis.asyncio

Counters written (prefix ``ai:`` by default): ``total_requests`` +1, ``total_time`` +seconds,
``{feature}:requests`` +1, ``{feature}:time`` +seconds, ``{feature}:success`` +1 when ``success``,
``cache_hits`` +1 when ``cache_hit``; and, only when given (keyword-only, ``INCRBY`` of whole numbers),
``{feature}:prompt_tokens`` +prompt_tokens, ``{feature}:completion_tokens`` +completion_tokens,
``{feature}:generation_ns`` +generation_ns (integer nanoseconds), ``{feature}:cold_loads`` +1 when ``cold_load``
(+0 when false: the key then says "no cold load" rather than "not counted"). :func:`from_ollama` maps Ollama's
response onto them::

    answer = ollama_client.generate(model="mistral:7b", prompt=text)   # or the last chunk of a stream
    record("grammar", elapsed, success=True, client=redis_client, **from_ollama(answer))
 Without a ``client`` a connection to ``REPORTER_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``) is used. This module imports only redis-py, so the application can use it
without the daemon's dependencies being loaded; redis-py loads at the first write (the daemon imports this
module for its checks and must not load redis-py where nothing is counted).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    import redis

MAX_RESPONSE_TIME_SECONDS = 3600.0  # an AI request taking longer than an hour is a bug in the caller
MAX_TOKENS = 10_000_000  # prompt or completion tokens of one request (context windows are far below)
MAX_GENERATION_NS = int(MAX_RESPONSE_TIME_SECONDS) * 1_000_000_000  # generating for longer than an hour: a bug
COLD_LOAD_NS = 1_000_000_000  # Ollama's load_duration above 1 s: the model was loaded for this request
TOKEN_FIELDS = {"prompt_tokens": MAX_TOKENS, "completion_tokens": MAX_TOKENS, "generation_ns": MAX_GENERATION_NS}
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


def check_count(name: str, value: object) -> int:
    """``value`` if it is a whole number from 0 to the limit of ``name`` in :data:`TOKEN_FIELDS` (tokens: 10^7;
    ``generation_ns``: an hour in nanoseconds); TypeError for anything but an int (a bool, 2.0, "5"),
    ValueError outside the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (got {value!r:.60})")
    limit = TOKEN_FIELDS[name]
    if not 0 <= value <= limit:
        raise ValueError(f"{name} must be a whole number from 0 to {limit} (got {value!r:.60})")
    return value


def check_tokens(prompt_tokens: object = None, completion_tokens: object = None, generation_ns: object = None,
                 cold_load: object = None) -> dict[str, int]:
    """The optional token counters' increments ``{counter: delta}`` for the values given (None = not given):
    ``prompt_tokens``, ``completion_tokens``, ``generation_ns`` (:func:`check_count`) and ``cold_loads`` (1 or 0
    from the boolean ``cold_load``). Raises TypeError/ValueError naming the first bad value."""
    deltas = {name: check_count(name, value) for name, value in (
        ("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens),
        ("generation_ns", generation_ns)) if value is not None}
    if cold_load is not None:
        deltas["cold_loads"] = int(check_flag("cold_load", cold_load))
    return deltas


class TokenCounts(TypedDict, total=False):
    """:func:`from_ollama`'s answer: the keyword arguments of :func:`record` it could read."""

    prompt_tokens: int
    completion_tokens: int
    generation_ns: int
    cold_load: bool


def from_ollama(response: object, cold_load_ns: int = COLD_LOAD_NS) -> TokenCounts:
    """The keyword arguments of :func:`record` from an Ollama ``/api/generate`` or ``/api/chat`` answer (a dict,
    or an ``ollama`` library response; streamed: the last chunk, ``"done": true``): ``prompt_eval_count`` ->
    ``prompt_tokens``, ``eval_count`` -> ``completion_tokens``, ``eval_duration`` (ns) -> ``generation_ns``,
    ``load_duration`` (ns) -> ``cold_load`` (true above ``cold_load_ns``, default 1 s: a model already in
    memory answers with a few milliseconds). A field that is missing, null or not a whole number within
    :func:`record`'s limits is left out (the request is still counted; that counter is not)."""
    def field(name: str) -> object:
        if isinstance(response, Mapping):
            return response.get(name)
        return getattr(response, name, None)

    def count(source: str, target: str) -> int | None:
        try:
            return check_count(target, field(source))
        except (TypeError, ValueError):
            return None

    out = TokenCounts()
    if (prompt := count("prompt_eval_count", "prompt_tokens")) is not None:
        out["prompt_tokens"] = prompt
    if (completion := count("eval_count", "completion_tokens")) is not None:
        out["completion_tokens"] = completion
    if (generation := count("eval_duration", "generation_ns")) is not None:
        out["generation_ns"] = generation
    load = field("load_duration")
    if isinstance(load, int) and not isinstance(load, bool) and load >= 0:
        out["cold_load"] = load > cold_load_ns
    return out


def check(feature: object, response_time_seconds: object, success: object, cache_hit: object = False,
          features: list[str] | tuple[str, ...] | None = None) -> tuple[str, float, bool, bool]:
    """Validate one request's values; returns them normalised or raises ValueError/TypeError saying which
    value is wrong and what is expected. ``features``: the known feature names (None = any valid name)."""
    return (check_feature(feature, features), check_seconds(response_time_seconds),
            check_flag("success", success), check_flag("cache_hit", cache_hit))


def queue(pipe, prefix: str, feature: str, seconds: float, success: bool, cache_hit: bool,
          tokens: dict[str, int] | None = None) -> None:
    """Queue the counter updates of one request on a (sync or asyncio) redis-py pipeline; ``tokens``: the
    token counters' increments from :func:`check_tokens` (INCRBY each)."""
    pipe.incr(prefix + "total_requests")
    pipe.incrbyfloat(prefix + "total_time", seconds)
    pipe.incr(f"{prefix}{feature}:requests")
    pipe.incrbyfloat(f"{prefix}{feature}:time", seconds)
    if success:
        pipe.incr(f"{prefix}{feature}:success")
    if cache_hit:
        pipe.incr(prefix + "cache_hits")
    for counter, delta in (tokens or {}).items():
        pipe.incrby(f"{prefix}{feature}:{counter}", delta)


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
           client: redis.Redis | None = None, prefix: str = "ai:", prompt_tokens: int | None = None,
           completion_tokens: int | None = None, generation_ns: int | None = None,
           cold_load: bool | None = None) -> None:
    """Count one AI request of ``feature`` that took ``response_time_seconds`` (0 to 3600), in one MULTI/EXEC,
    with its tokens when given: ``prompt_tokens`` and ``completion_tokens`` (0 to 10^7), ``generation_ns``
    (integer nanoseconds generating the completion, up to an hour), ``cold_load`` (the model was loaded for
    this request); :func:`from_ollama` reads them from Ollama's answer.

    Raises ValueError/TypeError for a bad value (nothing is written) and redis-py's errors when Redis cannot
    be reached.
    """
    feature, seconds, success, cache_hit = check(feature, response_time_seconds, success, cache_hit)
    tokens = check_tokens(prompt_tokens, completion_tokens, generation_ns, cold_load)
    with (client or _client()).pipeline(transaction=True) as pipe:
        queue(pipe, prefix, feature, seconds, success, cache_hit, tokens)
        pipe.execute()


async def record_async(feature: str, response_time_seconds: float, success: bool, cache_hit: bool = False, *,
                       client=None, prefix: str = "ai:", prompt_tokens: int | None = None,
                       completion_tokens: int | None = None, generation_ns: int | None = None,
                       cold_load: bool | None = None) -> None:
    """:func:`record` for asyncio code, with a ``redis.asyncio.Redis`` client (without one, a client to
    ``REPORTER_REDIS_URL`` is opened and closed for this call: pass your own to reuse connections)."""
    import redis.asyncio

    feature, seconds, success, cache_hit = check(feature, response_time_seconds, success, cache_hit)
    tokens = check_tokens(prompt_tokens, completion_tokens, generation_ns, cold_load)
    own = client is None
    if own:
        client = redis.asyncio.Redis.from_url(os.environ.get("REPORTER_REDIS_URL", DEFAULT_REDIS_URL),
                                              **client_options(asyncio=True))
    try:
        async with client.pipeline(transaction=True) as pipe:
            queue(pipe, prefix, feature, seconds, success, cache_hit, tokens)
            await pipe.execute()
    finally:
        if own:
            await client.aclose()
