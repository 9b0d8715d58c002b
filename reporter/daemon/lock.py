"""One daemon per history: an exclusive ``flock`` on the SQLite history file itself.

The lock is taken on the real file, whatever path leads to it: the path is resolved (symlinks, ``./``, ``..``)
and the lock is held on the file's inode, so a hard link (another name for the same inode) meets the same lock.
A database file that does not exist yet is created (empty: SQLite takes a 0-byte file as a new database) so
that it can be locked BEFORE the schema is created: two daemons starting at once on a new file never race
to create the tables. ``flock`` locks are independent of SQLite's own POSIX (``fcntl``) locks on Linux, and
the kernel drops them when the holder dies, whatever the way. ``<file>.lock`` beside it holds the holder's pid
(for people; the holder is also looked up in ``/proc/locks`` by inode, which covers hard links).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def real_path(path: Path) -> Path:
    """``path`` made absolute with symlinks, ``.`` and ``..`` resolved (the file need not exist)."""
    return Path(os.path.abspath(path)).resolve()


def _holder_from_proc_locks(device: int, inode: int) -> int | None:
    """The pid holding a ``flock`` on (device, inode) according to ``/proc/locks`` (Linux), else None."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    wanted = (os.major(device), os.minor(device), inode)
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a blocked waiter has "->" after the number
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK" or parts[3] != "WRITE":
            continue
        try:
            major, minor, ino = parts[5].split(":")
            if (int(major, 16), int(minor, 16), int(ino)) == wanted and int(parts[4]) > 0:
                return int(parts[4])  # 0: a holder in another pid namespace (another container)
        except ValueError:
            continue
    return None


class HistoryLock:
    """``acquire()`` takes a non-blocking exclusive ``flock`` on the history file (created when missing); a
    second daemon on the same file, through any path or hard link, gets a StartupError
    ``another reporter (pid N) is already using PATH``. No-op for server databases (``path`` None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else real_path(path)
        self.pid_file = None if self.path is None else self.path.with_name(self.path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; raises StartupError when another process holds it, OSError when the file cannot be
        created or opened (permissions, read-only filesystem)."""
        if self.path is None or self.pid_file is None or self._fd is not None:
            return
        from reporter.daemon.run import StartupError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise StartupError(f"another reporter (pid {holder}) is already using {self.path}; "
                               "stop it, or give this one its own REPORTER_HISTORY_URL") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        with contextlib.suppress(OSError):  # informational only: the lock is the flock above
            self.pid_file.write_text(f"{os.getpid()}\n")

    def _holder(self, fd: int) -> str:
        stat = os.fstat(fd)
        pid = _holder_from_proc_locks(stat.st_dev, stat.st_ino)
        if pid is not None:
            return str(pid)
        if self.pid_file is None:
            return "?"
        try:
            return self.pid_file.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        """Drop the lock (the history must be closed first: closing this descriptor would also drop SQLite's
        POSIX locks of this process on the file)."""
        if self._fd is not None:
            if self.pid_file is not None:
                with contextlib.suppress(OSError):
                    self.pid_file.unlink(missing_ok=True)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
