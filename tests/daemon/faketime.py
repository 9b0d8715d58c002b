"""A daemon's wall clock set and stepped by a test, with libfaketime (``apt-get install libfaketime``).

The daemon runs with libfaketime preloaded and reads its offset from a file the test writes. Only the wall clock
is faked: the monotonic clock (timed waits, scheduling) is left alone, and so are file times (``NO_FAKE_STAT``:
Python compares a module's mtime with its cached bytecode). libfaketime re-reads the file at most once a second
(``FAKETIME_CACHE_DURATION``; with ``FAKETIME_NO_CACHE``, a read at every clock call, daemons took up to 85 s to
start on a busy CI machine), and the file is replaced atomically, so that a read never sees it half written.

Tests step the clock once the daemon is up (:meth:`FakeClock.set_now`) rather than start it just before the
moment they test: how long a start takes then does not matter."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

LIBFAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                "/usr/lib/faketime/libfaketime.so.1", "/usr/local/lib/faketime/libfaketime.so.1")
                    if Path(p).exists()), None)


class FakeClock:
    """The wall clock of the processes started with :meth:`env`: the real time plus :attr:`offset` seconds
    (whole seconds, as libfaketime reads them from ``folder``/faketime)."""

    def __init__(self, folder: Path, library: str, offset: int = 0) -> None:
        self.path, self.library = folder / "faketime", library
        self.set(offset)

    def set(self, offset: int) -> None:
        """Step the faked clock to the real time plus ``offset`` seconds; the processes see it within 1 s."""
        self.offset = offset
        partial = self.path.with_suffix(".partial")
        partial.write_text(f"{offset:+d}\n")
        os.replace(partial, self.path)

    def set_now(self, when: datetime) -> None:
        """Step the faked clock so that it reads ``when`` (aware) now."""
        self.set(round((when - datetime.now(UTC)).total_seconds()))

    def now(self) -> datetime:
        """What the faked clock reads now (aware UTC)."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def env(self) -> dict[str, str]:
        """The environment variables that put a process on this clock."""
        return {"LD_PRELOAD": self.library, "FAKETIME_TIMESTAMP_FILE": str(self.path),
                "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1",
                "NO_FAKE_STAT": "1"}
