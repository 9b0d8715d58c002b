"""Giving pruned space back to the filesystem, in small steps, and keeping SQLite's write-ahead log small.

A SQLite history is created with ``auto_vacuum=INCREMENTAL``: pages freed by a prune go to the free list, and
:func:`reclaim` moves them to the end of the file and cuts it off a few hundred pages at a time
(``PRAGMA incremental_vacuum(N)``), each step a short write transaction of its own, with a pause between steps
so a sample write waits at most one step. The WAL is checkpointed automatically every
``WAL_AUTOCHECKPOINT_PAGES`` pages and cut back to ``JOURNAL_SIZE_LIMIT_BYTES`` when it restarts
(``journal_size_limit``); after a reclaim a ``TRUNCATE`` checkpoint empties it (given up at once, not waited
for, while a reader holds an old snapshot).

A file created before (``auto_vacuum=NONE``) needs one full ``VACUUM`` to switch: :func:`convert` does it,
and the daemon calls it at start when the file is at most ``CONVERT_AT_START_MAX_BYTES`` (seconds at most,
before sampling starts); a bigger file is converted with ``reporter vacuum`` while the daemon is stopped.
Until then a prune's free pages are reused by new samples, but the file does not shrink.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    import sqlite3  # loaded by SQLAlchemy's SQLite driver when a SQLite history is opened; never on PostgreSQL

from reporter.sqlite_file import lasting_file

log = logging.getLogger(__name__)
WAL_AUTOCHECKPOINT_PAGES = 256  # ~1 MiB of 4 KiB pages: a checkpoint every ~100 samples (SQLite's default 1000)
JOURNAL_SIZE_LIMIT_BYTES = 2 * 1024 * 1024  # a reset WAL is cut back to this (SQLite's default: never)
CONVERT_AT_START_MAX_BYTES = 64 * 1024 * 1024
FIRST_STEP_PAGES = 128
MAX_STEP_PAGES = WAL_AUTOCHECKPOINT_PAGES  # a step adds at most ~1 MiB to the WAL before its checkpoint
MODES = {0: "none", 1: "full", 2: "incremental"}


@dataclass
class Reclaimed:
    """What one :func:`reclaim` did: pages given back, steps taken, the longest step (s), total time (s), and
    the file and WAL sizes (bytes) after its checkpoint; ``complete`` False when it stopped at its time limit."""

    pages: int = 0
    steps: int = 0
    longest_step: float = 0.0
    seconds: float = 0.0
    file_bytes: int = 0
    wal_bytes: int = 0
    complete: bool = True


def is_sqlite(engine: Engine) -> bool:
    """True for a SQLite engine on a file (not ``:memory:``)."""
    return engine.dialect.name == "sqlite" and lasting_file(engine.url) is not None


def sqlite_pragmas(cursor) -> None:
    """The per-connection settings that bound the file and the WAL (called on each new connection; the
    auto_vacuum mode takes effect only on a file with no table yet, so it comes before ``journal_mode``)."""
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")


def _pragma(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"PRAGMA {name}")).scalar() or 0)


def vacuum_mode(engine: Engine) -> str | None:
    """``"none"``, ``"full"`` or ``"incremental"`` for a SQLite file; None for any other database."""
    return MODES.get(_pragma(engine, "auto_vacuum"), "none") if is_sqlite(engine) else None


def sizes(engine: Engine) -> tuple[int, int, int]:
    """``(file bytes, WAL bytes, free-list bytes)`` of a SQLite history (zeros for a missing file)."""
    import os

    path = str(lasting_file(engine.url))
    file_bytes = os.path.getsize(path) if os.path.exists(path) else 0
    wal_bytes = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    free = _pragma(engine, "freelist_count") * _pragma(engine, "page_size")
    return file_bytes, wal_bytes, free


def _sqlite3(conn: Connection) -> sqlite3.Connection:
    """The DB-API connection under ``conn``, of a SQLite engine (pysqlite); TypeError for another driver."""
    import sqlite3

    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"a SQLite (sqlite3) connection was expected, not {type(raw).__name__}")
    return raw


def convert(engine: Engine) -> float:
    """Switch a SQLite file made without incremental vacuum to it: ``auto_vacuum=INCREMENTAL`` then one full
    ``VACUUM`` (rewrites the whole file: needs as much free disk space, blocks writers while it runs). Returns
    the seconds it took (0 when nothing was to do). Raises SQLAlchemy's OperationalError (disk full, busy)."""
    if vacuum_mode(engine) in (None, "incremental"):
        return 0.0
    started = time.monotonic()
    with engine.connect() as conn:
        raw = _sqlite3(conn)
        raw.executescript("PRAGMA auto_vacuum=INCREMENTAL; VACUUM;")
    checkpoint(engine)
    return time.monotonic() - started


def checkpoint(engine: Engine, wait_seconds: float = 0.0) -> bool:
    """Move the WAL into the file and empty it (``wal_checkpoint(TRUNCATE)``). It waits at most
    ``wait_seconds`` for readers and writers (writers are held off while it waits); False when it could not
    finish (the WAL is then cut back to ``JOURNAL_SIZE_LIMIT_BYTES`` at its next restart instead)."""
    with engine.connect() as conn:
        raw = _sqlite3(conn)
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
            busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cursor.execute("PRAGMA busy_timeout=5000")  # the engine's (sqlite3 timeout=5.0)
            cursor.close()
    return busy == 0


def reclaim(engine: Engine, step_seconds: float = 0.05, max_seconds: float = 600.0,
            sleep=time.sleep) -> Reclaimed:
    """Give the free pages of a SQLite history back to the filesystem in steps that each hold the write lock
    about ``step_seconds`` at most (the pages per step adapt to the measured time), pausing as long between
    steps; stops after ``max_seconds`` (the rest waits for the next prune). Then a checkpoint empties the WAL.
    No-op (an empty result) for other databases and for files without incremental vacuum."""
    result = Reclaimed()
    if vacuum_mode(engine) != "incremental":
        return result
    started = time.monotonic()
    pages = FIRST_STEP_PAGES
    with engine.connect() as conn:
        raw = _sqlite3(conn)
        while True:
            free = raw.execute("PRAGMA freelist_count").fetchone()[0]
            if not free:
                break
            if time.monotonic() - started > max_seconds:
                result.complete = False
                break
            step = min(pages, free)
            began = time.monotonic()
            # executescript steps the statement to its end (execute() would free a single page)
            raw.executescript(f"PRAGMA incremental_vacuum({step})")
            took = time.monotonic() - began
            result.pages += step
            result.steps += 1
            result.longest_step = max(result.longest_step, took)
            if took < step_seconds / 2:
                pages = min(MAX_STEP_PAGES, pages * 2)
            elif took > step_seconds:
                pages = max(8, int(pages * step_seconds / took / 2))
            sleep(max(took, 0.005))  # writers get the lock at least half of the time
    checkpoint(engine)
    result.seconds = time.monotonic() - started
    result.file_bytes, result.wal_bytes, _ = sizes(engine)
    return result
