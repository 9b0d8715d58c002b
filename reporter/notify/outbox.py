"""The persistent outbox: notifications are rows before they are requests; delivery is at least once.

Each receiver's notifications go out oldest first (a receiver that is down holds back only its own queue).
A row is claimed with a conditional UPDATE (a lease) before sending, so two processes sharing the history
(the daemon and ``reporter test-alert``) never send the same row at once. Every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine

from reporter.alerting.config import Defaults, Receiver
from reporter.alerting.state import from_ms
from reporter.notify.retry import DELIVERED, FAILED, backoff_seconds

if TYPE_CHECKING:  # httpx (and the sender) load only when there is something to send
    import httpx

    from reporter.notify.sender import Attempt
from reporter.store.alert_schema import delivery_attempts, outbox
from reporter.store.history import to_ms

log = logging.getLogger(__name__)


class Outbox:
    """Delivers pending outbox rows for the configured receivers."""

    def __init__(self, engine: Engine, receivers: list[Receiver], defaults: Defaults) -> None:
        self.engine, self.defaults = engine, defaults
        self.receivers = {r.name: r for r in receivers}

    def heads(self, now: datetime) -> list[dict]:
        """The oldest pending row of each receiver, if it is due and not leased by another sender."""
        now_ms = to_ms(now)
        heads = []
        with self.engine.connect() as conn:
            for name in self.receivers:
                row = conn.execute(
                    select(outbox).where(outbox.c.receiver == name, outbox.c.status == "pending")
                    .order_by(outbox.c.created_at, outbox.c.id).limit(1)).mappings().first()
                if row and row["next_attempt_at"] <= now_ms and (row["lease_until"] or 0) <= now_ms:
                    heads.append(dict(row))
        return heads

    def next_due(self) -> datetime | None:
        """When the earliest pending row is due (for the worker's sleep)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(outbox.c.next_attempt_at).where(outbox.c.status == "pending")
                                 .order_by(outbox.c.next_attempt_at).limit(1)).scalar()
        return from_ms(value)

    def claim(self, row_id: str, now: datetime, lease_seconds: float) -> bool:
        """Lease a row for ``lease_seconds``; False when another sender holds it."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            result = conn.execute(update(outbox).where(
                outbox.c.id == row_id, outbox.c.status == "pending",
                or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now_ms),
            ).values(lease_until=now_ms + int(lease_seconds * 1000)))
        return result.rowcount == 1

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Send every due head (receivers in parallel, each in order) until none is due; returns deliveries."""
        delivered = 0
        while True:
            heads = self.heads(datetime.now(UTC))
            if not heads:
                return delivered
            results = await asyncio.gather(*(self._deliver(client, row) for row in heads))
            delivered += sum(1 for r in results if r == DELIVERED)
            if all(r not in (DELIVERED, FAILED, "expired") for r in results):
                return delivered  # every head is waiting for a retry

    async def _deliver(self, client: httpx.AsyncClient, row: dict) -> str | None:
        receiver = self.receivers[row["receiver"]]
        now = datetime.now(UTC)
        if (now - from_ms(row["created_at"])).total_seconds() > self.defaults.max_age:
            self._finish(row["id"], "expired", now)
            log.error("notification %s to %s expired after %d attempt(s) over %s; last error: %s",
                      row["id"], receiver.name, row["attempts"], timedelta(seconds=self.defaults.max_age),
                      row["last_error"])
            return "expired"
        if not self.claim(row["id"], now, receiver.timeout + 5):
            return None
        from reporter.notify.sender import send

        attempt = await send(client, receiver, row["id"], row["body"])
        self._record(row, receiver, attempt)
        return attempt.outcome

    def _record(self, row: dict, receiver: Receiver, attempt: Attempt) -> None:
        now = datetime.now(UTC)
        attempts = row["attempts"] + 1
        values = {"attempts": attempts, "lease_until": None, "last_status_code": attempt.status_code,
                  "last_error": attempt.error, "last_response": attempt.response}
        if attempt.outcome == DELIVERED:
            values.update(status="delivered", delivered_at=to_ms(now))
            log.info("notification %s delivered to %s (attempt %d)", row["id"], receiver.name, attempts)
        elif attempt.outcome == FAILED:
            values["status"] = "failed"
            log.error("notification %s to %s failed permanently: %s; response: %s. Fix the receiver "
                      "configuration, then `reporter test-alert --receiver %s`", row["id"], receiver.name,
                      attempt.error, (attempt.response or "")[:200], receiver.name)
        else:
            delay = backoff_seconds(attempts, self.defaults.backoff_initial, self.defaults.backoff_max)
            if attempt.retry_after is not None:
                delay = max(delay, attempt.retry_after)
            values["next_attempt_at"] = to_ms(now + timedelta(seconds=delay))
            log.warning("notification %s to %s not delivered (%s); retry %d in %.1f s", row["id"], receiver.name,
                        attempt.error, attempts + 1, delay)
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row["id"]).values(**values))
            conn.execute(insert(delivery_attempts).values(
                notification_id=row["id"], at=to_ms(now), duration_ms=attempt.duration_ms,
                status_code=attempt.status_code, outcome=attempt.outcome, error=attempt.error))

    def _finish(self, row_id: str, status: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(and_(outbox.c.id == row_id, outbox.c.status == "pending"))
                         .values(status=status, lease_until=None))

    def enqueue(self, notification_id: str, receiver: str, body: bytes, alert_count: int, now: datetime) -> None:
        """Write one notification (used by ``test-alert``; the dispatcher writes in its own transaction)."""
        with self.engine.begin() as conn:
            conn.execute(insert(outbox).values(
                id=notification_id, receiver=receiver, created_at=to_ms(now), status="pending", body=body,
                alert_count=alert_count, attempts=0, next_attempt_at=to_ms(now)))

    def status(self, notification_id: str) -> dict | None:
        """The outbox row (without body) of a notification."""
        with self.engine.connect() as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == notification_id)).mappings().first()
        return None if row is None else {k: v for k, v in row.items() if k != "body"}
