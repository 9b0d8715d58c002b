"""One daemon per history: an exclusive lock file beside a SQLite history (``history.db.lock``)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class HistoryLock:
    """``acquire()`` takes a non-blocking exclusive ``flock``; a second daemon on the same file gets a
    StartupError naming the holder's pid. No-op for server databases (``path`` None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        from reporter.daemon.run import StartupError

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StartupError(f"another reporter (pid {holder}) is already using {self.path.with_suffix('')}; "
                               "stop it, or give this one its own REPORTER_HISTORY_URL") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
