"""CSV export of the history: a header row, ISO 8601 UTC timestamps, one column per metric (unscaled)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TextIO

from reporter.base.ms import from_ms
from reporter.base.timefmt import format_utc
from reporter.store.history import History

CHUNK = timedelta(hours=6)


def export_csv(history: History, out: TextIO, start: datetime, end: datetime, metrics: list[str] | None = None,
               progress: Callable[[int], None] | None = None) -> int:
    """Write samples with start <= t < end to ``out`` as CSV, reading in 6-hour chunks (bounded memory);
    ``progress`` is called with the seconds of time range done per chunk. Returns the rows written.

    Raises KeyError naming unknown metrics.
    """
    metrics = metrics or list(history.metrics)
    unknown = [m for m in metrics if m not in history.metrics]
    if unknown:
        raise KeyError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(history.metrics)}")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", *metrics])
    rows, cursor = 0, start
    while cursor < end:
        chunk_end = min(end, cursor + CHUNK)
        for ts, *values in history.rows(metrics, cursor, chunk_end):
            writer.writerow([format_utc(from_ms(ts)),
                             *("" if v is None else _number(v) for v in values)])
            rows += 1
        if progress:
            progress(int((chunk_end - cursor).total_seconds()))
        cursor = chunk_end
    return rows


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(value, 6))
