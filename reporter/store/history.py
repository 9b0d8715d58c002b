"""The history database: write snapshots, read series back, prune by retention."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Float, MetaData, cast, create_engine, delete, event, func, inspect, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from reporter.base.ms import from_ms, to_ms
from reporter.catalog import Metric, catalog
from reporter.counters import CounterSample
from reporter.snapshot import Snapshot
from reporter.sqlite_file import lasting_file
from reporter.store.fleet_schema import hosts
from reporter.store.health import HistoryHealth
from reporter.store.hosts import Registration, upsert_sample
from reporter.store.migrate import upgrade
from reporter.store.partitions import Partitions, is_missing_partition
from reporter.store.reclaim import Reclaimed, convert, reclaim, sqlite_pragmas, vacuum_mode
from reporter.store.schema import meta_table, samples_table, usage_lists_table

log = logging.getLogger(__name__)
TS_COLLISION_RETRIES = 10  # a sample whose millisecond is taken is stored up to 10 ms later
LIST_EVERY_MS = 3600 * 1000  # a changed usage list is stored at most hourly (it is ~2 KB of JSON)
FEATURE_COLUMN = re.compile(r"^ai_([a-z][a-z0-9_]*)_requests$")


@dataclass(frozen=True)
class SampleRow:
    """One sample as stored: ``ts`` (Unix ms, UTC), ``values`` (history column -> value, None = missing),
    ``host`` (the host that sampled it; stored on PostgreSQL only) and ``lists`` (usage list kind -> JSON body,
    only the lists to store with this sample)."""

    ts: int
    values: dict[str, float | None]
    host: str
    lists: dict[str, str] = field(default_factory=dict)


def history_engine(url: str) -> Engine:
    """An engine for the history URL. SQLite: the parent folder is created, incremental auto-vacuum (a new
    file), WAL mode with a bounded WAL (see :mod:`reporter.store.reclaim`), synchronous=NORMAL, a 5 s busy
    timeout (so the daemon and a CLI command can share the file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        from reporter.base.postgres import postgres_args

        return create_engine(url, pool_pre_ping=True, pool_timeout=10,
                             connect_args=postgres_args(parsed, 10.0, read_only=False))
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_timeout=10)
    if (path := lasting_file(parsed)) is not None:  # None: in memory (tests); the settings refuse it
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 5.0, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        sqlite_pragmas(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-512")  # 512 KiB page cache per connection (the OS caches the file)
        cursor.close()

    return engine


def app_wide(metric: Metric) -> bool:
    """True for a metric of the whole application (catalog sections ``ai`` and ``usage``): sampled by the
    leader only, read across hosts."""
    return metric.section in ("ai", "usage")


class History:
    """The history database at ``url`` (any SQLAlchemy URL), created or migrated on open.

    ``host``: this node's host name (``REPORTER_HOST_NAME``): the host its samples are stored and read under.
    ``fleet``: True on PostgreSQL, where several hosts write into one history (``samples`` has a ``host``
    column and day partitions); on SQLite the history is single-host (no host column; reads of another host
    find nothing). ``registration``: what this node recorded of itself in its ``hosts`` row
    (:meth:`reporter.store.hosts.HostRegistry.register`; None until then): a sample written after the row was
    deleted records it again.

    Raises SQLAlchemy's ``OperationalError`` when the database cannot be opened or written. ``health``: the
    write health shared by every component that writes it (see :class:`reporter.store.health.HistoryHealth`).
    """

    def __init__(self, url: str, features: list[str], host: str = "localhost") -> None:
        self.url = url
        self.host = host
        self.registration: Registration | None = None
        self.health = HistoryHealth(url)
        self.engine = history_engine(url)
        self.fleet = self.engine.dialect.name == "postgresql"
        self.partitions = Partitions(self.engine) if self.fleet else None
        upgrade(self.engine, features, host)
        stored = {m.group(1) for c in inspect(self.engine).get_columns("samples")
                  if (m := FEATURE_COLUMN.match(c["name"])) and m.group(1) != "total"}
        self.features = list(features)
        self.metrics: dict[str, Metric] = catalog(self.features + sorted(stored - set(features)))
        self._written = catalog(self.features)
        self._app_wide = {name for name, metric in self.metrics.items() if app_wide(metric)}
        metadata = MetaData()
        self.samples = samples_table(metadata, list(self.metrics.values()), fleet=self.fleet)
        self.usage_lists = usage_lists_table(metadata)
        self.meta = meta_table(metadata)
        self._last_lists: dict[str, tuple[int | None, str | None]] = {}
        self._insert = self.samples.insert()

    def write(self, snapshot: Snapshot) -> None:
        """Store one snapshot: a ``samples`` row, plus a ``usage_lists`` row for each list that changed and
        was last stored an hour or more ago (the lists change with every activity; hourly keeps the file small).
        A snapshot whose millisecond is already stored (the wall clock stepped back) is stored a few ms later.
        The host's ``hosts`` row gets its status and (PostgreSQL) the snapshot's JSON in the same transaction."""
        self._store(self.prepare(snapshot), snapshot.model_dump_json() if self.fleet else None,
                    snapshot.status.value)

    def prepare(self, snapshot: Snapshot) -> SampleRow:
        """The row :meth:`write_row` stores for ``snapshot`` (a plain value: the spool keeps it as JSON)."""
        ts = to_ms(snapshot.timestamp)
        values: dict[str, float | None] = {name: metric.read(snapshot) for name, metric in self._written.items()}
        lists = {}
        if snapshot.usage is not None and snapshot.usage.collected_at == snapshot.timestamp:
            usage = snapshot.usage.model_dump(mode="json", include={"top_users", "popular_scenarios"})
            for kind, items in usage.items():
                body = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
                last_ts, last_body = self._last_list(kind)
                if last_body != body and (last_ts is None or ts - last_ts >= LIST_EVERY_MS):
                    lists[kind] = body
        return SampleRow(ts=ts, values=values, host=self.host, lists=lists)

    def write_row(self, row: SampleRow) -> int:
        """Store a prepared row (and its usage lists) in one transaction; returns the millisecond it was stored
        at (a few ms later than ``row.ts`` when that one is taken by the same host). On PostgreSQL the row goes
        under ``row.host`` and the partitions of its day and the next are created first when missing. The same
        transaction updates the ``hosts`` row of ``row.host`` (``last_sample`` moves forward only, ``seen_at``;
        see :func:`reporter.store.hosts.upsert_sample`). Raises SQLAlchemy errors when the database cannot be
        written (nothing is stored then)."""
        return self._store(row, None, None)

    def write_rows(self, rows: list[SampleRow]) -> None:
        """Store several prepared rows (a drained spool's batch) in one transaction, all or none: one insert of
        every row, their usage lists, one ``hosts`` update per host (its latest ``ts``). No ts collision
        handling: raises IntegrityError when a (host, ts) is taken (store those rows one by one with
        :meth:`write_row`), and SQLAlchemy's other errors when the database cannot be written."""
        if not rows:
            return
        if self.partitions is not None:
            for ts in sorted({row.ts for row in rows}):
                self.partitions.ensure_for(ts)
        names = sorted({name for row in rows for name in row.values if name in self.metrics})
        params = []
        for row in rows:
            values: dict[str, object] = {name: row.values.get(name) for name in names}
            if self.fleet:
                values["host"] = row.host
                values["app"] = any(v is not None for n, v in row.values.items() if n in self._app_wide)
            params.append({**values, "ts": row.ts})
        latest: dict[str, int] = {}
        for row in rows:
            host = row.host if self.fleet else self.host
            latest[host] = max(latest.get(host, row.ts), row.ts)
        lists = [(kind, row.ts, body) for row in rows for kind, body in row.lists.items()]
        with self.engine.begin() as conn:
            conn.execute(self._insert, params)
            if lists:
                conn.execute(self.usage_lists.insert(), [{"kind": k, "ts": t, "body": b} for k, t, b in lists])
            now = round(time.time() * 1000)
            for host, ts in latest.items():
                upsert_sample(conn, host, ts, now, registration=self.registration if host == self.host else None)
        for kind, ts, body in lists:
            if ts >= (self._last_lists.get(kind, (None, None))[0] or 0):
                self._last_lists[kind] = (ts, body)

    def _store(self, row: SampleRow, snapshot_json: str | None, status: str | None) -> int:
        ts, lists = row.ts, row.lists
        values: dict[str, object] = {name: value for name, value in row.values.items() if name in self.metrics}
        if self.fleet:
            values["host"] = row.host
            values["app"] = any(v is not None for n, v in row.values.items() if n in self._app_wide)
        attempt = 0
        while True:
            if self.partitions is not None:
                self.partitions.ensure_for(ts)
            try:
                with self.engine.begin() as conn:
                    conn.execute(self._insert, {**values, "ts": ts})
                    for kind, body in lists.items():
                        conn.execute(self.usage_lists.insert(), {"kind": kind, "ts": ts, "body": body})
                    host = row.host if self.fleet else self.host
                    upsert_sample(conn, host, ts, round(time.time() * 1000), snapshot_json, status,
                                  self.registration if host == self.host else None)
                break
            except IntegrityError as exc:
                if attempt == TS_COLLISION_RETRIES:
                    raise
                attempt += 1
                if self.partitions is not None and is_missing_partition(exc):
                    self.partitions.forget(ts)  # dropped since this process made it: made again above
                    continue
                # after the wall clock stepped back, a sample can fall on a stored one's millisecond: keep both
                ts += 1
        self._last_lists.update({kind: (ts, body) for kind, body in lists.items()})
        return ts

    def _last_list(self, kind: str) -> tuple[int | None, str | None]:
        if kind not in self._last_lists:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(self.usage_lists.c.ts, self.usage_lists.c.body).where(self.usage_lists.c.kind == kind)
                    .order_by(self.usage_lists.c.ts.desc()).limit(1)
                ).first()
            self._last_lists[kind] = (row[0], row[1]) if row else (None, None)
        return self._last_lists[kind]

    def series(self, metric: str, start: datetime, end: datetime,
               host: str | None = None) -> list[tuple[int, float | None]]:
        """``[(ts_ms, value), ...]`` of ``metric`` for start <= t < end, oldest first (value None = missing):
        of ``host`` (None: this node's) for a host metric, of the whole fleet (:meth:`app_rows`, ``host``
        ignored) for an app-wide one (``ai_*``, ``usage_*``).

        Raises KeyError for a metric not in the catalog.
        """
        self._check([metric])
        if app_wide(self.metrics[metric]):
            return self.app_rows([metric], start, end)
        return self.rows([metric], start, end, host)

    def series_of_hosts(self, metric: str, start: datetime, end: datetime,
                        hosts: list[str]) -> dict[str, list[tuple[int, float | None]]]:
        """:meth:`series` of a host metric for each of ``hosts`` (``{host: [(ts_ms, value), ...]}``, every host
        a key), in one query. Raises KeyError for a metric not in the catalog."""
        self._check([metric])
        if app_wide(self.metrics[metric]) or not self.fleet:
            return {host: self.series(metric, start, end, host) for host in hosts}
        ts, host_c = self.samples.c.ts, self.samples.c.host
        query = (select(host_c, ts, self.samples.c[metric]).where(ts >= to_ms(start), ts < to_ms(end),
                                                                  host_c.in_(hosts)).order_by(host_c, ts))
        found: dict[str, list[tuple[int, float | None]]] = {host: [] for host in hosts}
        with self.engine.connect() as conn:
            for host, at, value in conn.execute(query):
                found[host].append((at, value))
        return found

    def _check(self, metrics: list[str]) -> None:
        unknown = [m for m in metrics if m not in self.metrics]
        if unknown:
            raise KeyError(f"unknown metric(s) {unknown}; known: {', '.join(self.metrics)}")

    def rows(self, metrics: list[str], start: datetime, end: datetime, host: str | None = None) -> list[tuple]:
        """Rows ``(ts_ms, value1, value2, ...)`` of several metrics of ``host`` (None: this node's) for
        start <= t < end, oldest first. On SQLite (single host) another host has no rows. On PostgreSQL this
        is an index range scan of the (host, ts) key in the partitions of the days in range.

        Raises KeyError for a metric not in the catalog."""
        return [row for chunk in self.row_chunks(metrics, start, end, host, size=65_536) for row in chunk]

    def _floats(self, metrics: list[str]) -> list:
        """The columns of ``metrics`` read as floats, their scale divided out by the database
        (``CAST(col AS FLOAT) / scale``): the values :class:`reporter.store.schema.Fixed` gives (an int over an int
        is the same double below 2**53), without a Python call per value (a month of 10 s rows is millions)."""
        return [(cast(self.samples.c[m], Float) / cast(self._scale(m), Float)).label(m) for m in metrics]

    def _scale(self, metric: str) -> int:
        return self.samples.c[metric].type.scale  # type: ignore[attr-defined]  # a Fixed column

    def _fetch_chunks(self, query, size: int) -> Iterator[list[tuple]]:
        """The rows of ``query`` as lists of at most ``size`` plain tuples, fetched from the driver's cursor a
        list at a time (the connection stays open until the last is taken or the generator is closed)."""
        with self.engine.connect() as conn:
            result = conn.execute(query)
            try:
                while rows := result.cursor.fetchmany(size):
                    yield [tuple(row) for row in rows] if type(rows[0]) is not tuple else list(rows)
            finally:
                result.close()

    def row_chunks(self, metrics: list[str], start: datetime, end: datetime, host: str | None = None,
                   size: int = 16_384) -> Iterator[list[tuple]]:
        """The rows of :meth:`rows` in lists of at most ``size`` rows, oldest first (a month of them never all in
        memory as Python objects at once). Raises KeyError for a metric not in the catalog."""
        self._check(metrics)
        host = self.host if host is None else host
        ts = self.samples.c.ts
        query = select(ts, *self._floats(metrics)).where(ts >= to_ms(start), ts < to_ms(end))
        if self.fleet:
            query = query.where(self.samples.c.host == host)
        elif host != self.host:
            return iter(())
        return self._fetch_chunks(query.order_by(ts), size)

    def app_row_chunks(self, metrics: list[str], start: datetime, end: datetime,
                       size: int = 16_384) -> Iterator[list[tuple]]:
        """The rows of :meth:`app_rows` in lists of at most ``size`` rows, oldest first: a month of them never
        all in memory as Python objects at once. Raises KeyError for a metric not in the catalog."""
        self._check(metrics)
        ts = self.samples.c.ts
        query = select(ts, *self._floats(metrics)).where(ts >= to_ms(start), ts < to_ms(end))
        if self.fleet:
            columns = [self.samples.c[m] for m in metrics]
            query = (query.where(self.samples.c.app).where(or_(*(c.is_not(None) for c in columns)))
                     .order_by(ts, self.samples.c.host))
        else:
            query = query.order_by(ts)
        return self._fetch_chunks(query, size)

    def app_rows(self, metrics: list[str], start: datetime, end: datetime) -> list[tuple]:
        """Rows ``(ts_ms, value1, ...)`` of app-wide metrics (``ai_*``, ``usage_*``: sampled by the leader
        only) for start <= t < end, oldest first: on PostgreSQL across every host, only the rows where at least
        one of ``metrics`` is not null (the leader's rows; a failover changes the host that writes them), found
        through the partial index of the rows marked ``app``; on SQLite this node's rows, as :meth:`rows`.

        Raises KeyError for a metric not in the catalog."""
        return [row for chunk in self.app_row_chunks(metrics, start, end, size=65_536) for row in chunk]

    def hosts_between(self, start: datetime, end: datetime) -> list[str]:
        """The hosts with at least one sample in start <= t < end, sorted by name (SQLite: this node's, if it
        has one). PostgreSQL: one (host, ts) index probe per host of the ``hosts`` table (every writer has a
        row there), not a scan of the range's rows."""
        ts = self.samples.c.ts
        in_range = (ts >= to_ms(start), ts < to_ms(end))
        with self.engine.connect() as conn:
            if not self.fleet:
                return [self.host] if conn.execute(select(ts).where(*in_range).limit(1)).first() else []
            wrote = select(ts).where(self.samples.c.host == hosts.c.name, *in_range).exists()
            return list(conn.execute(select(hosts.c.name).where(wrote).order_by(hosts.c.name)).scalars())

    def counter_samples(self, start: datetime, end: datetime) -> list[CounterSample]:
        """The AI counters stored between start and end as CounterSamples (to seed the windows at start-up);
        app-wide: the rows of whichever host sampled them (:meth:`app_rows`)."""
        counters = [(m.name, key) for m in self._written.values() if (key := m.counter_key)]
        return [
            CounterSample(at=row[0] / 1000.0, values={key: v for (_, key), v in zip(counters, row[1:], strict=True)})
            for row in self.app_rows([name for name, _ in counters], start, end)
        ]

    def get_meta(self, key: str) -> str | None:
        """A stored fact (None when never set)."""
        with self.engine.connect() as conn:
            return conn.execute(select(self.meta.c.value).where(self.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str, conn: Connection | None = None) -> None:
        """Store a fact, replacing any earlier value; in the transaction of ``conn`` when given. On PostgreSQL
        and SQLite one upsert, so that nodes starting at once never collide on the key (a delete and an insert
        in two concurrent transactions both insert); elsewhere a delete and an insert."""
        if conn is None:
            with self.engine.begin() as conn:
                self.set_meta(key, value, conn)
            return
        if conn.dialect.name in ("postgresql", "sqlite"):
            insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(self.meta)
            conn.execute(insert.values(key=key, value=value)
                         .on_conflict_do_update(index_elements=[self.meta.c.key], set_={"value": value}))
            return
        conn.execute(delete(self.meta).where(self.meta.c.key == key))
        conn.execute(self.meta.insert(), {"key": key, "value": value})

    def first_time(self) -> datetime | None:
        """Time of the oldest stored sample of any host (UTC), None when empty. PostgreSQL: the oldest of each
        host's first sample (an index probe per host, oldest partition first)."""
        ts = self.samples.c.ts
        with self.engine.connect() as conn:
            if not self.fleet:
                return from_ms(conn.execute(select(func.min(ts))).scalar())
            first = select(func.min(ts)).where(self.samples.c.host == hosts.c.name).correlate(hosts)
            return from_ms(conn.execute(select(func.min(first.scalar_subquery())).select_from(hosts)).scalar())

    def last_time(self) -> datetime | None:
        """Time of the newest stored sample of any host (UTC), None when empty."""
        ts = self.samples.c.ts
        with self.engine.connect() as conn:
            if not self.fleet:
                return from_ms(conn.execute(select(func.max(ts))).scalar())
            last = select(func.max(ts)).where(self.samples.c.host == hosts.c.name).correlate(hosts)
            return from_ms(conn.execute(select(func.max(last.scalar_subquery())).select_from(hosts)).scalar())

    def count(self) -> int:
        """Number of stored samples."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.samples)).scalar_one()

    def prune(self, older_than: datetime, batch: int = 5_000) -> int:
        """Delete samples older than ``older_than`` (in batches of ``batch`` rows, each its own short
        transaction, so a sample write waits milliseconds and the WAL stays small); the newest row of each
        usage list is always kept. Returns the number of sample rows deleted. :meth:`reclaim` then gives the
        space back.

        On PostgreSQL whole day partitions go instead (DROP TABLE: no DELETE, no dead rows): those whose day
        ended at or before ``older_than``; the rows of the day that straddles it stay until that day is wholly
        older."""
        cutoff = to_ms(older_than)
        if self.partitions is not None:
            dropped, deleted = self.partitions.drop_before(cutoff)
            if dropped:
                log.info("history: dropped partitions %s (%d samples older than %s)", ", ".join(dropped),
                         deleted, older_than.isoformat())
        else:
            deleted = self._delete_samples(cutoff, batch)
            if deleted:
                log.info("history: pruned %d samples older than %s", deleted, older_than.isoformat())
        lists = self.usage_lists
        newest = select(lists.c.kind, func.max(lists.c.ts).label("ts")).group_by(lists.c.kind).subquery()
        with self.engine.begin() as conn:
            for kind, newest_ts in conn.execute(select(newest.c.kind, newest.c.ts)).all():
                conn.execute(delete(lists).where(lists.c.kind == kind, lists.c.ts < min(cutoff, newest_ts)))
        return deleted

    def _delete_samples(self, cutoff: int, batch: int) -> int:
        deleted, ts = 0, self.samples.c.ts
        while True:
            with self.engine.begin() as conn:
                ids = select(ts).where(ts < cutoff).order_by(ts).limit(batch).scalar_subquery()
                result = conn.execute(delete(self.samples).where(ts.in_(ids)))
            deleted += result.rowcount or 0
            if not result.rowcount or result.rowcount < batch:
                return deleted

    def reclaim(self, step_seconds: float = 0.05, max_seconds: float = 600.0) -> Reclaimed:
        """Give the pages freed by a prune back to the filesystem in steps of about ``step_seconds`` each
        (a sample write waits at most one step), for at most ``max_seconds``; then empty the WAL. SQLite
        only (see :func:`reporter.store.reclaim.reclaim`)."""
        return reclaim(self.engine, step_seconds, max_seconds)

    def enable_incremental_vacuum(self, max_bytes: int) -> float | None:
        """Switch a SQLite file made before incremental vacuum with one full VACUUM, if it is at most
        ``max_bytes`` (a VACUUM blocks writers while it rewrites the file). Returns its seconds, 0.0 when the
        file needs none, None when it is too big (pruned space is then reused but not given back)."""
        path = lasting_file(self.engine.url)
        if path is None or vacuum_mode(self.engine) in (None, "incremental"):  # None: in memory
            return 0.0
        if path.stat().st_size > max_bytes:
            return None
        return convert(self.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
