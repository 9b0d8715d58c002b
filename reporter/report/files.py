"""Report file names and atomic file writes.

A report's files are named from its period's key (:attr:`reporter.report.period.Period.key`, ``YYYY-MM-DD`` for
a day): ``<key>.html``, ``<key>.pdf`` and ``<key>.<list>.csv`` (:func:`report_path`, :func:`report_files`).

Writes are atomic: a temp file in the same folder, fsync, then rename (readers never see half a file). A
process killed mid-write leaves its temporary file (``.<key>.pdf.XXXXXXXX.tmp``, 0 bytes when killed before
writing); :func:`remove_stale_temps` deletes those older than the longest a rendering may take.

The file gets the mode a plain ``open(path, "w")`` would give it: ``0o666`` less the process's umask (``umask
077`` gives 0600, ``022`` gives 0644), not ``mkstemp``'s 0600 nor a fixed mode.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from reporter.report.period import Period, key_pattern

TEMP_GLOB = ".*.tmp"


def _is_temp_name(name: str) -> bool:
    """``.<period key>.<name>.<random>.tmp``: a temporary file of a report write."""
    return re.fullmatch(rf"\.(?:{key_pattern()})\..+\.tmp", name) is not None


def report_path(folder: Path, period: Period | str, name: str) -> Path:
    """The file ``<folder>/<key>.<name>`` of the report of ``period`` (a Period or its key); ``name`` is
    ``html``, ``pdf`` or ``<list>.csv``."""
    return folder / f"{period}.{name}"


def report_files(folder: Path, period: Period | str) -> dict[str, Path]:
    """The files of the report of ``period`` (a Period or its key) in ``folder``: ``html`` and ``pdf`` (present
    or not) and each ``<key>.<list>.csv`` present, by file name."""
    files = {"html": report_path(folder, period, "html"), "pdf": report_path(folder, period, "pdf")}
    for csv in sorted(folder.glob(f"{period}.*.csv")):
        files[csv.name] = csv
    return files


def render_time_limit(report_timeout: float) -> float:
    """The longest a period's rendering may take, in seconds: the render child (model, HTML, PDF) is killed
    then. ``REPORTER_REPORT_TIMEOUT`` (the PDF's allowance) plus a minute for the model and the HTML."""
    return report_timeout + 60


def remove_stale_temps(folder: Path, max_age: float, now: float | None = None) -> list[Path]:
    """Delete the temporary files of report writes (``.<period key>.<name>.<random>.tmp``) in ``folder`` last
    modified more than ``max_age`` seconds before ``now`` (Unix seconds, default the clock): a killed rendering
    left them; a younger one may be in use. Returns the removed paths; a missing folder or a file that cannot
    be removed is skipped."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        candidates = sorted(folder.glob(TEMP_GLOB)) if folder.is_dir() else []
    except OSError:
        return removed
    for temp in candidates:
        if not _is_temp_name(temp.name):
            continue
        try:
            if temp.is_file() and not temp.is_symlink() and temp.stat().st_mtime < now - max_age:
                temp.unlink()
                removed.append(temp)
        except OSError:
            continue
    return removed


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
