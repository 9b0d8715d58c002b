"""Tables of the reports: which report period was rendered (claimed before rendering) and its email deliveries.

``reports``: one row per period, its column ``day`` holding the period's key (``reporter.report.period``:
``YYYY-MM-DD`` in the report timezone for a day; a later kind's keys, e.g. ``2026-W49``, fit its 10 characters);
status ``claimed`` (lease_until set), ``done`` or ``failed`` (``next_attempt_at`` says when to try again).
``report_emails``: one row per period to email, keyed the same way; status ``pending``, ``sent`` or ``failed``.
Times are Unix milliseconds."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from reporter.store.schema import TimestampMs

metadata = MetaData()

reports = Table(
    "reports", metadata,
    Column("day", String(10), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("claimed_by", String(128)),
    Column("lease_until", TimestampMs),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TimestampMs),
    Column("rendered_at", TimestampMs),
    Column("files", Text),
    Column("error", Text),
    Column("updated_at", TimestampMs, nullable=False),
)

report_emails = Table(
    "report_emails", metadata,
    Column("day", String(10), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TimestampMs, nullable=False),
    Column("lease_until", TimestampMs),
    Column("created_at", TimestampMs, nullable=False),
    Column("sent_at", TimestampMs),
    Column("last_error", Text),
)
