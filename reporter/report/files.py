"""Atomic file writes: a temp file in the same folder, fsync, then rename (readers never see half a file).

The file gets the mode a plain ``open(path, "w")`` would give it: ``0o666`` less the process's umask (``umask
077`` gives 0600, ``022`` gives 0644), not ``mkstemp``'s 0600 nor a fixed mode.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc/self/status`` on Linux); elsewhere it is set and
    restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permission bits of a newly created regular file: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (creating the folder), with the mode a plain open would give it
    (:func:`new_file_mode`); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fchmod(handle.fileno(), new_file_mode())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
