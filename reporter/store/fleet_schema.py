"""Tables of the fleet: the hosts writing into one history, and the leadership record.

``hosts``: one row per host name (``REPORTER_HOST_NAME``). Each node upserts its row with every sample:
``last_sample`` (Unix ms of its newest stored sample), ``snapshot`` (its latest snapshot as JSON, what the leader
evaluates the host's rules on and what ``/snapshot?host=`` serves), ``status``, ``version``, ``role`` (node or
agent), ``node_id`` (a random id per running process), ``pid``, ``address`` (its HTTP URL), ``started_at`` and
``seen_at`` (Unix ms of its last write of this row).

``leadership``: one row (``id`` = 1). ``epoch`` is the fencing epoch, incremented by each takeover in the
transaction that records the new leader (``host``, ``node_id``, ``since``); every outbox claim, delivery record
and report claim of a leader checks in its own transaction that the epoch is still the one it took over with.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

from reporter.store.schema import TimestampMs

metadata = MetaData()

hosts = Table(
    "hosts", metadata,
    Column("name", String(64), primary_key=True),
    Column("node_id", String(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("version", String(32), nullable=False),
    Column("pid", Integer),
    Column("address", String(255)),
    Column("started_at", TimestampMs, nullable=False),
    Column("seen_at", TimestampMs, nullable=False),
    Column("last_sample", TimestampMs),
    Column("status", String(16)),
    Column("snapshot", Text),
)

leadership = Table(
    "leadership", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("host", String(64)),
    Column("node_id", String(32)),
    Column("since", TimestampMs),
)
