"""Leased queue rows: claim a row with a lease, count its attempts, back off between them.

One helper for the three queues of the history database: the notification ``outbox`` (:mod:`reporter.notify.outbox`),
the ``report_emails`` queue (:mod:`reporter.report.mail`) and the report claims in ``reports``
(:mod:`reporter.report.schedule`). Each queue's table has a key column, ``status``, ``attempts``,
``next_attempt_at`` and ``lease_until`` (Unix milliseconds); the report claims also record their holder
(``claimed_by``, ``host:pid:start`` from :mod:`reporter.report.holder`).

A row is *claimable* when its status is one of the queue's open statuses, it is due (``next_attempt_at`` unset or
passed) and not leased (``lease_until`` unset or passed), or when its holder is known to be dead. A claim is one
conditional UPDATE (or an INSERT for a queue that creates its rows on first claim) whose row count says who won:
two processes sharing the history (the daemon and a CLI command) never hold one row at once, on SQLite as on
PostgreSQL. A holder that dies keeps the row only until its lease runs out. Every claim goes through
:meth:`LeasedQueue.claim`; a leader passes its fence (:class:`reporter.store.fence.Fence`) to :meth:`LeasedQueue.claim`
and :meth:`LeasedQueue.attempted`, which check it in their own transaction (a stale leader's claim or attempt
raises :class:`reporter.store.fence.Fenced` and changes nothing: the row stays, under its id, for the new leader).

The one backoff policy (:class:`Backoff`): exponential from ``initial``, capped at ``maximum``, jittered between
half and all of the step, so that retries of many rows (or of many hosts) do not fall due together.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from reporter.base.ms import to_ms


class FenceCheck(Protocol):
    """A fencing condition checked in a claim's or attempt's transaction (:class:`reporter.store.fence.Fence`):
    ``check(conn)`` raises :class:`reporter.store.fence.Fenced` when the caller is no longer the leader."""

    def check(self, conn: Connection) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """The retry policy of every leased queue: after ``failures`` failed attempts, wait
    ``initial * 2**(failures - 1)`` seconds capped at ``maximum``, jittered uniformly between half and all of it.

    ``initial`` and ``maximum`` are seconds (> 0; a maximum below ``initial`` caps the first step too); ``rng`` is
    the random source (the ``random`` module when None; tests pass a seeded ``random.Random``).
    """

    initial: float
    maximum: float
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.maximum > 0):
            raise ValueError(f"backoff needs initial and maximum > 0 (got {self.initial:g} s, {self.maximum:g} s)")

    def bounds(self, failures: int) -> tuple[float, float]:
        """The (shortest, longest) wait in seconds after ``failures`` failed attempts (1 = the first failure)."""
        step = min(self.maximum, self.initial * 2 ** max(0, failures - 1))
        return step / 2, step

    def delay(self, failures: int, asked: float | None = None) -> float:
        """Seconds to wait after ``failures`` failed attempts: a jittered draw within :meth:`bounds`. ``asked`` is
        a pause the other side requested (an HTTP ``Retry-After``, seconds): honoured up to ``maximum``, so one
        answer cannot hold the queue for longer than the cap."""
        low, high = self.bounds(failures)
        delay = (self.rng or random).uniform(low, high)
        if asked is not None:
            delay = max(delay, min(asked, self.maximum))
        return delay


@dataclass(frozen=True)
class Claim:
    """A won claim: the row ``key``, its lease end (Unix ms), and ``took_over``: the holder whose claim was taken
    over because its process is dead (None for a free or expired row)."""

    key: str
    lease_until: int
    took_over: str | None = None


@dataclass(frozen=True)
class Attempt:
    """A recorded attempt: the row's attempt count now, and the seconds until the next one (None when the row was
    not scheduled again)."""

    attempts: int
    delay: float | None = None


class LeasedQueue:
    """Claims, leases and attempts on the rows of ``table``.

    ``key``: the name of the key column (a string key). ``open_statuses``: the statuses a claim may take a row in
    (``pending`` for the outbox and the email queue; ``claimed`` and ``failed`` for the report claims).
    ``claimed_status``: the status a claim sets (None leaves it: an outbox row stays ``pending`` while leased).
    ``holder``: the column recording who holds the claim (None: not recorded); ``is_dead(holder) -> bool`` says
    that a holder's process is gone, so its claim can be taken over before its lease ends.
    """

    def __init__(self, engine: Engine, table: Table, key: str, open_statuses: tuple[str, ...], *,
                 claimed_status: str | None = None, holder: str | None = None,
                 is_dead: Callable[[str | None], bool] | None = None) -> None:
        self.engine, self.table, self.open_statuses = engine, table, open_statuses
        self.key = table.c[key]
        self.claimed_status = claimed_status
        self.holder = None if holder is None else table.c[holder]
        self.is_dead = is_dead if self.holder is not None else None

    # ---- which rows can be claimed ------------------------------------------------------------------------------

    def claimable(self, now: datetime) -> ColumnElement[bool]:
        """The SQL condition of rows a claim at ``now`` takes (open, due, not leased), for listing due rows. Rows
        held by a dead holder are not in it (telling needs the process table): see :meth:`is_claimable`."""
        now_ms, c = to_ms(now), self.table.c
        return and_(c.status.in_(self.open_statuses),
                    or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now_ms),
                    or_(c.lease_until.is_(None), c.lease_until <= now_ms))

    def is_claimable(self, row: Mapping[Any, Any], now: datetime) -> bool:
        """Whether a claim at ``now`` would take ``row`` (a mapping of the table's columns): the SQL condition of
        :meth:`claimable`, or an open, due row whose holder is dead."""
        now_ms = to_ms(now)
        if row["status"] not in self.open_statuses or (row["next_attempt_at"] or 0) > now_ms:
            return False
        if (row["lease_until"] or 0) <= now_ms:
            return True
        return self.is_dead is not None and self.holder is not None and self.is_dead(row[self.holder.name])

    @staticmethod
    def ready_at(row: Mapping[Any, Any]) -> int:
        """When ``row`` can be claimed at the earliest (Unix ms): its retry time or its lease end, the later."""
        return max(row["next_attempt_at"] or 0, row["lease_until"] or 0)

    # ---- claims ------------------------------------------------------------------------------------------------

    def claim(self, key: str, now: datetime, lease_seconds: float, *, holder: str | None = None,
              values: Mapping[str, Any] | None = None, create: Mapping[str, Any] | None = None,
              fence: FenceCheck | None = None) -> Claim | None:
        """Claim row ``key`` at ``now`` for ``lease_seconds``; None when another holder has it, it is not due, or
        it is closed (or, without ``create``, absent).

        ``holder`` is recorded in the holder column (when the queue has one); ``values`` are set with the claim
        (e.g. ``updated_at``). ``create``: when given, an absent row is inserted with these values plus the claim's
        (the report claims create their row on first claim); two creators race on the primary key. ``fence``: the
        leader's fence, checked first in the claim's transaction (raises :class:`reporter.store.fence.Fenced`,
        nothing claimed); None (CLI commands, a single host) claims unfenced.

        This is the one place a claim is decided: one transaction holding an INSERT (in a savepoint) and/or a
        conditional UPDATE whose row count tells whether this caller won; a dead holder's claim is taken over by
        a compare-and-set on that holder, so a live process claiming it meanwhile wins.
        """
        now_ms = to_ms(now)
        lease_until = now_ms + int(lease_seconds * 1000)
        claim_values: dict[str, Any] = {"lease_until": lease_until, **(values or {})}
        if self.claimed_status is not None:
            claim_values["status"] = self.claimed_status
        if self.holder is not None:
            claim_values[self.holder.name] = holder
        with self.engine.begin() as conn:
            if fence is not None:
                fence.check(conn)
            if create is not None and self._create(conn, key, {**create, **claim_values}):
                return Claim(key, lease_until)
            if self._update(conn, key, self.claimable(now), claim_values):
                return Claim(key, lease_until)
            if self.is_dead is None or self.holder is None:
                return None
            row = conn.execute(select(self.table).where(self.key == key)).mappings().first()
            if row is None or not self.is_claimable(row, now):
                return None
            dead = row[self.holder.name]  # a compare-and-set on the dead holder: a live claimer meanwhile wins
            due = or_(self.table.c.next_attempt_at.is_(None), self.table.c.next_attempt_at <= now_ms)
            if self._update(conn, key, and_(self.table.c.status.in_(self.open_statuses), due, self.holder == dead),
                            claim_values):
                return Claim(key, lease_until, took_over=dead)
        return None

    def _create(self, conn: Connection, key: str, values: Mapping[str, Any]) -> bool:
        try:
            with conn.begin_nested():
                conn.execute(insert(self.table).values({self.key.name: key, **values}))
        except IntegrityError:
            return False
        return True

    def _update(self, conn: Connection, key: str, condition: ColumnElement[bool], values: Mapping[str, Any]) -> bool:
        return conn.execute(update(self.table).where(self.key == key, condition).values(**values)).rowcount == 1

    def release(self, key: str) -> None:
        """Give a claimed row back without counting an attempt (an attempt cut short by shutdown): it can be
        claimed again at once."""
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self.key == key, self.table.c.status.in_(self.open_statuses))
                         .values(lease_until=None))

    # ---- attempts ----------------------------------------------------------------------------------------------

    def attempted(self, key: str, now: datetime, *, status: str | None = None, retry: Backoff | None = None,
                  asked: float | None = None, values: Mapping[str, Any] | None = None,
                  conn: Connection | None = None, fence: FenceCheck | None = None) -> Attempt:
        """Record one attempt of the claimed row ``key`` at ``now``: count it, end the lease, set ``status`` (None
        leaves it) and ``values``. With ``retry``, the row is due again after ``retry.delay(attempts, asked)``
        seconds (``asked``: a pause the other side requested, capped by the policy).

        ``conn``: run in the caller's transaction (to write related rows with it); else in one of its own.
        ``fence``: the leader's fence, checked first (raises :class:`reporter.store.fence.Fenced`: nothing is
        recorded, and the caller's transaction is to be rolled back). Returns the attempt count and the delay.
        """
        if conn is None:
            with self.engine.begin() as own:
                return self.attempted(key, now, status=status, retry=retry, asked=asked, values=values, conn=own,
                                      fence=fence)
        if fence is not None:
            fence.check(conn)
        c = self.table.c
        changes: dict[str, Any] = {"attempts": func.coalesce(c.attempts, 0) + 1, "lease_until": None, **(values or {})}
        if status is not None:
            changes["status"] = status
        conn.execute(update(self.table).where(self.key == key).values(**changes))  # takes the row's write lock
        attempts = conn.execute(select(c.attempts).where(self.key == key)).scalar() or 0
        if retry is None:
            return Attempt(attempts)
        delay = retry.delay(attempts, asked)
        conn.execute(update(self.table).where(self.key == key)
                     .values(next_attempt_at=to_ms(now) + int(delay * 1000)))
        return Attempt(attempts, delay)

    def close(self, key: str, status: str) -> bool:
        """Close an open row with ``status`` without counting an attempt (an outbox row too old to send); False
        when it was no longer open."""
        with self.engine.begin() as conn:
            return conn.execute(update(self.table).where(self.key == key, self.table.c.status.in_(self.open_statuses))
                                .values(status=status, lease_until=None)).rowcount == 1
