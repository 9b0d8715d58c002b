"""Leadership of a fleet: one node, elected by a PostgreSQL advisory lock, does the fleet-wide work.

Every node holds one dedicated psycopg connection to the history database (not from the SQLAlchemy pool) with
client TCP keepalives and ``tcp_user_timeout`` from REPORTER_LEADER_KEEPALIVE, and the same settings made on the
server side (``SET tcp_keepalives_idle/interval/count``, ``tcp_user_timeout``), so that PostgreSQL itself ends
the session of a node that was cut off, which frees its locks. A node that is frozen (SIGSTOP, a hung VM whose
kernel still answers keepalives) uses its lock connection at every sample no longer: the session's
``idle_session_timeout`` (``idle_seconds``: three sample intervals plus the keepalive, PostgreSQL >= 14) ends
it, so a frozen leader is replaced too, and steps down at its first sample when it resumes. On that connection
it holds two session-level
advisory locks (two-int keys; ``k1`` a 31-bit hash of ``current_database()`` and ``current_schema()``, so
fleets in separate schemas of one database never meet):

- the host-name lock (``k2`` = a hash of REPORTER_HOST_NAME), taken at start: a second node with the same name
  stops with :class:`HostNameTaken`; a killed node's session ends with it, so its name is free at once;
- the leader lock (``k2`` = 1): a follower tries it on each :meth:`Leadership.tick`; the winner increments
  ``leadership.epoch`` in one statement that records it as leader, and its :class:`reporter.store.fence.Fence`
  holds that epoch. The leader checks its lock connection on every tick (one bounded query) and steps down at
  once when it is gone or another epoch was recorded.

:class:`SoloLeadership` is a single host's (SQLite history): always the leader, no lock, no fence.
PgBouncer in transaction mode breaks session advisory locks: the history URL must reach PostgreSQL directly
(or through a session-mode pool).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reporter.base.errors import one_line
from reporter.base.ms import from_ms, to_ms
from reporter.base.timefmt import format_utc
from reporter.failures import FailureLog
from reporter.fleet.lock_session import LEADER_KEY, Keepalive, Worker, connect_params, host_key, space_key
from reporter.fleet.pooler import SessionRequired, pooling_problem
from reporter.store.fence import Fence

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 5.0  # a statement on the lock connection is cut after this (server side)
DUTIES_RETRY_SECONDS = 30.0  # after the leader duties failed to start, this node waits before leading again

Elected = Callable[[int], None]
Deposed = Callable[[str], None]


class HostNameTaken(RuntimeError):
    """Another running node holds this host name; the message names it and says what to do."""


@dataclass(frozen=True)
class Holder:
    """The node holding a host name, from its ``hosts`` row (what people need to find it)."""

    pid: int | None
    address: str | None
    started_at: datetime | None
    seen_at: datetime | None

    def describe(self) -> str:
        def when(value: datetime | None) -> str:
            return format_utc(value) if value is not None else "unknown"

        return (f"pid {self.pid if self.pid is not None else 'unknown'}, address {self.address or 'unknown'}, "
                f"started {when(self.started_at)}, last seen {when(self.seen_at)}")


class Leadership:
    """This node's part in the election (see the module docstring).

    ``url``: the history's SQLAlchemy URL (PostgreSQL); ``host``: REPORTER_HOST_NAME; ``node_id``: this process's
    random id; ``keepalive``: REPORTER_LEADER_KEEPALIVE seconds; ``may_lead``: False for an agent (it holds only
    its host name); ``idle_seconds``: the lock session's ``idle_session_timeout`` (longer than the time between
    two ticks; None: none). ``on_elected(epoch)`` / ``on_deposed(reason)`` run in the thread calling :meth:`tick` (or
    :meth:`step_down`) when this node starts and stops leading; an ``on_elected`` that raises makes the node step
    down. Not thread-safe: one thread ticks (the sampling thread).
    """

    fleet = True

    def __init__(self, url: str, host: str, node_id: str, keepalive: float, *, may_lead: bool = True,
                 on_elected: Elected | None = None, on_deposed: Deposed | None = None,
                 reconnect_seconds: float = 2.0, wait_seconds: float = 1.0, idle_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self.host, self.node_id, self.may_lead = url, host, node_id, may_lead
        self.keepalive = Keepalive.within(keepalive)
        self.keepalive_seconds = keepalive
        self.idle_seconds = idle_seconds
        self.on_elected, self.on_deposed = on_elected, on_deposed
        self.reconnect_seconds, self.wait_seconds, self.clock = reconnect_seconds, wait_seconds, clock
        self.epoch: int | None = None
        self.fence: Fence | None = None
        self.k1: int | None = None
        self._conn: Any = None  # psycopg.Connection while connected
        self._named = False  # the host-name lock is held on _conn
        self._next_connect = 0.0
        self._lead_after = 0.0  # no leader lock attempt before (clock seconds): set when the duties failed
        self._worker = Worker(f"leadership-{host}")  # the one thread using the connection
        self._pending: tuple[str, int | None, Future] | None = None  # an operation whose outcome a tick awaits
        self.failures = FailureLog(log)

    # ---- state ------------------------------------------------------------------------------------------------

    @property
    def leader(self) -> bool:
        """True while this node leads (between an election and its deposition)."""
        return self.epoch is not None

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend pid of the lock session (None when not connected)."""
        return None if self._conn is None else self._conn.info.backend_pid

    @property
    def answering(self) -> bool:
        """False while the last tick's operation had no outcome within ``wait_seconds`` (the store is silent: a cut
        link, a hung server; an outcome that came since is applied by the next tick): work that reads the store
        would wait as long, so the daemon pauses its evaluation until a check is answered in time (or fails, and
        this node steps down)."""
        return self._pending is None

    # ---- start, tick, stop ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, take the host-name lock, then :meth:`tick` once (a node alone leads from its start).

        Raises :class:`HostNameTaken` (its holder named) when another running node has this host name,
        :class:`reporter.fleet.pooler.SessionRequired` when the connection is pooled per transaction (PgBouncer in
        transaction mode: session locks would not hold), or the driver's error when the history cannot be
        reached."""
        self._worker.submit(self._start).result()
        self.tick(wait=None)

    def _start(self) -> None:
        self._connect()
        try:
            problem = pooling_problem(self._conn, self._open)
        except Exception:
            self._disconnect()
            raise
        if problem is not None:
            self._disconnect()
            raise SessionRequired(
                f"the history connection is pooled per transaction ({problem}; PgBouncer with pool_mode = "
                "transaction?): the leader lock is a session advisory lock and needs one PostgreSQL session; point "
                "REPORTER_HISTORY_URL at PostgreSQL directly or at a PgBouncer pool with pool_mode = session")
        if not self._take_name():
            holder = self.holder()
            self._disconnect()
            raise HostNameTaken(
                f"host name {self.host!r} is held by another running node ("
                f"{holder.describe() if holder else 'its hosts row is not written yet'}); give this node its own "
                "REPORTER_HOST_NAME, or stop that node")

    def tick(self, may_lead: bool = True, wait: float | None = -1.0) -> bool:
        """One cycle's check; returns :attr:`leader`.

        Leader: check the lock connection (one query); step down at once when it is gone or another epoch is
        recorded (logged once, ``on_deposed`` called). Follower: reconnect if needed (at most every
        ``reconnect_seconds``), hold the host name, and try the leader lock unless ``may_lead`` is False (this
        cycle's history write failed) or the node is an agent.

        The connection is used by this object's own thread only: the tick waits for the outcome at most ``wait``
        seconds (default ``wait_seconds``; None: until done), so a silent peer (a host cut off) never holds up
        the caller for the keepalive time; an outcome that comes later is applied by the next tick (until then
        the state is unchanged: a check still waiting neither deposes nor confirms)."""
        if wait is not None and wait < 0:
            wait = self.wait_seconds
        if self._pending is None:
            if self.leader:
                self._pending = ("check", self.epoch, self._worker.submit(self._check, self.epoch))
            else:
                self._pending = ("follow", None, self._worker.submit(self._follow, may_lead))
        kind, epoch, future = self._pending
        try:
            outcome = future.result(timeout=wait)
        except FutureTimeout:
            return self.leader
        self._pending = None
        if kind == "check":
            if outcome is not None and self.leader and self.epoch == epoch:
                self._deposed(f"leadership lost: {outcome}", outcome)
            return self.leader
        if outcome is None or self.leader:
            return self.leader
        self.epoch, self.fence = outcome, Fence(outcome, self.keepalive_seconds)
        log.info("leadership: this node (%s) leads the fleet from epoch %d", self.host, outcome)
        if self.on_elected is not None:
            try:
                self.on_elected(outcome)
            except Exception as exc:
                self.failures.failed("leader duties", f"starting them failed ({one_line(exc)}); this node tries "
                                     f"to lead again in {DUTIES_RETRY_SECONDS:g} s", exc_info=exc, level=logging.ERROR)
                self._lead_after = self.clock() + DUTIES_RETRY_SECONDS
                self.step_down(f"starting the leader duties failed ({one_line(exc)})")
            else:
                self.failures.ok("leader duties")
        return self.leader

    def _follow(self, may_lead: bool) -> int | None:
        """A follower's turn (on the connection's thread): the new epoch when this node took the leader lock."""
        if not self._ensure_connected():
            return None
        try:
            if not self._named and not self._take_name():
                self.failures.failed("leadership", f"host name {self.host!r} is now held by another node; this "
                                     "node does not lead (give each node its own REPORTER_HOST_NAME)")
                return None
            if not (self.may_lead and may_lead) or self.clock() < self._lead_after:
                self._conn.execute("SELECT 1")  # keeps the host-name session known alive
                return None
            got = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self.k1, LEADER_KEY)).fetchone()[0]
            if not got:
                return None
            epoch = self._take_over()
        except Exception as exc:
            self.failures.failed("leadership", f"the lock connection failed ({one_line(exc)}); reconnecting")
            self._disconnect()
            return None
        self.failures.ok("leadership")
        return epoch

    def step_down(self, reason: str) -> None:
        """Give leadership up (the store cannot be written, or the duties failed): unlock, call ``on_deposed``,
        log one line naming ``reason``. No-op for a follower."""
        if not self.leader:
            return
        released = self._worker.submit(self._release)
        self._deposed(f"leadership given up: {reason}; another node may lead", reason)
        with contextlib.suppress(FutureTimeout):  # behind a check waiting on a silent peer: done later
            released.result(timeout=self.wait_seconds)

    def _release(self) -> None:
        if self._conn is None or self._conn.closed:
            return
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (self.k1, LEADER_KEY))
        except Exception:
            self._disconnect()  # a closed session holds nothing

    def close(self, wait: float = 2.0) -> None:
        """Close the lock connection (frees both locks at once), waiting at most ``wait`` seconds (a connection
        stuck on a silent peer is left to the process's exit); no callback."""
        self.epoch, self.fence, self._pending = None, None, None
        closed = self._worker.submit(self._disconnect)
        with contextlib.suppress(FutureTimeout):
            closed.result(timeout=wait)
        self._worker.stop()

    # ---- the connection ---------------------------------------------------------------------------------------

    def _open(self) -> Any:
        import psycopg  # only a fleet node loads it here (a PostgreSQL history loads it anyway)

        return psycopg.connect(**connect_params(self.url, self.keepalive), autocommit=True)

    def _connect(self) -> None:
        conn = self._open()
        try:
            k = self.keepalive
            for name, value in (("tcp_keepalives_idle", k.idle), ("tcp_keepalives_interval", k.interval),
                                ("tcp_keepalives_count", k.count), ("tcp_user_timeout", k.user_timeout_ms),
                                ("statement_timeout", int(CHECK_TIMEOUT_SECONDS * 1000))):
                conn.execute(f"SET {name} = {int(value)}")
            if self.idle_seconds is not None and conn.info.server_version >= 140000:
                conn.execute(f"SET idle_session_timeout = {max(1000, int(self.idle_seconds * 1000))}")
            row = conn.execute("SELECT current_database(), current_schema()").fetchone()
            database, schema = row if row is not None else ("", None)
        except Exception:
            conn.close()
            raise
        self.k1 = space_key(database, schema)
        self._conn, self._named = conn, False

    def _ensure_connected(self) -> bool:
        if self._conn is not None and not self._conn.closed:
            return True
        now = self.clock()
        if now < self._next_connect:
            return False
        self._next_connect = now + self.reconnect_seconds
        try:
            self._connect()
        except Exception as exc:
            self.failures.failed("leadership", f"cannot connect to the history for the leader lock "
                                 f"({one_line(exc)}); retrying every {self.reconnect_seconds:g} s")
            return False
        return True

    def _disconnect(self) -> None:
        conn, self._conn, self._named = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _take_name(self) -> bool:
        got = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self.k1, host_key(self.host))).fetchone()[0]
        self._named = bool(got)
        return self._named

    def _take_over(self) -> int:
        """Record this node as leader with the next epoch (one statement, its own transaction); the new epoch.
        The statement may wait for the leadership row while a fenced transaction of the previous leader holds it
        (PostgreSQL ends that one after the keepalive time, see :class:`Fence`), so it is given the keepalive
        time plus the usual check time. The leader lock is released again if that fails."""
        try:
            with self._conn.transaction():
                self._conn.execute("SELECT set_config('statement_timeout', %s, true)",
                                   (str(int((self.keepalive_seconds + CHECK_TIMEOUT_SECONDS) * 1000)),))
                row = self._conn.execute(
                    "INSERT INTO leadership (id, epoch, host, node_id, since) VALUES (1, 1, %s, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1, host = EXCLUDED.host, "
                    "node_id = EXCLUDED.node_id, since = EXCLUDED.since RETURNING epoch",
                    (self.host, self.node_id, to_ms(datetime.now(UTC)))).fetchone()
        except Exception:
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (self.k1, LEADER_KEY))
            raise
        return int(row[0])

    def _check(self, epoch: int | None) -> str | None:
        """None while the lock connection answers and the recorded epoch is ``epoch`` (ours); else why not."""
        if self._conn is None or self._conn.closed:
            return "the lock connection is closed"
        try:
            row = self._conn.execute("SELECT epoch FROM leadership WHERE id = 1").fetchone()
        except Exception as exc:
            self._disconnect()
            return f"the lock connection is gone ({one_line(exc)})"
        if row is None or int(row[0]) != epoch:
            self._disconnect()  # our session's locks go with it; a follower reconnects
            return f"another node took over (epoch {None if row is None else row[0]}, ours {epoch})"
        return None

    def _deposed(self, line: str, reason: str) -> None:
        self.epoch, self.fence = None, None
        log.warning("%s; this node stops leading (alerting, notifications, reports, pruning)", line)
        if self.on_deposed is not None:
            try:
                self.on_deposed(reason)
            except Exception:
                log.exception("leadership: stopping the leader duties failed")

    def holder(self) -> Holder | None:
        """The ``hosts`` row of this host name (the node holding it), None when absent or unreadable."""
        if self._conn is None:
            return None
        try:
            row = self._conn.execute("SELECT pid, address, started_at, seen_at FROM hosts WHERE name = %s",
                                     (self.host,)).fetchone()
        except Exception:
            return None
        if row is None:
            return None
        return Holder(row[0], row[1], from_ms(row[2]), from_ms(row[3]))


class SoloLeadership:
    """A single host's leadership (SQLite history): always the leader, no lock, no fence. :meth:`start` calls
    ``on_elected(0)``; :meth:`step_down` does nothing (the one node keeps its duties through a store outage, as
    before fleets existed). ``leads=False`` (an agent): never the leader, no callback."""

    fleet = False
    fence: Fence | None = None
    backend_pid = None
    answering = True

    def __init__(self, on_elected: Elected | None = None, on_deposed: Deposed | None = None,
                 leads: bool = True) -> None:
        self.on_elected, self.on_deposed = on_elected, on_deposed
        self.leader = leads
        self.epoch: int | None = 0 if leads else None

    def start(self) -> None:
        """Start the leader duties (``on_elected(0)``) unless this node never leads."""
        if self.leader and self.on_elected is not None:
            self.on_elected(0)

    def tick(self, may_lead: bool = True) -> bool:
        """:attr:`leader`, unchanged."""
        return self.leader

    def step_down(self, reason: str) -> None:
        """Nothing: a single host keeps leading."""

    def close(self) -> None:
        """Nothing to close."""
