"""The local sample spool: where a node keeps its samples while the history (PostgreSQL) is unreachable.

A folder (REPORTER_SPOOL_PATH) of append-only JSON-lines *segments*, ``segment-<seq>.jsonl``, one
:class:`reporter.store.history.SampleRow` per line (every dataclass field, by name), oldest segment first. Each
append is one ``write`` + ``fsync`` (one line per sample interval). ``cursor.json`` records how far the oldest
segment has been drained (``{"segment": name, "offset": bytes}``, replaced atomically after each drained row), so
a restarted node goes on where it stopped; a drained segment is deleted.

Bounds: ``max_bytes`` (REPORTER_SPOOL_MAX_BYTES; when the segments hold more, the oldest segment is deleted) and
``max_age`` seconds (REPORTER_SPOOL_MAX_AGE; older rows are dropped when appending — whole segments — and when
draining). Either drop is logged as one warning per spooling episode (until the spool is empty again), with the
count; :attr:`Spool.dropped` counts them all.

A line that cannot be read (a torn last line after the writer was killed mid-append, or a damaged one) is skipped
with one warning per segment. Appends after a restart go to a new segment, never after a torn line.

One :class:`Spool` per folder and process; thread-safe (the sampling thread appends while the store writer
drains).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from reporter.store.history import SampleRow

log = logging.getLogger(__name__)
SEGMENT = re.compile(r"^segment-(\d{12})\.jsonl$")
CURSOR = "cursor.json"
SEGMENTS_PER_SPOOL = 8  # a segment holds up to max_bytes / 8: a size drop loses at most an eighth of the spool
ROW_FIELDS = frozenset(f.name for f in fields(SampleRow))


def encode(row: SampleRow) -> bytes:
    """One spool line (JSON, newline-terminated) of every field of ``row``."""
    return json.dumps(asdict(row), separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> SampleRow:
    """The row of a spool line; unknown fields are ignored. Raises ValueError (or TypeError: a required field is
    missing) for a line that is not one."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return SampleRow(**{k: v for k, v in data.items() if k in ROW_FIELDS})


@dataclass
class Segment:
    """One segment file: its sequence number, rows not yet drained, size in bytes, newest row's ts (ms)."""

    seq: int
    rows: int = 0
    bytes: int = 0
    last_ts: int | None = None

    @property
    def name(self) -> str:
        return f"segment-{self.seq:012d}.jsonl"


@dataclass
class Drained:
    """What one :meth:`Spool.drain` did: rows ``written``, rows ``dropped`` (too old or unreadable), rows still
    ``remaining``."""

    written: int = 0
    dropped: int = 0
    remaining: int = 0


class Spool:
    """The spool folder ``path`` (created on the first append), bounded by ``max_bytes`` and ``max_age``
    seconds; ``clock`` gives Unix seconds (for the age bound). Opening scans the existing segments (a restart
    goes on with them). :meth:`append` raises OSError when the folder cannot be written (full disk...)."""

    def __init__(self, path: str | Path, max_bytes: int, max_age: float, *, segment_bytes: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.max_bytes, self.max_age, self.clock = max_bytes, max_age, clock
        self.segment_bytes = segment_bytes or max(4096, max_bytes // SEGMENTS_PER_SPOOL)
        self.dropped = 0  # rows dropped by a bound or unreadable, since this process opened the spool
        self._lock = threading.Lock()  # the segment list, counts, cursor and the file being appended to
        self._drain_lock = threading.Lock()  # one drain at a time
        self._segments: list[Segment] = []
        self._offset = 0  # bytes of the oldest segment already drained
        self._active: Segment | None = None  # the segment this process appends to
        self._fd: int | None = None
        self._warned: set[str] = set()  # the drop warnings given in this episode ("size", "age")
        self._warned_unreadable: set[int] = set()
        self._count = 0
        self._scan()

    # ---- opening -------------------------------------------------------------------------------------------
    def _scan(self) -> None:
        if not self.path.is_dir():
            return
        seqs = sorted(int(m.group(1)) for p in self.path.iterdir() if (m := SEGMENT.match(p.name)))
        cursor = self._read_cursor()
        for seq in seqs:
            segment = Segment(seq)
            file = self.path / segment.name
            if cursor is not None and segment.name < cursor[0]:  # drained, not deleted (killed in between)
                file.unlink(missing_ok=True)
                continue
            offset = cursor[1] if cursor is not None and cursor[0] == segment.name else 0
            try:
                data = file.read_bytes()
            except OSError as exc:
                log.warning("spool: cannot read %s (%s); its samples are skipped", file, exc)
                continue
            tail = data[min(offset, len(data)):]
            segment.bytes = len(data)
            segment.rows = tail.count(b"\n") + (1 if tail and not tail.endswith(b"\n") else 0)
            segment.last_ts = _last_ts(tail)
            if segment.rows == 0:
                file.unlink(missing_ok=True)
                continue
            if not self._segments:
                self._offset = min(offset, len(data))
            self._segments.append(segment)
        self._count = sum(s.rows for s in self._segments)

    def _read_cursor(self) -> tuple[str, int] | None:
        try:
            data = json.loads((self.path / CURSOR).read_text())
            return str(data["segment"]), int(data["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # ---- state ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Rows held (not yet drained nor dropped); a torn line counts until a drain skips it."""
        return self._count

    @property
    def bytes(self) -> int:
        """Bytes of the segment files."""
        return sum(s.bytes for s in self._segments)

    def check_writable(self) -> None:
        """Create the folder and write (then remove) a probe file in it; raises OSError when it cannot."""
        self.path.mkdir(parents=True, exist_ok=True)
        probe = self.path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()

    # ---- appending -----------------------------------------------------------------------------------------
    def append(self, row: SampleRow) -> None:
        """Add ``row`` at the end (written and fsynced before returning), then apply the bounds: segments whose
        newest row is older than ``max_age`` are deleted, and the oldest segments while the spool holds more than
        ``max_bytes``. Raises OSError when the folder cannot be written (the row is not spooled)."""
        line = encode(row)
        with self._lock:
            if self._active is None or (self._active.bytes and self._active.bytes + len(line) > self.segment_bytes):
                self._rotate()
            assert self._active is not None and self._fd is not None
            try:
                _write_all(self._fd, line)
                os.fsync(self._fd)
            except OSError:
                with contextlib.suppress(OSError):  # no half line for the next append to follow
                    os.ftruncate(self._fd, self._active.bytes)
                raise
            self._active.bytes += len(line)
            self._active.rows += 1
            self._active.last_ts = row.ts
            self._count += 1
            self._drop_old_segments()
            self._drop_over_size()

    def _rotate(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        seq = (self._segments[-1].seq + 1) if self._segments else self._next_free_seq()
        segment = Segment(seq)
        self._fd = os.open(self.path / segment.name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segments.append(segment)
        self._active = segment

    def _next_free_seq(self) -> int:
        """After every existing segment and the cursor's (a stale cursor must never name a later segment)."""
        seqs = [int(m.group(1)) for p in self.path.iterdir() if (m := SEGMENT.match(p.name))]
        cursor = self._read_cursor()
        if cursor is not None and (m := SEGMENT.match(cursor[0])):
            seqs.append(int(m.group(1)))
        return max(seqs, default=0) + 1

    def _drop_old_segments(self) -> None:
        cutoff = self._cutoff_ms()
        while len(self._segments) > 1 and (self._segments[0].last_ts or 0) < cutoff:
            segment = self._segments[0]
            self._delete_oldest()
            self._dropped("age", segment.rows, f"{segment.rows} samples older than {self.max_age:g} s "
                                               "(REPORTER_SPOOL_MAX_AGE) dropped")

    def _drop_over_size(self) -> None:
        while len(self._segments) > 1 and self.bytes > self.max_bytes:
            segment = self._segments[0]
            self._delete_oldest()
            self._dropped("size", segment.rows, f"spool over {self.max_bytes} bytes (REPORTER_SPOOL_MAX_BYTES): "
                                                f"its oldest {segment.rows} samples dropped")

    def _dropped(self, kind: str, rows: int, message: str) -> None:
        self.dropped += rows
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("spool: %s; further drops are counted, not logged, until the spool is empty (%s)",
                        message, self.path)

    def _delete_oldest(self) -> None:
        segment = self._segments.pop(0)
        self._count -= segment.rows
        self._offset = 0
        if segment is self._active:  # only when it is the one segment left: a drain emptied it
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._active = None, None
        if self._segments:
            self._save_cursor(self._segments[0].name, 0)
        (self.path / segment.name).unlink(missing_ok=True)
        if not self._segments:
            self._warned.clear()

    def _cutoff_ms(self) -> int:
        return int((self.clock() - self.max_age) * 1000)

    # ---- draining ------------------------------------------------------------------------------------------
    def drain(self, write: Callable[[SampleRow], Any], max_rows: int | None = None,
              max_seconds: float | None = None) -> Drained:
        """Write rows oldest first with ``write(row)`` until the spool is empty, ``max_rows`` were written or
        ``max_seconds`` have passed. A row is removed from the spool once ``write`` returned; rows older than
        ``max_age`` and unreadable lines are dropped unwritten. When ``write`` raises, the row stays first in the
        spool and the exception propagates (use :meth:`discard_first` to skip a row the store refuses for good).

        ``write`` runs without the spool's lock: another thread may :meth:`append` meanwhile (one drain at a
        time)."""
        return self.drain_batches(lambda rows: write(rows[0]), 1, max_rows, max_seconds)

    def drain_batches(self, write: Callable[[list[SampleRow]], Any], batch: int, max_rows: int | None = None,
                      max_seconds: float | None = None) -> Drained:
        """:meth:`drain` by batches: ``write(rows)`` gets up to ``batch`` consecutive rows, oldest first (all
        from one segment); they leave the spool together once it returned, and all stay when it raises."""
        started = time.monotonic()
        done = Drained()
        with self._drain_lock:
            while True:
                if max_rows is not None and done.written >= max_rows:
                    break
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    break
                size = batch if max_rows is None else max(1, min(batch, max_rows - done.written))
                with self._lock:
                    item = self._next_batch(done, size)
                if item is None:
                    break
                segment, end, rows = item
                write(rows)
                with self._lock:
                    self._advance(segment, end, len(rows))
                done.written += len(rows)
        with self._lock:
            done.remaining = self._count
            if not self._segments:
                self._warned.clear()
        return done

    def _next_batch(self, done: Drained, size: int) -> tuple[Segment, int, list[SampleRow]] | None:
        """Up to ``size`` rows from the oldest segment's cursor on (the segment and the end offset of the last
        one); unreadable and too old lines at the head are dropped on the way (one after rows waits for the next
        batch), used-up segments deleted. None when the spool is empty. Called with the lock held."""
        while self._segments:
            rows: list[SampleRow] = []
            segment = self._segments[0]
            end = self._offset
            try:
                with open(self.path / segment.name, "rb") as f:
                    f.seek(self._offset)
                    while len(rows) < size:
                        line = f.readline()
                        if not line:
                            break
                        row = self._readable(segment, end, line)
                        if row is None:
                            if rows:
                                break  # dropped on the next call, once these rows are written
                            end += len(line)
                            self._advance(segment, end)
                            done.dropped += 1
                            continue
                        end += len(line)
                        rows.append(row)
            except FileNotFoundError:
                pass
            if rows:
                return segment, end, rows
            if self._segments and self._segments[0] is segment:
                self._delete_oldest()  # used up (the one being appended to too: the next append starts anew)
        return None

    def _readable(self, segment: Segment, start: int, line: builtins.bytes) -> SampleRow | None:
        """The row of ``line`` (at byte ``start`` of ``segment``), or None when it is unreadable (warned once per
        segment) or older than ``max_age`` (counted in the age warning)."""
        try:
            if not line.endswith(b"\n"):
                raise ValueError("torn line (no newline: the writer stopped mid-line)")
            row = decode(line)
        except (ValueError, TypeError) as exc:
            self.dropped += 1
            if segment.seq not in self._warned_unreadable:
                self._warned_unreadable.add(segment.seq)
                log.warning("spool: skipped an unreadable line of %s at byte %d (%s); a node killed while "
                            "spooling leaves one", self.path / segment.name, start, exc)
            return None
        if row.ts < self._cutoff_ms():
            self._dropped("age", 1, f"samples older than {self.max_age:g} s (REPORTER_SPOOL_MAX_AGE) dropped")
            return None
        return row

    def _advance(self, segment: Segment, end: int, rows: int = 1) -> None:
        """The ``rows`` rows ending at byte ``end`` of ``segment`` are done with (written or dropped); nothing
        when a bound deleted the segment meanwhile."""
        if not self._segments or self._segments[0] is not segment:
            return
        self._offset = end
        segment.rows = max(0, segment.rows - rows)
        self._count = max(0, self._count - rows)
        self._save_cursor(segment.name, end)

    def discard_first(self) -> SampleRow | None:
        """Drop the oldest row unwritten (one the store refuses for good: a bug, not an outage); returns it
        (None when the spool is empty or its first line is unreadable)."""
        dropped: list[SampleRow] = []

        def keep(row: SampleRow) -> None:
            dropped.append(row)

        self.drain(keep, max_rows=1)
        if dropped:
            self.dropped += 1
        return dropped[0] if dropped else None

    def _save_cursor(self, name: str, offset: int) -> None:
        temp = self.path / (CURSOR + ".tmp")
        temp.write_text(json.dumps({"segment": name, "offset": offset}))
        os.replace(temp, self.path / CURSOR)

    def close(self) -> None:
        """Close the segment being appended to (the files stay)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._active = None, None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _last_ts(data: bytes) -> int | None:
    """The ts of the last readable line of ``data`` (None when there is none)."""
    for line in reversed(data.split(b"\n")):
        if line.strip():
            try:
                return int(json.loads(line)["ts"])
            except (ValueError, KeyError, TypeError):
                continue
    return None
