"""``POST /api/v1/analytics/log-ai-usage``: the application logs one AI request through HTTP.

Body (JSON, at most 16 KB, sent within 10 s): ``{"feature": "grammar", "response_time_seconds": 2.3,
"success": true, "cache_hit": false}`` (``cache_hit`` optional, default false; ``feature`` one of
REPORTER_AI_FEATURES; the time a finite number from 0 to 3600; booleans real JSON booleans), plus the optional
token counters of :func:`reporter.ai_usage.record`: ``prompt_tokens``, ``completion_tokens`` (whole numbers 0 to
10^7), ``generation_ns`` (whole nanoseconds up to an hour) and ``cold_load`` (boolean); as in JSON Schema, a
number without a fraction (``2.5e9``, ``12.0``) is a whole number, ``12.5`` is refused; a null one is as if
absent. The counters are written with :func:`reporter.ai_usage.record_async` in one MULTI/EXEC.

Refused with 403 unless REPORTER_API_TOKEN is set (a write endpoint is never open to anyone who can reach the
port); the bearer token itself is checked before this (401). Answers: 200 ``{"status": "logged"}``; 413 body
too large; 408 body too slow; 415 not JSON; 422 invalid (``error`` says what, ``detail`` lists each field);
503 Redis unavailable.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from reporter.ai_usage import check_count, check_feature, check_flag, check_seconds, client_options, record_async
from reporter.api.views import dumps
from reporter.base.errors import one_line
from reporter.masking import mask

MAX_BODY_BYTES = 16 * 1024
BODY_SECONDS = 10.0
FIELDS = ("feature", "response_time_seconds", "success", "cache_hit", "prompt_tokens", "completion_tokens",
          "generation_ns", "cold_load")
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "generation_ns", "cold_load")
REQUIRED = ("feature", "response_time_seconds", "success")


class BodyTooLarge(Exception):
    """The request body is larger than the limit given to :func:`read_body`."""


def async_redis_client(url: str, timeout: float):
    """A redis.asyncio client for the endpoint: bounded timeouts, no automatic retry (no double counting)."""
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url, max_connections=50, **client_options(asyncio=True, timeout=timeout))


async def read_body(request: Request, limit: int = MAX_BODY_BYTES, seconds: float | None = None) -> bytes:
    """The request body; BodyTooLarge past ``limit`` bytes, TimeoutError when not complete within ``seconds``
    (default BODY_SECONDS)."""
    chunks, size = [], 0
    async with asyncio.timeout(BODY_SECONDS if seconds is None else seconds):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def load_json(raw: bytes) -> object:
    """The JSON value of a request body; ValueError (or RecursionError, nesting too deep) when it is not JSON or
    when a string in it (a key or a value) holds a NUL or a lone surrogate (``"\\ud800"``): JSON escapes allow
    both, but neither can be stored (PostgreSQL text refuses NUL, UTF-8 refuses surrogates) nor printed, so a
    body carrying one is refused as invalid rather than failing later in the database or a CLI listing."""
    payload = json.loads(raw)
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            _check_text(value)
    return payload


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("a string holds a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text") from None


def validate(payload: object, features: list[str]) -> tuple[tuple | None, list[dict]]:
    """``((feature, seconds, success, cache_hit, tokens), [])`` or ``(None, errors)`` with one error per bad
    field; ``tokens``: the keyword arguments of :func:`reporter.ai_usage.record` among the optional token fields
    given (a null one is as if not given)."""
    if not isinstance(payload, dict):
        return None, [_error([], "the body must be a JSON object with feature, response_time_seconds, success")]
    errors = [_error([name], f"unknown field {name!r:.40}; expected: {', '.join(FIELDS)}", "extra_forbidden")
              for name in payload if name not in FIELDS]
    errors += [_error([name], f"{name} is required", "missing") for name in REQUIRED if name not in payload]
    values = {}
    for name, checker in (("feature", lambda v: check_feature(v, features)),
                          ("response_time_seconds", check_seconds),
                          ("success", lambda v: check_flag("success", v)),
                          ("cache_hit", lambda v: check_flag("cache_hit", v)),
                          ("prompt_tokens", lambda v: check_count("prompt_tokens", _whole(v))),
                          ("completion_tokens", lambda v: check_count("completion_tokens", _whole(v))),
                          ("generation_ns", lambda v: check_count("generation_ns", _whole(v))),
                          ("cold_load", lambda v: check_flag("cold_load", v))):
        if name in TOKEN_FIELDS and payload.get(name) is None:
            continue
        if name in payload:
            try:
                values[name] = checker(payload[name])
            except (TypeError, ValueError) as exc:
                errors.append(_error([name], str(exc)))
    if errors:
        return None, errors
    tokens = {name: values[name] for name in TOKEN_FIELDS if name in values}
    return (values["feature"], values["response_time_seconds"], values["success"],
            values.get("cache_hit", False), tokens), []


def _whole(value: object) -> object:
    """A JSON number without a fraction (``2.5e9``) as an int, as JSON Schema's ``integer``; else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _error(loc: list, message: str, kind: str = "value_error") -> dict:
    return {"loc": ["body", *loc], "msg": message, "type": kind}


def log_usage_endpoint(client, prefix: str, features: list[str], token_set: bool):
    """The Starlette endpoint writing with ``client`` (redis.asyncio) under ``prefix``."""

    async def endpoint(request: Request) -> Response:
        if not token_set:
            return _json({"error": "logging AI usage over HTTP is disabled: set REPORTER_API_TOKEN and send "
                                   "Authorization: Bearer <token>"}, 403)
        if client is None:
            return _json({"error": "no Redis client is configured for this server"}, 503)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            return _json({"error": f"the body must be JSON (Content-Type: application/json), got {media[:60]!r}"},
                         415)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return _too_large()
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _too_large()
        except TimeoutError:
            return _json({"error": f"the body was not received within {BODY_SECONDS:g} s"}, 408,
                         {"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        try:
            payload = load_json(raw)
        except (ValueError, RecursionError) as exc:
            message = f"the body is not valid JSON ({str(exc)[:80]})"
            return _json({"error": message, "detail": [_error([], message, "json_invalid")]}, 422)
        values, errors = validate(payload, features)
        if values is None:
            return _json({"error": "; ".join(e["msg"] for e in errors), "detail": errors}, 422)
        import redis  # loaded with the client (only with REPORTER_API_TOKEN): never in a node without one

        try:
            *fields, tokens = values
            await record_async(*fields, client=client, prefix=prefix, **tokens)
        except redis.ResponseError as exc:  # e.g. WRONGTYPE: a counter key holds a list or hash
            return _json({"error": f"Redis refused the write ({mask(str(exc))[:160]}); check the counter "
                                   f"keys under {prefix!r}"}, 503)
        except (redis.RedisError, OSError) as exc:
            return _json({"error": f"Redis unavailable, nothing was counted ({one_line(exc)})"}, 503, {"Retry-After": "1"})
        return _json({"status": "logged", "feature": values[0]})

    return endpoint


def _too_large() -> Response:
    return _json({"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}, 413, {"Connection": "close"})


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=headers)
