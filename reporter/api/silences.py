"""``/api/v1/silences``: list, create and expire silences over HTTP, in the shape of Alertmanager's v2 API.

- ``GET /api/v1/silences``: every stored silence (pending, active and expired), soonest end first, each
  ``{"id", "matchers": [{"name", "value", "isRegex", "isEqual"}], "startsAt", "endsAt", "createdBy",
  "comment", "status": {"state": "pending|active|expired"}}`` (times UTC, ISO 8601 with ``Z``).
- ``POST /api/v1/silences``: body (JSON, at most 16 KB) ``{"matchers": [...], "startsAt": "...", "endsAt":
  "...", "comment": "...", "createdBy": "..."}``; a matcher is Alertmanager's object (``name``, ``value``,
  ``isRegex``, ``isEqual`` default true) or a matcher string (``service=~"redis|database"``); ``startsAt``
  (default now) and ``endsAt`` are ISO 8601 times with an offset or ``Z``; a later start makes the silence
  pending (a one-off maintenance window). Answers ``{"silenceID": "sil_..."}``.
- ``DELETE /api/v1/silences/{id}``: expire a pending or active silence now (404 when there is none).

Writes need REPORTER_API_TOKEN (403 without one configured; a missing or wrong bearer is a 401 before this,
:mod:`reporter.api.fastpath`). Bad input is a 400 ``{"error": "<field>: <reason>", "field": "<field>"}``; no
history, or one that cannot be read or written, is a 503. Database work runs in a worker thread.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from reporter.api.usage_log import BodyTooLarge, load_json, read_body
from reporter.api.views import dumps
from reporter.base.errors import one_line
from reporter.base.timefmt import format_utc
from reporter.masking import mask

if TYPE_CHECKING:  # the alerting modules are imported when a request needs them: an agent never loads them idle
    from reporter.alerting.matchers import Matcher
    from reporter.alerting.silences import Silence, SilenceStore

PATH = "/api/v1/silences"
FIELDS = ("matchers", "startsAt", "endsAt", "comment", "createdBy")
MAX_TEXT = 1000
MAX_MATCHERS = 64
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BadField(ValueError):
    """A field of the body is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def to_json(silence: Silence, now: datetime) -> dict[str, Any]:
    """A silence in Alertmanager's v2 shape (``gettableSilence``)."""
    return {"id": silence.id,
            "matchers": [{"name": m.name, "value": m.value, "isRegex": m.op in ("=~", "!~"),
                          "isEqual": m.op in ("=", "=~")} for m in silence.matchers],
            "startsAt": format_utc(silence.starts_at), "endsAt": format_utc(silence.ends_at),
            "createdBy": silence.created_by, "comment": silence.comment, "status": {"state": silence.state(now)}}


def parse_body(payload: Any) -> tuple[list[Matcher], datetime | None, datetime, str, str]:
    """``(matchers, starts_at or None, ends_at, comment, created_by)`` of a POST body; BadField otherwise."""
    if not isinstance(payload, dict):
        raise BadField("", "the body must be a JSON object with matchers, endsAt, comment and createdBy")
    for name in payload:
        if name not in FIELDS:
            raise BadField(str(name)[:40], f"unknown field; expected: {', '.join(FIELDS)}")
    for name in ("matchers", "endsAt", "comment", "createdBy"):
        if name not in payload:
            raise BadField(name, "is required")
    raw = payload["matchers"]
    if not isinstance(raw, list) or not raw or len(raw) > MAX_MATCHERS:
        raise BadField("matchers", f"must be a list of 1 to {MAX_MATCHERS} matchers")
    matchers = [_matcher(item, f"matchers[{i}]") for i, item in enumerate(raw)]
    if all(m.matches({}) for m in matchers):
        raise BadField("matchers", "every matcher matches the empty string, so the silence would mute every alert; "
                                   "at least one must not")
    starts_at = None if payload.get("startsAt") is None else _time(payload["startsAt"], "startsAt")
    return (matchers, starts_at, _time(payload["endsAt"], "endsAt"), _text(payload["comment"], "comment"),
            _text(payload["createdBy"], "createdBy"))


def _matcher(item: Any, where: str) -> Matcher:
    from reporter.alerting.matchers import Matcher

    try:
        if isinstance(item, str):
            return Matcher.parse(item)
        if not isinstance(item, dict):
            raise ValueError("must be a matcher string (name=value) or an object {name, value, isRegex, isEqual}")
        unknown = sorted(set(item) - {"name", "value", "isRegex", "isEqual"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; expected name, value, isRegex, isEqual")
        name, value = item.get("name"), item.get("value")
        is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
        if not isinstance(name, str) or not _LABEL.match(name):
            raise ValueError("name must be a label name ([A-Za-z_][A-Za-z0-9_]*)")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ValueError(f"value must be a string of at most {MAX_TEXT} characters")
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise ValueError("isRegex and isEqual must be booleans")
        return Matcher.build(name, ("=" if is_equal else "!=") + ("~" if is_regex else ""), value)
    except ValueError as exc:
        raise BadField(where, " ".join(str(exc).split())) from None


def _time(value: Any, field: str) -> datetime:
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in ("z", "Z") else value)
    except (ValueError, IndexError):
        raise BadField(field, f"must be an ISO 8601 time such as 2026-12-05T02:00:00Z (got {str(value)[:40]!r})") \
            from None
    if parsed.tzinfo is None:
        raise BadField(field, f"{value[:40]!r} has no offset; add Z (UTC) or +01:00")
    return parsed.astimezone(UTC)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise BadField(field, f"must be a non-empty string of at most {MAX_TEXT} characters")
    return value


def silence_routes(history: Any, token_set: bool) -> list[Route]:
    """The Starlette routes of the three endpoints, on ``history`` (a History; None: 503)."""

    def store() -> SilenceStore | None:
        from reporter.alerting.silences import SilenceStore

        return None if history is None else SilenceStore(history.engine)

    async def listing(request: Request) -> Response:
        silences = store()
        if silences is None:
            return _json({"error": "no history is configured for this server"}, 503)
        now = datetime.now(UTC)
        try:
            found = await run_in_threadpool(silences.list, now, True)
        except SQLAlchemyError as exc:
            return _unavailable(exc)
        return _json([to_json(s, now) for s in found])

    async def create(request: Request) -> Response:
        silences = store()
        refused = _refuse_write(token_set, silences)
        if refused is not None or silences is None:
            return refused or _json({}, 503)
        try:
            raw = await read_body(request)
            payload = load_json(raw)
        except BodyTooLarge:
            return _json({"error": "the body is larger than 16 KB"}, 413, {"Connection": "close"})
        except TimeoutError:
            return _json({"error": "the body was not received in time"}, 408, {"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)
        except (ValueError, RecursionError) as exc:
            return _json({"error": f"the body is not valid JSON ({str(exc)[:80]})", "field": ""}, 400)
        try:
            matchers, starts_at, ends_at, comment, created_by = parse_body(payload)
            now = datetime.now(UTC)
            silence = await run_in_threadpool(silences.add, matchers, None, comment, created_by,
                                              now, starts_at=starts_at, ends_at=ends_at)
        except BadField as exc:
            return _json({"error": str(exc), "field": exc.field}, 400)
        except ValueError as exc:  # the store's own checks: the end is not after the start, or in the past
            return _json({"error": f"endsAt: {' '.join(str(exc).split())}", "field": "endsAt"}, 400)
        except SQLAlchemyError as exc:
            return _unavailable(exc)
        return _json({"silenceID": silence.id})

    async def expire(request: Request) -> Response:
        silences = store()
        refused = _refuse_write(token_set, silences)
        if refused is not None or silences is None:
            return refused or _json({}, 503)
        silence_id = request.path_params["silence_id"]
        try:
            done = await run_in_threadpool(silences.expire, silence_id, datetime.now(UTC))
        except SQLAlchemyError as exc:
            return _unavailable(exc)
        if not done:
            return _json({"error": f"no pending or active silence {silence_id[:60]!r}"}, 404)
        return _json({"silenceID": silence_id, "status": {"state": "expired"}})

    async def collection(request: Request) -> Response:
        return await (create(request) if request.method == "POST" else listing(request))

    # one route per path, so that a 405 lists every method of the path in its Allow header
    return [Route(PATH, collection, methods=["GET", "HEAD", "POST"]),
            Route(PATH + "/{silence_id}", expire, methods=["DELETE"])]


def _refuse_write(token_set: bool, store: SilenceStore | None) -> Response | None:
    if not token_set:
        return _json({"error": "changing silences over HTTP is disabled: set REPORTER_API_TOKEN and send "
                               "Authorization: Bearer <token>"}, 403)
    if store is None:
        return _json({"error": "no history is configured for this server"}, 503)
    return None


def _unavailable(exc: Exception) -> Response:
    return _json({"error": f"the history database is unavailable ({mask(one_line(exc))[:160]})"}, 503,
                 {"Retry-After": "1"})


def _json(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=headers)
