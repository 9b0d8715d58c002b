"""``GET /api/v1/history?metric=...&from=...&to=...&step=...&host=...``: one stored series, downsampled for charts.

``host`` (optional): the host whose series it is (default: this node's; a host the history does not know is a
404); an app-wide metric (``ai_*``, ``usage_*``) is the fleet's whatever the host, and its answer's ``host``
is null.

``from``/``to``: Unix seconds or ISO 8601 (a time without offset is UTC); defaults: the last hour. ``step``
(seconds, optional): the bucket width; each point is the mean of the non-missing values of the samples in
``[bucket start, bucket start + step)`` (``null`` when every sample of the bucket was missing), buckets without
samples are left out. Without ``step`` the raw samples are returned when they are at most 2,000, else buckets
of ``(to - from) / 2000``. Never more than 2,000 points: a ``step`` that would give more is a 422.

The query runs in a worker thread (starlette's ``run_in_threadpool``), never on the event loop.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from reporter.api.views import dumps
from reporter.base.errors import one_line
from reporter.base.ms import to_ms
from reporter.base.timefmt import format_utc
from reporter.store.history import app_wide

MAX_POINTS = 2000
DEFAULT_SPAN = timedelta(hours=1)


class BadQuery(ValueError):
    """A query parameter is wrong; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def parse_time(param: str, raw: str) -> datetime:
    """Unix seconds or ISO 8601 as an aware UTC datetime; BadQuery otherwise."""
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        if number is not None:
            if not math.isfinite(number):
                raise ValueError
            return datetime.fromtimestamp(number, UTC)
        value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise BadQuery(param, f"{param} must be Unix seconds or an ISO 8601 time such as 2026-11-29T16:00:00Z "
                              f"(got {raw[:40]!r})") from None


def parse_step(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        step = float(raw)
    except ValueError:
        step = math.nan
    if not (math.isfinite(step) and step > 0):
        raise BadQuery("step", f"step must be a positive number of seconds (got {raw[:40]!r})")
    return step


def buckets(points: list[tuple[int, float | None]], start_ms: int, step_ms: int) -> list[list]:
    """Bucket means of ``points`` (oldest first): ``[[bucket_start_ms, mean or None], ...]``."""
    out: list[list] = []
    current, total, count = None, 0.0, 0
    for ts, value in points:
        index = (ts - start_ms) // step_ms
        if index != current:
            if current is not None:
                out.append([start_ms + current * step_ms, round(total / count, 6) if count else None])
            current, total, count = index, 0.0, 0
        if value is not None:
            total += value
            count += 1
    if current is not None:
        out.append([start_ms + current * step_ms, round(total / count, 6) if count else None])
    return out


def history_endpoint(history, known=None):
    """The Starlette endpoint reading ``history`` (a :class:`reporter.store.history.History`, or None);
    ``known(name)``: whether a host other than this one is in the history (blocking; default: none is)."""

    async def endpoint(request: Request) -> Response:
        if history is None:
            return _json({"error": "no history database is configured for this server"}, 503)
        query = request.query_params
        try:
            metric = query.get("metric")
            if not metric or metric not in history.metrics:
                raise BadQuery("metric", f"metric must be one of: {', '.join(history.metrics)} (got {metric!r:.60})")
            end = parse_time("to", query["to"]) if query.get("to") else datetime.now(UTC)
            try:
                start = parse_time("from", query["from"]) if query.get("from") else end - DEFAULT_SPAN
            except OverflowError:
                raise BadQuery("to", "to is too early for the default one-hour span; give from") from None
            if start >= end:
                raise BadQuery("from", "from must be earlier than to")
            step = parse_step(query.get("step"))
            span = (end - start).total_seconds()
            if step is not None and span / step > MAX_POINTS:
                raise BadQuery("step", f"step {step:g} s gives more than {MAX_POINTS} points over {span:g} s; "
                                       f"use a step of at least {math.ceil(span / MAX_POINTS)} s")
        except BadQuery as exc:
            return _json({"error": str(exc), "detail": [{"loc": ["query", exc.param], "msg": str(exc),
                                                         "type": "value_error"}]}, 422)
        host = query.get("host") or history.host
        try:
            if host != history.host and not (known is not None and await run_in_threadpool(known, host)):
                return _json({"error": f"unknown host {host[:64]!r}: GET /api/v1/hosts lists the hosts of this "
                                       f"history"}, 404)
            points = await run_in_threadpool(history.series, metric, start, end, host)
        except Exception as exc:  # the history database is down or locked: say so, never a 500 page
            message = one_line(exc)
            return _json({"error": f"history unavailable ({message})"}, 503, {"Retry-After": "5"})
        start_ms = to_ms(start)
        if step is None and len(points) > MAX_POINTS:
            step = math.ceil((end - start).total_seconds() * 1000 / MAX_POINTS) / 1000.0
        if step is None:
            rows = [[ts, value] for ts, value in points]
        else:  # a step longer than the span is one bucket (and never an overflow)
            rows = buckets(points, start_ms, max(1, round(min(step, span) * 1000)))
        info = history.metrics[metric]
        return _json({"metric": metric, "host": None if app_wide(info) else host, "unit": info.unit,
                      "description": info.help, "counter": info.cumulative,
                      "from": format_utc(start), "to": format_utc(end), "step_seconds": step,
                      "samples": len(points), "points": rows[:MAX_POINTS]})

    return endpoint


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=headers)
