"""``POST /api/v1/alerts/{fingerprint}/ack``: acknowledge the current episode of a pending or firing alert.

Body (JSON, at most 16 KB): ``{"by": "ann", "comment": "restarting the workers"}`` (``by`` required, 1 to 64
characters; ``comment`` optional, at most 1,000). Written to ``acks`` in the history database with
:class:`reporter.alerting.acks.AckStore`, so any node with the history can acknowledge; the dispatcher of the
leading node reads it on its next pass (no repeats, no escalation; notifications say who and when).

Refused with 403 unless REPORTER_API_TOKEN is set (a write endpoint is never open to anyone who can reach the
port); the bearer token itself is checked before this (401). Answers: 200 the acknowledgement; 400 a body that
is not a JSON object or a bad field (``error`` names the field); 404 no alert has that fingerprint; 409 the
alert is resolved; 413 body too large; 503 no history, or the history database is unavailable.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from reporter.api.usage_log import MAX_BODY_BYTES, BodyTooLarge, load_json, read_body
from reporter.api.views import dumps
from reporter.base.errors import one_line
from reporter.base.timefmt import format_utc
from reporter.masking import mask

FIELDS = ("by", "comment")


def parse(raw: bytes) -> tuple[str, str]:
    """``(by, comment)`` from the body; ValueError naming the field (or the body) when invalid."""
    try:
        payload = load_json(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"body: not valid JSON ({str(exc)[:80]}); send {{\"by\": \"name\", \"comment\": \"...\"}}") \
            from None
    if not isinstance(payload, dict):
        raise ValueError('body: must be a JSON object {"by": "name", "comment": "..."}')
    for name in payload:
        if name not in FIELDS:
            raise ValueError(f"{name[:40]}: unknown field; expected: {', '.join(FIELDS)}")
    by, comment = payload.get("by"), payload.get("comment", "")
    if not isinstance(by, str):
        raise ValueError("by: required, a string (who acknowledges)")
    if not isinstance(comment, str):
        raise ValueError("comment: must be a string")
    return by, comment


def ack_endpoint(history, token_set: bool):
    """The Starlette endpoint writing acknowledgements into ``history`` (a History, or None: 503)."""

    async def endpoint(request: Request) -> Response:
        if not token_set:
            return _json({"error": "acknowledging over HTTP is disabled: set REPORTER_API_TOKEN and send "
                                   "Authorization: Bearer <token>"}, 403)
        if history is None:
            return _json({"error": "no history database is configured for this server"}, 503)
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _json({"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}, 413, {"Connection": "close"})
        except TimeoutError:
            return _json({"error": "the body was not received in time"}, 408, {"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            by, comment = parse(raw)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        fingerprint = request.path_params["fingerprint"]
        from reporter.alerting.acks import AckError, AckStore, UnknownAlert  # an agent loads it only when used

        try:
            ack = await run_in_threadpool(AckStore(history.engine).ack, fingerprint, by, comment, datetime.now(UTC))
        except UnknownAlert as exc:
            return _json({"error": str(exc)}, 404)
        except AckError as exc:
            status = 400 if str(exc).startswith(FIELDS) else 409
            return _json({"error": str(exc)}, status)
        except Exception as exc:  # the history database is down or locked: say so, never a 500 page
            return _json({"error": f"history unavailable ({mask(one_line(exc))[:160]})"}, 503, {"Retry-After": "5"})
        return _json({"status": "acknowledged", "fingerprint": ack.fingerprint, "by": ack.by, "comment": ack.comment,
                      "at": format_utc(ack.at), "starts_at": format_utc(ack.starts_at)})

    return endpoint


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=headers)
