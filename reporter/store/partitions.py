"""The day partitions of ``samples`` on PostgreSQL.

``samples`` is PARTITIONED BY RANGE (ts) (revision 0007); each partition holds one UTC day, is named
``samples_pYYYYMMDD`` and covers ts from that day's 00:00 to the next day's (Unix ms, upper bound excluded).
There is no default partition: a row for a day without one fails (``no partition of relation "samples" found
for row``), so writers create the day's partition on demand (:meth:`Partitions.ensure`) and one day ahead.
Several nodes may race to create the same partition: creation runs under a transaction-level advisory lock
derived from the database and schema (one bigint key: it never collides with the two-int keys of the
leadership), and checks for the partition under it. Retention drops whole partitions (:meth:`Partitions.drop_before`):
no DELETE, no dead rows, no vacuum debt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAME = re.compile(r"^samples_p(\d{8})$")
LOCK_TIMEOUT = "5s"  # creating or dropping a partition locks samples: wait at most this for running queries
# one bigint advisory key per database and schema (the leadership's locks use the two-int keyspace)
LOCK_KEY = "hashtextextended(current_database() || '.' || current_schema() || '.samples partitions', 0)"


def day_of(ts_ms: int) -> int:
    """The UTC day number (days since 1970-01-01) of a Unix-ms time."""
    return ts_ms // DAY_MS


def partition_name(day: int) -> str:
    """``samples_pYYYYMMDD`` of day number ``day``."""
    return (EPOCH + timedelta(days=day)).strftime("samples_p%Y%m%d")


def is_missing_partition(exc: BaseException) -> bool:
    """True when a PostgreSQL insert failed because no partition holds the row's ts."""
    return isinstance(exc, DBAPIError) and "no partition of relation" in str(exc.orig)


@dataclass(frozen=True)
class Partition:
    """One day partition: ``name``, ``day`` (day number), ``start``/``end`` (Unix ms bounds, end excluded)."""

    name: str
    day: int

    @property
    def start(self) -> int:
        return self.day * DAY_MS

    @property
    def end(self) -> int:
        return (self.day + 1) * DAY_MS


class Partitions:
    """The day partitions of ``samples`` in the engine's schema (the search_path's first schema)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: set[int] = set()

    def ensure_for(self, ts_ms: int) -> None:
        """Make sure the partitions of ts's day and of the day after exist (once per day per process: known
        days are remembered). The day after is best effort (a failure is logged at debug: the next write tries
        again); the row's own day raises SQLAlchemy's error when it cannot be created."""
        day = day_of(ts_ms)
        if day not in self._known:
            self.ensure([day])
        if day + 1 not in self._known:
            try:
                self.ensure([day + 1])
            except DBAPIError as exc:
                log.debug("history: creating tomorrow's partition failed (%s); retried on the next write", exc)

    def forget(self, ts_ms: int) -> None:
        """Forget that ts's day has a partition (it was dropped meanwhile: the next ensure re-creates it)."""
        self._known.discard(day_of(ts_ms))

    def ensure(self, days: Iterable[int]) -> list[str]:
        """Create the partitions of ``days`` that do not exist, in one transaction under the advisory lock;
        returns the names created. Raises SQLAlchemy's errors (e.g. the lock timeout)."""
        days = sorted(set(days))
        created = []
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            conn.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})"))
            for day in days:
                name = partition_name(day)
                if conn.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is None:
                    conn.execute(text(f"CREATE TABLE {name} PARTITION OF samples "
                                      f"FOR VALUES FROM ({day * DAY_MS}) TO ({(day + 1) * DAY_MS})"))
                    created.append(name)
        self._known.update(days)
        if created:
            log.debug("history: created partitions %s", ", ".join(created))
        return created

    def existing(self, conn: Connection | None = None) -> list[Partition]:
        """The day partitions of ``samples``, oldest first (a partition not named ``samples_pYYYYMMDD`` is not
        one of ours and is left out)."""
        query = text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE i.inhparent = 'samples'::regclass")
        if conn is None:
            with self.engine.connect() as own:
                names = own.execute(query).scalars().all()
        else:
            names = conn.execute(query).scalars().all()
        parts = []
        for name in names:
            if m := NAME.match(name):
                day = (datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC) - EPOCH).days
                parts.append(Partition(name, day))
        return sorted(parts, key=lambda p: p.day)

    def drop_before(self, cutoff_ms: int) -> tuple[list[str], int]:
        """Drop every partition whose upper bound is <= ``cutoff_ms`` (whole days older than the cutoff; the
        day that straddles it stays until it is wholly older), each in its own short transaction. Returns the
        names dropped and the number of rows they held. Raises SQLAlchemy's errors (a lock timeout when a long
        query holds ``samples``: the next prune tries again)."""
        dropped, rows = [], 0
        for part in self.existing():
            if part.end > cutoff_ms:
                break
            with self.engine.connect() as conn:  # counted before the drop's locks are taken (~1 s for 4 M rows)
                held = conn.execute(text(f"SELECT count(*) FROM {part.name}")).scalar_one()
            with self.engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                conn.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})"))
                if conn.execute(text("SELECT to_regclass(:name)"), {"name": part.name}).scalar() is None:
                    continue  # another node dropped it meanwhile
                conn.execute(text(f"DROP TABLE {part.name}"))
            rows += held
            self._known.discard(part.day)
            dropped.append(part.name)
        return dropped, rows
