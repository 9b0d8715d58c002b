"""The app-wide rows of a report (``History.app_rows``: the AI counters and usage figures) as numpy arrays, read
once by :func:`reporter.report.build.build_report` and shared by its AI and usage figures and by the trends
(:mod:`reporter.report.trends`, :mod:`reporter.report.usage_trends`); and the last readings of app-wide columns
before a time.

A month of 10 s samples is 268,000 rows: as arrays (8 bytes a value) rather than a list of row tuples (about
200 MB of Python objects), and counter increases summed by numpy rather than in Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from reporter.store.history import History


class Samples:
    """The app rows of a report as arrays: ``ts`` (ms, int64) and one float array per column of ``wanted`` (NaN
    where missing; all NaN for a column not wanted or not read), made once for the report's AI and usage figures and
    its trends. ``rows`` are ``(ts_ms, *values)`` in ``columns`` order, oldest first; converted :data:`CHUNK` rows
    at a time, so the caller can drop its list of rows right after (a month: 45 MB of arrays instead of 200 MB)."""

    CHUNK = 16_384

    def __init__(self, columns: list[str], rows: list[tuple], wanted: list[str]) -> None:
        index = {name: i + 1 for i, name in enumerate(columns)}
        kept = [name for name in dict.fromkeys(wanted) if name in index]
        table = np.full((len(rows), len(kept) + 1), np.nan)
        picks = [0, *(index[name] for name in kept)]
        for at in range(0, len(rows), self.CHUNK):
            chunk = np.array(rows[at:at + self.CHUNK], dtype=float).reshape(-1, len(columns) + 1)
            table[at:at + len(chunk)] = chunk[:, picks]
        self.ts = table[:, 0].astype(np.int64)  # ms timestamps are exact in a float64
        # each column its own array (not a view of the table), so that joining parts can free them one by one
        self._columns = {name: np.ascontiguousarray(table[:, i + 1]) for i, name in enumerate(kept)}
        self._rows = len(rows)

    @classmethod
    def from_chunks(cls, columns: list[str], chunks: Iterable[list[tuple]], wanted: list[str],
                    start_ms: int) -> Samples:
        """The rows of ``chunks`` (lists of ``(ts_ms, *values)`` in ``columns`` order, oldest first, as
        :meth:`reporter.store.history.History.app_row_chunks` yields them) from the last one before ``start_ms``
        (the base of the first counter increase) on, converted a list at a time: a month's rows are never all
        Python objects at once."""
        parts = [cls(columns, chunk, wanted) for chunk in chunks]
        merged = cls(columns, [], wanted)
        if parts:
            ts = np.concatenate([p.ts for p in parts])
            base = max(0, int(np.searchsorted(ts, start_ms, side="left")) - 1)
            ts = ts[base:]
            merged.ts, merged._rows = ts, len(ts)
            for name in list(merged._columns):  # a column at a time, each part's freed once joined: the month's
                # arrays are never held twice
                joined = np.concatenate([p._columns.pop(name) for p in parts])[base:]
                if np.isnan(joined).all():  # never read (e.g. token counters the application does not write):
                    del merged._columns[name]  # column() gives the same NaN without holding them
                else:
                    merged._columns[name] = joined
        return merged

    def __len__(self) -> int:
        return self._rows

    def column(self, name: str) -> np.ndarray:
        """The values of ``name`` (NaN where missing; all NaN for a column not wanted or not read)."""
        found = self._columns.get(name)
        return np.full(self._rows, np.nan) if found is None else found

    def increases(self, name: str) -> np.ndarray:
        """Per-step increases of a counter (``len - 1`` of them): a decrease is a reset (the step is the new
        value), NaN where either side is missing."""
        values = self.column(name)
        step = values[1:] - values[:-1]
        return np.where(step < 0, values[1:], step)


def total(steps: np.ndarray) -> float | None:
    """The sum of the non-NaN ``steps`` (counter increases), None when there is none."""
    clean = steps[~np.isnan(steps)]
    return float(clean.sum()) if len(clean) else None


def last(values: np.ndarray) -> float | None:
    """The last non-NaN value, None when there is none."""
    present = np.flatnonzero(~np.isnan(values))
    return float(values[present[-1]]) if len(present) else None


def last_readings(history: History, columns: list[str], start: datetime, end: datetime) -> dict[str, float | None]:
    """The last non-missing value of each app-wide column in start <= t < end (None when it has none), read
    backwards from ``end`` in growing windows (1 h, 1 day, the rest): usage figures are read every few minutes,
    so the last hour of a month nearly always holds them all, and a month's rows are not read for seven values."""
    found: dict[str, float | None] = dict.fromkeys(columns)
    until = end
    for since in (end - timedelta(hours=1), end - timedelta(days=1), start):
        since = max(since, start)
        if since >= until:
            continue
        rows = history.app_rows(columns, since, until)
        for i, name in enumerate(columns):
            if found[name] is None:
                found[name] = next((r[i + 1] for r in reversed(rows) if r[i + 1] is not None), None)
        if all(v is not None for v in found.values()):
            break
        until = since
    return found
