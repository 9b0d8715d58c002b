"""The fencing check: a leader's writes to the leased queues go through only while its epoch is current.

Each takeover increments ``leadership.epoch`` (:mod:`reporter.fleet.leader`) in the transaction that records the
new leader. A leader's :class:`Fence` holds the epoch it took over with; :meth:`Fence.check` reads the current
epoch ``FOR SHARE`` in the caller's transaction, so a takeover (an UPDATE of that row) waits until the checked
transaction ends, and a transaction that checked a stale epoch writes nothing: a node that lost leadership can
neither claim an outbox row or a report period nor record a delivery.

That row lock must not outlive a leader that was cut off or frozen in the middle of such a transaction (the
server would otherwise keep the transaction open until its own TCP timeout, hours, and every takeover would
wait on it): the check also sets ``idle_in_transaction_session_timeout`` for the rest of the transaction, so
PostgreSQL ends the session of a fenced transaction left idle for longer than REPORTER_LEADER_KEEPALIVE.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from reporter.store.fleet_schema import leadership


class Fenced(RuntimeError):
    """This node's leadership epoch is no longer the current one (another node took over): the write it was
    about to make is refused and its transaction rolled back."""


@dataclass(frozen=True)
class Fence:
    """The epoch a leader took over with. ``check(conn)`` runs in the caller's transaction (any dialect; SQLite
    has no row locks, and no election either). ``hold_seconds``: how long PostgreSQL lets the checked
    transaction sit idle before it ends the session (REPORTER_LEADER_KEEPALIVE; the row lock goes with it)."""

    epoch: int
    hold_seconds: float = 10.0

    def check(self, conn: Connection) -> None:
        """Raise :class:`Fenced` unless ``leadership.epoch`` (row id 1, read ``FOR SHARE``) is :attr:`epoch`.
        On PostgreSQL the transaction's ``idle_in_transaction_session_timeout`` becomes ``hold_seconds``."""
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.set_config("idle_in_transaction_session_timeout",
                                                str(max(1, int(self.hold_seconds * 1000))), True)))
        current = conn.execute(select(leadership.c.epoch).where(leadership.c.id == 1)
                               .with_for_update(read=True)).scalar()
        if current != self.epoch:
            raise Fenced(f"leadership epoch is {current}, this node led at epoch {self.epoch}")
