"""Is the lock connection really one PostgreSQL session? A pooler in transaction mode breaks the leader lock.

The leader lock and the host-name lock are session-level advisory locks: they belong to the server session
that took them. Behind PgBouncer in ``pool_mode = transaction`` (or ``statement``) a client's statements run on
whichever server connection is free, so a lock taken by one statement stays on a server session the node no
longer owns (another client may then "hold" it, or the node may check a lock it does not have). A session-mode
pool (one server session per client for the client's lifetime) or a direct connection is required.

:func:`pooling_problem` tells them apart, without access to PgBouncer's admin console:

1. ``pg_backend_pid()`` equal to the pid of the connection's start message (``BackendKeyData``): PostgreSQL
   itself answered the connection, no pooler: nothing more to check (one query).
2. Otherwise a pooler sits in between (PgBouncer sends its own random key). A second client connection opens a
   transaction: if it is given the lock connection's server session, or the lock connection's next statement
   runs on another session, that server session is not the lock connection's own: transaction (or statement)
   pooling. A session-mode pool can do neither.

In a busy transaction-mode pool step 2 may see neither (another server session free for the probe, the lock
connection's own still free for it): the check can miss, never accuse a session-mode pool wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SessionRequired(RuntimeError):
    """The history URL reaches PostgreSQL through a pool that does not keep one server session per client; the
    message says what was seen and what to do."""


def backend_pid(conn: Any) -> int:
    """``pg_backend_pid()`` of the server session running this statement on ``conn`` (psycopg, autocommit)."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return int(row[0])


def pooling_problem(conn: Any, connect: Callable[[], Any]) -> str | None:
    """Why ``conn`` (a psycopg connection in autocommit mode) cannot hold a session-level lock, or None.

    ``connect()`` opens a second connection to the same URL (made only when a pooler answers). Raises the
    driver's error when a statement fails."""
    first = backend_pid(conn)
    if first == conn.info.backend_pid:
        return None  # PostgreSQL's own session: no pooler
    probe = connect()
    try:
        with probe.transaction():
            taken = backend_pid(probe)
            then = backend_pid(conn) if taken != first else first
    finally:
        probe.close()
    if taken == first:
        return (f"the connection's server session (backend pid {first}) was handed to another client between two "
                "statements")
    if then != first:
        return f"the connection's statements ran on two server sessions (backend pids {first} and {then})"
    return None
