"""Receiver health: whether a receiver fails permanently, read from the outbox (no table of its own).

A receiver is **failing** when notifications to it failed permanently since its last delivered one (each
such notification's final answer was classified ``failed`` by its receiver type: an HTTP 4xx other than 408,
425 and 429, an SMTP 5xx reply) and either

- the newest of them was answered with one of its type's ``revoked_statuses`` (HTTP 401, 403, 404, 410: the
  URL or the token is invalid or revoked, as Slack's ``403 invalid_token``, ``404 no_service``,
  ``410 channel_is_archived``), or
- the newest ``threshold`` (3 by default) of its notifications all failed permanently (another 4xx, such as
  a ``400`` on every message).

Answers that are retried (408, 425, 429, 5xx, timeouts, refused connections) never count, nor do notifications
still being retried or given up after ``max_age`` (``expired``): a receiver that is down is retried, not
failing. A receiver stops failing when one of its notifications is delivered again.

Each receiver's queue is delivered oldest first (:mod:`reporter.notify.outbox`), so the order in which its
notifications finished is their ``created_at`` order; two indexed queries per receiver read it
(``ix_outbox_due``: status, receiver, created_at).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reporter.base.ms import from_ms, to_ms
from reporter.masking import mask
from reporter.store.alert_schema import outbox

RESPONSE_SHOWN = 200  # characters of the receiver's last answer shown in an alert


@dataclass(frozen=True)
class ReceiverHealth:
    """One receiver's recent permanent failures.

    ``failures``: notifications that failed permanently since its last delivered one, counted up to the limit
    the reader was given; ``status_code``, ``error``, ``response``: the newest one's answer (code, one-line
    error, the start of the answer body on one line; each masked, None without failures); ``revoked``: that
    answer's code is one of the receiver type's ``revoked_statuses``; ``since``: when the oldest counted
    failed notification was queued (UTC)."""

    receiver: str
    failures: int = 0
    status_code: int | None = None
    error: str | None = None
    response: str | None = None
    revoked: bool = False
    since: datetime | None = None

    def failing(self, threshold: float) -> bool:
        """True when the receiver is failing (see the module docstring): a revoked answer, or at least
        ``threshold`` permanent failures in a row."""
        return self.failures > 0 and (self.revoked or self.failures >= threshold)


def read_health(engine: Engine, revoked: Mapping[str, frozenset[int]], limit: int) -> dict[str, ReceiverHealth]:
    """The health of each receiver named in ``revoked`` (receiver name -> its type's revoked status codes), from
    the outbox of ``engine``: its failed notifications since its last delivered one, newest first, at most
    ``limit`` (>= 1). Raises SQLAlchemy errors when the history cannot be read."""
    limit = max(1, limit)
    result = {}
    with engine.connect() as conn:
        for name, codes in revoked.items():
            delivered = conn.execute(select(func.max(outbox.c.created_at)).where(
                outbox.c.status == "delivered", outbox.c.receiver == name)).scalar()
            query = select(outbox.c.last_status_code, outbox.c.last_error, outbox.c.last_response,
                           outbox.c.created_at).where(outbox.c.status == "failed", outbox.c.receiver == name)
            if delivered is not None:
                query = query.where(outbox.c.created_at > delivered)
            rows = conn.execute(query.order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(limit)).all()
            if not rows:
                result[name] = ReceiverHealth(name)
                continue
            code, error, response, _ = rows[0]
            result[name] = ReceiverHealth(
                name, len(rows), code, _shown(error), _shown(response), code in codes, from_ms(rows[-1][3]))
    return result


def _shown(text: str | None) -> str | None:
    """``text`` on one line, at most :data:`RESPONSE_SHOWN` characters, secrets masked."""
    if not text:
        return None
    line = " ".join(mask(text).split())
    return line if len(line) <= RESPONSE_SHOWN else line[:RESPONSE_SHOWN - 1] + "…"


def outcomes_between(engine: Engine, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Notifications queued in [``start``, ``end``) by receiver and their outcome now (``delivered``, ``failed``:
    permanently, ``expired``: given up after ``max_age``, ``pending``: still being tried); one grouped query on
    the outbox. Raises SQLAlchemy errors when the history cannot be read."""
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.receiver, outbox.c.status, func.count())
                            .where(outbox.c.created_at >= to_ms(start), outbox.c.created_at < to_ms(end))
                            .group_by(outbox.c.receiver, outbox.c.status)).all()
    result: dict[str, dict[str, int]] = {}
    for receiver, status, count in rows:
        result.setdefault(receiver, {})[status] = count
    return result
