"""The persistent outbox: notifications are rows before they are requests; delivery is at least once.

Each receiver's notifications go out oldest first, and each receiver's queue is delivered on its own: a receiver
that is down, or slow to answer (up to its ``timeout``), holds back only its own queue. A row is claimed with a
conditional UPDATE (a lease, :mod:`reporter.store.leases`) before sending, so two processes sharing the history
(the daemon and ``reporter test-alert``) never send the same row at once. Every attempt is recorded; retries
wait by the leased queues' one backoff policy, capped per receiver.

The database calls are short (one indexed query or update each) because they run on the notifier's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from reporter.base.ms import from_ms, to_ms
from reporter.base.timefmt import duration, format_utc
from reporter.failures import FailureLog
from reporter.notify.receivers.base import Attempt
from reporter.notify.retry import DELIVERED, FAILED
from reporter.store.alert_schema import delivery_attempts, outbox
from reporter.store.fence import Fenced
from reporter.store.leases import Backoff, FenceCheck, LeasedQueue

if TYPE_CHECKING:  # httpx loads only when there is something to send
    import httpx

log = logging.getLogger(__name__)

EXPIRED = "expired"
FINISHED = (DELIVERED, FAILED, EXPIRED)  # outcomes after which the receiver's next row may go at once


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Destination(Protocol):
    """A configured receiver as the outbox sees it (``reporter.alerting.config.Receiver``): its name, the
    deadline of one attempt (``timeout``, seconds), its own cap on the wait between attempts (``backoff_max``,
    seconds; None = the default's), and ``send``, which its receiver type implements (the outbox knows no type)."""

    name: str
    timeout: float
    backoff_max: float | None

    async def send(self, client: Any, notification_id: str, body: bytes) -> Attempt: ...


class Policy(Protocol):
    """The retry policy (``reporter.alerting.config.Defaults``), seconds: first wait ``backoff_initial``,
    longest ``backoff_max``, a notification older than ``max_age`` expires."""

    backoff_initial: float
    backoff_max: float
    max_age: float


class Outbox:
    """Delivers pending outbox rows for the configured receivers.

    ``clock`` gives the current UTC time (the wall clock by default; tests inject their own): it stamps
    attempts, schedules retries and ages rows against ``max_age``. ``rng``: the random source of the retry
    jitter (None: the ``random`` module). Claims, leases and attempts are the leased queues'
    (:class:`reporter.store.leases.LeasedQueue` over ``outbox``, keyed by notification id).

    ``fence``: the leader's fence (:class:`reporter.store.fence.Fence`), checked with every claim and every
    delivery record; a fenced claim sends nothing, a fenced record leaves the row pending under its id for the new
    leader. None (``test-alert``, a single host) is unfenced. The daemon sets it at each election.

    An attempt whose record fails (the history cannot be written) is kept in memory and recorded before
    anything else is done with its row (the record's error is raised again while it lasts): this process never
    sends a notification again because its record failed.
    """

    def __init__(self, engine: Engine, receivers: Sequence[Destination], defaults: Policy,
                 clock: Callable[[], datetime] = _utcnow, rng: random.Random | None = None,
                 fence: FenceCheck | None = None) -> None:
        self.engine, self.defaults, self.clock, self.rng = engine, defaults, clock, rng
        self.fence = fence
        self.queue = LeasedQueue(engine, outbox, "id", ("pending",))
        self.receivers = {r.name: r for r in receivers}
        # a receiver that keeps failing is one failure, keyed by receiver: a line when it starts, a reminder at most
        # every 5 minutes, a line when it takes a notification again (never a line per retry); on the outbox's clock
        self.failures = FailureLog(log, clock=lambda: self.clock().timestamp())
        self._asked_longer: set[str] = set()  # receivers told that their Retry-After was cut (until delivered)
        # attempts of this process by (receiver, outcome: delivered, retry, failed, expired), for /metrics
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.recorded = 0  # attempts recorded by this process: receiver health is read again when it grows
        # attempts made but not recorded (the history could not be written: disk full, database down), by
        # notification id: recorded before anything else is done with the row, so a notification this process
        # delivered is never sent again because its record failed
        self._unrecorded: dict[str, tuple[Attempt, datetime]] = {}

    def backoff_max(self, receiver: Destination) -> float:
        """The longest wait between two attempts for ``receiver``, seconds (its own, else the default)."""
        return self.defaults.backoff_max if receiver.backoff_max is None else receiver.backoff_max

    def backoff(self, receiver: Destination) -> Backoff:
        """The wait between attempts for ``receiver``: the leased queues' one policy, from ``backoff_initial``
        doubling up to the receiver's :meth:`backoff_max`, jittered."""
        return Backoff(self.defaults.backoff_initial, self.backoff_max(receiver), self.rng)

    def _asked(self, receiver: Destination, seconds: float | None) -> float | None:
        """The pause a ``Retry-After: seconds`` answer asked for, which the backoff honours up to the receiver's
        ``backoff_max`` (so that one answer cannot mute a receiver, and hold its queue, resolutions included,
        for hours). A longer request is logged once (until the receiver takes a notification again)."""
        cap = self.backoff_max(receiver)
        if seconds is not None and seconds > cap and receiver.name not in self._asked_longer:
            self._asked_longer.add(receiver.name)
            log.warning("receiver %s asked to wait %s (Retry-After); waiting at most its backoff_max, %g s",
                        receiver.name, duration(seconds), cap)
        return seconds

    def head(self, receiver: str) -> dict | None:
        """The oldest pending row of ``receiver`` (due or not, leased or not), or None when its queue is empty."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(outbox).where(outbox.c.receiver == receiver, outbox.c.status == "pending")
                .order_by(outbox.c.created_at, outbox.c.id).limit(1)).mappings().first()
        return None if row is None else dict(row)

    def configure(self, receivers: Sequence[Destination], defaults: Policy) -> None:
        """Deliver for these receivers from now on (SIGHUP); rows of a receiver no longer configured stay
        queued, as after a restart."""
        self.receivers, self.defaults = {r.name: r for r in receivers}, defaults

    def pending_counts(self) -> dict[str, int]:
        """Queued (pending) notifications by receiver."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.receiver, func.count()).where(outbox.c.status == "pending")
                                .group_by(outbox.c.receiver)).all()
        return {receiver: count for receiver, count in rows}

    def backlog(self, now: datetime | None = None) -> dict[str, tuple[int, float]]:
        """Undelivered (pending) notifications by receiver: (how many, age of the oldest in seconds at ``now``,
        the outbox's clock by default). One grouped query; a receiver with nothing pending is absent."""
        now = now or self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.receiver, func.count(), func.min(outbox.c.created_at))
                                .where(outbox.c.status == "pending").group_by(outbox.c.receiver)).all()
        return {receiver: (count, max(0.0, (now - from_ms(oldest)).total_seconds()))
                for receiver, count, oldest in rows}

    def heads(self, now: datetime) -> list[dict]:
        """The oldest pending row of each receiver, if it is due and not leased by another sender."""
        return [row for name in self.receivers if (row := self.head(name)) is not None
                and self.queue.is_claimable(row, now)]

    def next_due(self, receiver: str | None = None) -> datetime | None:
        """When the next row can be tried: of ``receiver`` (its head's retry time or lease end), or the
        earliest pending row of any receiver; None when nothing is pending."""
        if receiver is not None:
            row = self.head(receiver)
            return None if row is None else from_ms(self.queue.ready_at(row))
        with self.engine.connect() as conn:
            value = conn.execute(select(outbox.c.next_attempt_at).where(outbox.c.status == "pending")
                                 .order_by(outbox.c.next_attempt_at).limit(1)).scalar()
        return from_ms(value)

    async def deliver_next(self, client: httpx.AsyncClient, receiver: str) -> str | None:
        """Try the head of ``receiver``'s queue if it is due; returns the outcome (delivered, retry, failed,
        expired), or None when nothing is due (empty queue, waiting for a retry, or leased by another sender)."""
        row = self.head(receiver)
        if row is None:
            return None
        if row["id"] in self._unrecorded:
            return self._record_known(row)
        now = self.clock()
        row = self._bring_back(row, now)
        if not self.queue.is_claimable(row, now):
            return None
        return await self._deliver(client, row)

    def _bring_back(self, row: dict, now: datetime) -> dict:
        """``row`` with a retry time or lease end later than this policy can set them at ``now`` (retry: the
        receiver's ``backoff_max``; lease: its timeout + 5 s) moved to ``now``: they were set before the wall clock
        stepped back (NTP, ``date -s``, also while the daemon was down), and would otherwise hold the receiver's
        queue, resolutions included, for as long as the step (hours). Each change is a conditional UPDATE."""
        receiver = self.receivers.get(row["receiver"])
        if receiver is None:
            return row
        now_ms, c = to_ms(now), outbox.c
        latest_retry = now_ms + int((self.backoff_max(receiver) + 1) * 1000)
        latest_lease = now_ms + int((receiver.timeout + 6) * 1000)
        changes: dict[str, Any] = {}
        if (row["next_attempt_at"] or 0) <= latest_retry and (row["lease_until"] or 0) <= latest_lease:
            return row  # the usual case: no transaction
        with self.engine.begin() as conn:
            if (row["next_attempt_at"] or 0) > latest_retry and conn.execute(
                    update(outbox).where(c.id == row["id"], c.status == "pending", c.next_attempt_at > latest_retry)
                    .values(next_attempt_at=now_ms)).rowcount == 1:
                changes["next_attempt_at"] = now_ms
            if (row["lease_until"] or 0) > latest_lease and conn.execute(
                    update(outbox).where(c.id == row["id"], c.status == "pending", c.lease_until > latest_lease)
                    .values(lease_until=None)).rowcount == 1:
                changes["lease_until"] = None
        if changes:
            log.warning("notification %s to %s: its %s lay beyond what its policy sets (the wall clock stepped "
                        "back); due now", row["id"], receiver.name,
                        " and ".join("retry time" if k == "next_attempt_at" else "lease" for k in changes))
        return {**row, **changes}

    def _record_known(self, row: dict) -> str | None:
        """Record the attempt made on ``row`` whose record failed (raises again while the store fails); its
        outcome. Nothing is sent."""
        attempt, at = self._unrecorded[row["id"]]
        receiver = self.receivers.get(row["receiver"])
        if receiver is None:  # removed by a reload: the row is left as it is
            del self._unrecorded[row["id"]]
            return None
        try:
            self._record(row, receiver, attempt, at)
        except Fenced:  # no longer the leader: the lease runs out and the new leader sends it under its id
            del self._unrecorded[row["id"]]
            return None
        del self._unrecorded[row["id"]]
        log.info("notification %s to %s: the attempt of %s (%s) is recorded now that the history can be "
                 "written; it is not sent again", row["id"], receiver.name, format_utc(at), attempt.outcome)
        return attempt.outcome

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
            self.queue.close(row["id"], EXPIRED)
            self.outcomes[(receiver.name, EXPIRED)] += 1
            log.error("notification %s to %s expired after %d attempt(s) over %s; last error: %s",
                      row["id"], receiver.name, row["attempts"], timedelta(seconds=self.defaults.max_age),
                      row["last_error"])
            return EXPIRED
        try:
            if self.queue.claim(row["id"], now, receiver.timeout + 5, fence=self.fence) is None:
                return None
        except Fenced as exc:
            self.failures.failed("fence", f"notification {row['id']} to {receiver.name} not sent: this node is "
                                 f"no longer the leader ({exc}); the leader sends it")
            return None
        try:
            attempt = await receiver.send(client, row["id"], row["body"])
        except asyncio.CancelledError:  # given back: sent again at once (at least once)
            self.queue.release(row["id"])
            raise
        at = self.clock()
        try:
            self._record(row, receiver, attempt, at)
        except Fenced as exc:  # the lease runs out, then the new leader sends it again, under the same id
            log.warning("notification %s to %s: attempt (%s) not recorded: this node is no longer the leader "
                        "(%s); the leader retries it under the same id", row["id"], receiver.name,
                        attempt.outcome, exc)
            return None
        except Exception:
            self._unrecorded[row["id"]] = (attempt, at)  # recorded first at the next pass, never sent again
            raise
        return attempt.outcome

    def _record(self, row: dict, receiver: Destination, attempt: Attempt, now: datetime) -> None:
        values = {"last_status_code": attempt.status_code, "last_error": attempt.error,
                  "last_response": attempt.response}
        status, retry = None, None
        if attempt.outcome == DELIVERED:
            status, values["delivered_at"] = "delivered", to_ms(now)
        elif attempt.outcome == FAILED:
            status = "failed"
        else:
            retry = self.backoff(receiver)
        with self.engine.begin() as conn:
            recorded = self.queue.attempted(row["id"], now, status=status, retry=retry, values=values, conn=conn,
                                            fence=self.fence,
                                            asked=self._asked(receiver, attempt.retry_after) if retry else None)
            conn.execute(insert(delivery_attempts).values(
                notification_id=row["id"], at=to_ms(now), duration_ms=attempt.duration_ms,
                status_code=attempt.status_code, outcome=attempt.outcome, error=attempt.error))
        attempts = recorded.attempts
        self.outcomes[(receiver.name, attempt.outcome)] += 1
        self.recorded += 1
        if attempt.outcome == DELIVERED:
            log.info("notification %s delivered to %s (attempt %d)", row["id"], receiver.name, attempts)
            self.failures.ok(f"receiver {receiver.name}")
            self._asked_longer.discard(receiver.name)
        elif attempt.outcome == FAILED:
            log.error("notification %s to %s failed permanently: %s; response: %s. Fix the receiver "
                      "configuration, then `reporter test-alert --receiver %s`", row["id"], receiver.name,
                      attempt.error, (attempt.response or "")[:200], receiver.name)
        else:
            # a receiver that is down is one failure (logged when it starts, every 5 min, when it ends), not a
            # line per attempt
            self.failures.failed(f"receiver {receiver.name}", f"notification {row['id']} not delivered "
                                 f"({attempt.error}); retry {attempts + 1} in {recorded.delay:.1f} s")

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
