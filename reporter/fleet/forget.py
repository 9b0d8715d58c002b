"""Forgetting a host of the fleet for good (``reporter hosts forget NAME``): its ``hosts`` row is deleted, so
that it is no longer listed (``reporter hosts``, ``/api/v1/hosts``, the status page) and the leader resolves its
alerts, ``host_down`` included, at its next evaluation (:mod:`reporter.alerting.fleet`). Its samples stay until
retention prunes them. A host that starts again registers again (a new row); a node that was running but cut off
from the database (its lock gone with its session) records its row again with its next sample
(:func:`reporter.store.hosts.upsert_sample`).

A running host is never forgotten: the node of host NAME holds the host-name advisory lock (``k1`` from the
database and schema, ``k2`` = :func:`reporter.fleet.lock_session.host_key` of NAME) for as long as its session lives.
:func:`forget` takes that lock itself for its transaction (``pg_try_advisory_xact_lock``) before deleting the
row, so a node holding it is seen, and a node starting meanwhile cannot take the name until the row is gone
(the lock goes with the transaction's end).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from reporter.fleet.leader import Holder
from reporter.fleet.lock_session import host_key, space_key
from reporter.store.hosts import HostRegistry, HostRow


class HostRunning(RuntimeError):
    """The host's node is running (it holds the host-name lock); the message names it and says what to do."""


class UnknownHost(LookupError):
    """No host of that name in the fleet; the message lists the known ones."""


def check(engine: Engine, name: str) -> HostRow:
    """The ``hosts`` row of ``name`` when it may be forgotten (nothing is changed: the lock is taken and given
    back). Raises :class:`UnknownHost`, :class:`HostRunning`, or SQLAlchemy's errors (database unreachable)."""
    with engine.connect() as conn, conn.begin() as transaction:
        row = _claim(conn, engine, name)
        transaction.rollback()
    return row


def forget(engine: Engine, name: str) -> HostRow:
    """Delete the ``hosts`` row of ``name`` in one transaction holding its host-name lock; returns the row as it
    was. Raises :class:`UnknownHost`, :class:`HostRunning` (nothing deleted), or SQLAlchemy's errors."""
    with engine.begin() as conn:
        row = _claim(conn, engine, name)
        HostRegistry.remove(conn, name)
    return row


def _claim(conn: Connection, engine: Engine, name: str) -> HostRow:
    """In ``conn``'s transaction: the row of ``name``, read once its host-name lock is held (till the transaction
    ends)."""
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k1, :k2)"),
                       {"k1": space_key(database, schema), "k2": host_key(name)}).scalar()
    registry = HostRegistry(engine)
    row = registry.get(name, conn)
    if row is None:
        known = [r.name for r in registry.list(snapshots=False)]
        raise UnknownHost(f"no host {name!r} in this fleet; known hosts: {', '.join(known)}" if known
                          else f"no host {name!r} in this fleet: no host has written into this history yet")
    if not got:
        holder = Holder(row.pid, row.address, row.started_at, row.seen_at).describe()
        raise HostRunning(f"host {name!r} is running ({holder}): stop its reporter for good first, then forget it")
    return row
