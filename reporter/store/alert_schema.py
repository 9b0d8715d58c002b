"""Tables of the alerting path, in the history database. Times are Unix milliseconds (UTC).

``alerts``: current state per alert (fingerprint); kept while active and until its resolution is notified.
``alert_events``: one row per state change (pending, firing, resolved, dropped), for reports and audits.
``notification_log``: per receiver and alert, which episode (``starts_at``) was notified firing/resolved, when.
``outbox``: notifications written before they are sent; ``delivery_attempts``: one row per attempt.
``silences``: label matchers that mute notifications for a time.
``acks``: who acknowledged which episode of an alert (``starts_at``: the episode's ``active_at``), kept for the
reports (pruned by age).
``escalations``: the episodes of an alert escalated to a receiver (once each, across restarts).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

from reporter.store.schema import TimestampMs

metadata = MetaData()

alerts = Table(
    "alerts", metadata,
    Column("fingerprint", String(32), primary_key=True),
    Column("rule", String(64), nullable=False),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("active_at", TimestampMs),
    Column("fired_at", TimestampMs),
    Column("resolved_at", TimestampMs),
    Column("value", Float),
    Column("updated_at", TimestampMs, nullable=False),
)

alert_events = Table(
    "alert_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TimestampMs, nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float),
    Column("labels", Text, nullable=False),
    Index("ix_alert_events_at", "at"),
)

notification_log = Table(
    "notification_log", metadata,
    Column("receiver", String(64), primary_key=True),
    Column("fingerprint", String(32), primary_key=True),
    Column("starts_at", TimestampMs, nullable=False),
    Column("firing_sent_at", TimestampMs),
    Column("resolved_sent_at", TimestampMs),
)

outbox = Table(
    "outbox", metadata,
    Column("id", String(40), primary_key=True),
    Column("receiver", String(64), nullable=False),
    Column("created_at", TimestampMs, nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered, failed, expired
    Column("body", LargeBinary, nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TimestampMs, nullable=False),
    Column("lease_until", TimestampMs),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("last_response", Text),
    Column("delivered_at", TimestampMs),
    Index("ix_outbox_due", "status", "receiver", "created_at"),
)

delivery_attempts = Table(
    "delivery_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", String(40), nullable=False, index=True),
    Column("at", TimestampMs, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status_code", Integer),
    Column("outcome", String(16), nullable=False),  # delivered, retry, failed
    Column("error", Text),
)

silences = Table(
    "silences", metadata,
    Column("id", String(40), primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", TimestampMs, nullable=False),
    Column("ends_at", TimestampMs, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", TimestampMs, nullable=False),
)

acks = Table(
    "acks", metadata,
    Column("fingerprint", String(32), primary_key=True),
    Column("starts_at", TimestampMs, primary_key=True),  # the acknowledged episode (the alert's active_at)
    Column("acked_by", String(64), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", TimestampMs, nullable=False),
)

escalations = Table(
    "escalations", metadata,
    Column("fingerprint", String(32), primary_key=True),
    Column("starts_at", TimestampMs, primary_key=True),  # the escalated episode (the alert's active_at)
    Column("receiver", String(64), primary_key=True),  # the escalation receiver (escalate_to)
    Column("at", TimestampMs, nullable=False),
)
