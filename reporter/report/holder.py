"""Who holds a claim: ``host:pid:start`` (start = the process's start time, Unix seconds), and whether that
process is gone. A claim of a dead process on this host can be taken over at once instead of waiting for its
lease; a claim of another host cannot be checked from here and waits for its lease.

The start time guards against pid reuse: a live process with the holder's pid but another start time is not
the holder. Claims written before the start time was recorded (``host:pid``) count as dead only when no
process has that pid.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

START_TOLERANCE_SECONDS = 1.0  # psutil's start time is derived from the boot time, which some kernels round


@dataclass(frozen=True)
class Holder:
    """A claim's holder: ``host``, ``pid`` and ``start`` (process start time in Unix seconds, None if unknown)."""

    host: str
    pid: int
    start: float | None = None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}" + ("" if self.start is None else f":{self.start:.2f}")

    @classmethod
    def parse(cls, text: str | None) -> Holder | None:
        """``host:pid[:start]`` as written by ``str()``; None for anything else."""
        parts = (text or "").split(":")
        try:
            if len(parts) == 2:
                return cls(parts[0], int(parts[1]))
            if len(parts) == 3:
                return cls(parts[0], int(parts[1]), float(parts[2]))
        except ValueError:
            pass
        return None


def this_process() -> Holder:
    """The holder string of this process: host name, pid, start time."""
    return Holder(socket.gethostname(), os.getpid(), round(psutil.Process().create_time(), 2))


def is_dead(text: str | None) -> bool:
    """True when ``text`` names a process on this host that is no longer running (gone, a zombie, or its pid
    now belongs to a process started at another time). False for other hosts, this very process, unparsable
    text, and whenever it cannot be told (access denied)."""
    holder = Holder.parse(text)
    if holder is None or holder.host != socket.gethostname():
        return False
    try:
        process = psutil.Process(holder.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        if holder.start is None:
            return False
        return abs(process.create_time() - holder.start) > START_TOLERANCE_SECONDS
    except psutil.NoSuchProcess:
        return True
    except (psutil.AccessDenied, OSError):
        return False
