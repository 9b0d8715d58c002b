"""The hosts of a history: who writes into it, their latest sample, and the leadership record.

``hosts`` has one row per host name (see :mod:`reporter.store.fleet_schema`). A node registers its row at start
(:meth:`HostRegistry.register`) and updates it in the transaction of every sample it writes
(:func:`upsert_sample`: ``last_sample`` only moves forward, so a spooled older row written late does not move
it back). The leader reads every host's latest snapshot from it; ``/api/v1/hosts`` and ``reporter hosts`` list
it. ``leadership`` is written by the fleet's election (reporter.fleet); :meth:`HostRegistry.leader` reads it.
A host decommissioned for good loses its row (:meth:`HostRegistry.remove`, ``reporter hosts forget``); its samples
stay until retention prunes them, and it registers again (a new row) if it ever starts again.
"""

from __future__ import annotations

import builtins
import functools
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from reporter.base.ms import from_ms, to_ms
from reporter.store.fleet_schema import hosts, leadership


@dataclass(frozen=True)
class HostRow:
    """One ``hosts`` row. Times are aware UTC datetimes (``last_sample`` None before its first sample);
    ``snapshot`` is the host's latest snapshot as JSON text (None when none was stored: on SQLite, or before
    its first sample); ``status`` its overall status (``healthy``...); ``role`` ``node`` or ``agent``."""

    name: str
    node_id: str
    role: str
    version: str
    pid: int | None
    address: str | None
    started_at: datetime
    seen_at: datetime
    last_sample: datetime | None
    status: str | None
    snapshot: str | None


@dataclass(frozen=True)
class Registration:
    """What a node records of itself in its ``hosts`` row (:meth:`HostRegistry.register`): ``node_id`` (random
    per process), ``role``, ``version``, ``pid``, ``address`` (its HTTP URL), ``started_at`` (Unix ms)."""

    node_id: str
    role: str
    version: str
    pid: int | None
    address: str | None
    started_at: int


def _insert(conn: Connection):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(hosts)


def upsert_sample(conn: Connection, host: str, ts: int, now_ms: int, snapshot: str | None = None,
                  status: str | None = None, registration: Registration | None = None) -> None:
    """In the caller's transaction: the ``hosts`` row of ``host`` after it stored a sample at ``ts`` (Unix ms):
    ``last_sample`` = the later of the stored one and ``ts``, ``seen_at`` = ``now_ms``, and ``snapshot`` /
    ``status`` when given (left as they are when None: a spooled row written late). A host with no row yet gets
    one: with ``registration`` (the writing node's own, when it registered) as if it had registered again (its
    row was deleted while it ran: ``reporter hosts forget`` of a node cut off from the database); without, role
    ``node`` and an empty node id and version until it registers. PostgreSQL and SQLite only (a no-op on other
    databases)."""
    if conn.dialect.name not in ("postgresql", "sqlite"):
        return
    statement = _upsert(conn.dialect.name, snapshot is not None, status is not None)
    mine = registration or Registration("", "node", "", None, None, now_ms)
    conn.execute(statement, {"name": host, "ts": ts, "now": now_ms, "snapshot": snapshot, "status": status,
                             "node_id": mine.node_id, "role": mine.role, "version": mine.version, "pid": mine.pid,
                             "address": mine.address, "started_at": mine.started_at})


@functools.cache
def _upsert(dialect: str, with_snapshot: bool, with_status: bool):
    """The upsert statement of :func:`upsert_sample`, built once per shape (building one costs ~1 ms of CPU;
    executing a built one, with its compiled form cached, a tenth of that)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(hosts).values(
        name=bindparam("name"), node_id=bindparam("node_id"), role=bindparam("role"), version=bindparam("version"),
        pid=bindparam("pid"), address=bindparam("address"), started_at=bindparam("started_at"),
        seen_at=bindparam("now"), last_sample=bindparam("ts"), snapshot=bindparam("snapshot"),
        status=bindparam("status"))
    stored, new = hosts.c.last_sample, insert.excluded.last_sample
    changes = {"seen_at": insert.excluded.seen_at,
               "last_sample": case((stored.is_(None) | (stored < new), new), else_=stored)}
    if with_snapshot:
        changes["snapshot"] = insert.excluded.snapshot
    if with_status:
        changes["status"] = insert.excluded.status
    return insert.on_conflict_do_update(index_elements=[hosts.c.name], set_=changes)


class HostRegistry:
    """The ``hosts`` and ``leadership`` rows of the history behind ``engine`` (PostgreSQL or SQLite, at
    revision 0007 or later). Every method raises SQLAlchemy's errors when the database cannot be read or
    written."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, name: str, node_id: str, role: str, version: str, pid: int | None, address: str | None,
                 now: datetime) -> Registration:
        """Record the node now running as host ``name`` (at its start): ``node_id`` (random per process),
        ``role`` (``node``/``agent``), ``version``, ``pid``, ``address`` (its HTTP URL), ``started_at`` and
        ``seen_at`` = ``now``. The host's last sample, status and snapshot stay. Returns what was recorded (for
        :func:`upsert_sample`, should the row be deleted while the node runs)."""
        at = to_ms(now)
        registration = Registration(node_id, role, version, pid, address, at)
        fields = {**asdict(registration), "seen_at": at}
        with self.engine.begin() as conn:
            insert = _insert(conn).values(name=name, **fields)
            conn.execute(insert.on_conflict_do_update(
                index_elements=[hosts.c.name], set_={key: insert.excluded[key] for key in fields}))
        return registration

    def list(self, snapshots: bool = True) -> builtins.list[HostRow]:
        """Every host, by name; ``snapshots=False`` leaves the ``snapshot`` JSON unread (None in the rows: a few
        KB per host that a listing of the hosts does not need)."""
        columns = hosts.c if snapshots else [c for c in hosts.c if c.name != "snapshot"]
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(select(*columns).order_by(hosts.c.name)).mappings()]

    def get(self, name: str, conn: Connection | None = None) -> HostRow | None:
        """The row of host ``name`` (None when it never wrote or registered); read in ``conn``'s transaction when
        given."""
        if conn is None:
            with self.engine.connect() as own:
                return self.get(name, own)
        row = conn.execute(select(hosts).where(hosts.c.name == name)).mappings().first()
        return None if row is None else self._row(row)

    @staticmethod
    def remove(conn: Connection, name: str) -> bool:
        """In the caller's transaction: delete the ``hosts`` row of ``name`` (a host gone for good); True when
        there was one. Its samples are left to retention; the leader resolves its alerts at its next evaluation
        (:mod:`reporter.alerting.fleet`)."""
        return conn.execute(delete(hosts).where(hosts.c.name == name)).rowcount > 0

    def leader(self) -> tuple[str, str, int] | None:
        """``(host, node_id, epoch)`` of the leader as last recorded (None when no node ever led). The record
        says who took over last, not that it is alive: its ``hosts`` row's ``seen_at`` tells that."""
        with self.engine.connect() as conn:
            row = conn.execute(select(leadership.c.host, leadership.c.node_id, leadership.c.epoch)
                               .where(leadership.c.id == 1)).first()
        if row is None or row.host is None:
            return None
        return row.host, row.node_id or "", int(row.epoch)

    @staticmethod
    def _row(row) -> HostRow:
        return HostRow(
            name=row["name"], node_id=row["node_id"], role=row["role"], version=row["version"], pid=row["pid"],
            address=row["address"], started_at=from_ms(row["started_at"]), seen_at=from_ms(row["seen_at"]),
            last_sample=from_ms(row["last_sample"]), status=row["status"], snapshot=row.get("snapshot"))

