"""The persistent outbox: notifications are rows before they are requests; delivery is at least once.

Each receiver's notifications go out oldest first, and each receiver's queue is delivered on its own: a receiver
that is down, or slow to answer (up to its ``timeout``), holds back only its own queue. A row is claimed with a
conditional UPDATE (a lease) before sending, so two processes sharing the history (the daemon and
``reporter test-alert``) never send the same row at once. Every attempt is recorded.

The database calls are short (one indexed query or update each) because they run on the notifier's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from reporter.alerting.config import Defaults, Receiver
from reporter.alerting.state import from_ms
from reporter.failures import FailureLog, duration
from reporter.notify.retry import DELIVERED, FAILED, backoff_seconds

if TYPE_CHECKING:  # httpx (and the sender) load only when there is something to send
    import httpx

    from reporter.notify.sender import Attempt
from reporter.store.alert_schema import delivery_attempts, outbox
from reporter.store.history import to_ms

log = logging.getLogger(__name__)

EXPIRED = "expired"
FINISHED = (DELIVERED, FAILED, EXPIRED)  # outcomes after which the receiver's next row may go at once


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Delivers pending outbox rows for the configured receivers.

    ``clock`` gives the current UTC time (the wall clock by default; tests inject their own): it stamps
    attempts, schedules retries and ages rows against ``max_age``.
    """

    def __init__(self, engine: Engine, receivers: list[Receiver], defaults: Defaults,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine, self.defaults, self.clock = engine, defaults, clock
        self.receivers = {r.name: r for r in receivers}
        # a receiver that keeps failing is one failure, keyed by receiver: a line when it starts, a reminder at most
        # every 5 minutes, a line when it takes a notification again (never a line per retry); on the outbox's clock
        self.failures = FailureLog(log, clock=lambda: self.clock().timestamp())
        self._asked_longer: set[str] = set()  # receivers told that their Retry-After was cut (until delivered)

    def backoff_max(self, receiver: Receiver) -> float:
        """The longest wait between two attempts for ``receiver``, seconds (its own, else the default)."""
        return self.defaults.backoff_max if receiver.backoff_max is None else receiver.backoff_max

    def _retry_after(self, receiver: Receiver, seconds: float) -> float:
        """The pause after a ``Retry-After: seconds`` answer: at most the receiver's ``backoff_max``, so that one
        answer cannot mute a receiver (and hold its queue, resolutions included) for hours. A longer request is
        logged once (until the receiver takes a notification again)."""
        cap = self.backoff_max(receiver)
        if seconds > cap and receiver.name not in self._asked_longer:
            self._asked_longer.add(receiver.name)
            log.warning("receiver %s asked to wait %s (Retry-After); waiting at most its backoff_max, %g s",
                        receiver.name, duration(seconds), cap)
        return min(seconds, cap)

    def head(self, receiver: str) -> dict | None:
        """The oldest pending row of ``receiver`` (due or not, leased or not), or None when its queue is empty."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(outbox).where(outbox.c.receiver == receiver, outbox.c.status == "pending")
                .order_by(outbox.c.created_at, outbox.c.id).limit(1)).mappings().first()
        return None if row is None else dict(row)

    def configure(self, receivers: list[Receiver], defaults: Defaults) -> None:
        """Deliver for these receivers from now on (SIGHUP); rows of a receiver no longer configured stay
        queued, as after a restart."""
        self.receivers, self.defaults = {r.name: r for r in receivers}, defaults

    def pending_counts(self) -> dict[str, int]:
        """Queued (pending) notifications by receiver."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.receiver, func.count()).where(outbox.c.status == "pending")
                                .group_by(outbox.c.receiver)).all()
        return {receiver: count for receiver, count in rows}

    def heads(self, now: datetime) -> list[dict]:
        """The oldest pending row of each receiver, if it is due and not leased by another sender."""
        now_ms = to_ms(now)
        return [row for name in self.receivers if (row := self.head(name)) is not None
                and row["next_attempt_at"] <= now_ms and (row["lease_until"] or 0) <= now_ms]

    def next_due(self, receiver: str | None = None) -> datetime | None:
        """When the next row can be tried: of ``receiver`` (its head's retry time or lease end), or the
        earliest pending row of any receiver; None when nothing is pending."""
        if receiver is not None:
            row = self.head(receiver)
            return None if row is None else from_ms(max(row["next_attempt_at"], row["lease_until"] or 0))
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

    def release(self, row_id: str) -> None:
        """Give a claimed row back (an attempt cut short by shutdown): it is sent again at once, at least once."""
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.status == "pending")
                         .values(lease_until=None))

    async def deliver_next(self, client: httpx.AsyncClient, receiver: str) -> str | None:
        """Try the head of ``receiver``'s queue if it is due; returns the outcome (delivered, retry, failed,
        expired), or None when nothing is due (empty queue, waiting for a retry, or leased by another sender)."""
        now = self.clock()
        row = self.head(receiver)
        now_ms = to_ms(now)
        if row is None or row["next_attempt_at"] > now_ms or (row["lease_until"] or 0) > now_ms:
            return None
        return await self._deliver(client, row)

    async def drain(self, client: httpx.AsyncClient, receiver: str,
                    stopping: Callable[[], bool] = lambda: False) -> int:
        """Send ``receiver``'s due rows in order until none is due, its head waits for a retry, or ``stopping()``;
        returns the number delivered. Other receivers are not waited for."""
        delivered = 0
        while not stopping():
            outcome = await self.deliver_next(client, receiver)
            delivered += outcome == DELIVERED
            if outcome not in FINISHED:
                return delivered
        return delivered

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Drain every receiver's queue, each on its own (a slow receiver does not hold back another's sends),
        and return the number delivered once all are drained. The daemon's notifier runs one task per
        receiver instead (``reporter.notify.worker``), so that it never waits for the slowest one."""
        results = await asyncio.gather(*(self.drain(client, name) for name in self.receivers))
        return sum(results)

    async def _deliver(self, client: httpx.AsyncClient, row: dict) -> str | None:
        receiver = self.receivers.get(row["receiver"])
        if receiver is None:  # removed by a reload (SIGHUP) since the row was read
            return None
        now = self.clock()
        if (now - from_ms(row["created_at"])).total_seconds() > self.defaults.max_age:
            self._finish(row["id"], EXPIRED, now)
            log.error("notification %s to %s expired after %d attempt(s) over %s; last error: %s",
                      row["id"], receiver.name, row["attempts"], timedelta(seconds=self.defaults.max_age),
                      row["last_error"])
            return EXPIRED
        if not self.claim(row["id"], now, receiver.timeout + 5):
            return None
        from reporter.notify.sender import send

        try:
            attempt = await send(client, receiver, row["id"], row["body"])
        except asyncio.CancelledError:
            self.release(row["id"])
            raise
        self._record(row, receiver, attempt)
        return attempt.outcome

    def _record(self, row: dict, receiver: Receiver, attempt: Attempt) -> None:
        now = self.clock()
        attempts = row["attempts"] + 1
        values = {"attempts": attempts, "lease_until": None, "last_status_code": attempt.status_code,
                  "last_error": attempt.error, "last_response": attempt.response}
        if attempt.outcome == DELIVERED:
            values.update(status="delivered", delivered_at=to_ms(now))
            log.info("notification %s delivered to %s (attempt %d)", row["id"], receiver.name, attempts)
            self.failures.ok(f"receiver {receiver.name}")
            self._asked_longer.discard(receiver.name)
        elif attempt.outcome == FAILED:
            values["status"] = "failed"
            log.error("notification %s to %s failed permanently: %s; response: %s. Fix the receiver "
                      "configuration, then `reporter test-alert --receiver %s`", row["id"], receiver.name,
                      attempt.error, (attempt.response or "")[:200], receiver.name)
        else:
            delay = backoff_seconds(attempts, self.defaults.backoff_initial, self.backoff_max(receiver))
            if attempt.retry_after is not None:  # the receiver asked for a pause: honoured up to backoff_max
                delay = max(delay, self._retry_after(receiver, attempt.retry_after))
            values["next_attempt_at"] = to_ms(now + timedelta(seconds=delay))
            # a receiver that is down is one failure (logged when it starts, every 5 min, when it ends), not a
            # line per attempt
            self.failures.failed(f"receiver {receiver.name}", f"notification {row['id']} not delivered "
                                 f"({attempt.error}); retry {attempts + 1} in {delay:.1f} s")
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
