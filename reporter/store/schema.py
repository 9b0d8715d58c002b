"""Tables of the history database.

``samples``: one row per snapshot; ``ts`` is the sample time in Unix milliseconds (UTC) and the primary key
(in SQLite the rowid itself, so a time range is a range scan with no extra index); every other column is a
metric from :mod:`reporter.catalog`, a fixed-point integer read back as float. On PostgreSQL (a fleet) it also
has ``host`` (the host that sampled the row), the primary key is (host, ts), and the table is partitioned by
range of ``ts``, one partition per UTC day (:mod:`reporter.store.partitions`); ``app`` is true on the rows
that hold app-wide values (``ai_*``, ``usage_*``: the leader's), which the partial index ``ix_samples_app_ts``
finds by time without reading every host's rows.
``usage_lists``: the top-users and popular-scenarios lists as JSON, a row only when a list changed.
"""

from __future__ import annotations

import logging
import math

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.types import TypeDecorator

from reporter.catalog import Metric
from reporter.failures import FailureLog

log = logging.getLogger(__name__)
# a source that keeps sending an out-of-range value would otherwise log on every sample
out_of_range = FailureLog(log)
MAX_STORED = 2**63  # a signed 64-bit integer column

# BIGINT in server databases; INTEGER in SQLite so that "ts INTEGER PRIMARY KEY" is the rowid
TimestampMs = BigInteger().with_variant(Integer(), "sqlite")


class Fixed(TypeDecorator):
    """A float stored as ``round(value * scale)`` in an integer column; read back as float (None stays None)."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 1) -> None:
        super().__init__()
        self.scale = scale

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        scaled = float(value) * self.scale
        if not math.isfinite(scaled) or abs(scaled) >= MAX_STORED:
            out_of_range.failed("history", f"value {value!r} is out of the storable range; stored as missing",
                                hint="logged once, then at most every 5 minutes while it goes on")
            return None
        return round(scaled)

    def process_result_value(self, value, dialect):
        return None if value is None else value / self.scale


def samples_table(metadata: MetaData, metrics: list[Metric], fleet: bool = False) -> Table:
    """The ``samples`` table with a column per metric in ``metrics``; ``fleet`` (PostgreSQL): with the
    ``host`` column, keyed by (host, ts), partitioned by range of ts, and the ``app`` marker with its index."""
    columns: list[Column] = [Column("host", String(64), primary_key=True)] if fleet else []
    columns.append(Column("ts", TimestampMs, primary_key=True, autoincrement=False))
    columns.extend(Column(m.name, Fixed(m.scale), nullable=True) for m in metrics)
    if fleet:
        columns.append(Column("app", Boolean, nullable=True))
        table = Table("samples", metadata, *columns, postgresql_partition_by="RANGE (ts)")
        Index("ix_samples_app_ts", table.c.ts, postgresql_where=text("app"))
        return table
    return Table("samples", metadata, *columns)


def usage_lists_table(metadata: MetaData) -> Table:
    """The ``usage_lists`` table: (kind, ts) -> JSON body."""
    return Table(
        "usage_lists", metadata,
        Column("kind", String(32), primary_key=True),
        Column("ts", TimestampMs, primary_key=True, autoincrement=False),
        Column("body", Text, nullable=False),
    )


def meta_table(metadata: MetaData) -> Table:
    """The ``meta`` table: key -> value facts about the history."""
    return Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text))
