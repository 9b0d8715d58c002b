"""Alert state persisted in the history database, so a restart continues ``for`` windows and knows what fired."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import overload

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from reporter.alerting.model import AlertState
from reporter.store.alert_schema import alert_events, alerts
from reporter.store.history import to_ms


@overload
def from_ms(value: None) -> None: ...
@overload
def from_ms(value: int) -> datetime: ...
def from_ms(value: int | None) -> datetime | None:
    """Unix milliseconds -> aware UTC datetime (None stays None)."""
    return None if value is None else datetime.fromtimestamp(value / 1000.0, UTC)


@dataclass
class AlertRecord:
    """One alert's state. ``active_at``: when the condition became true (start of pending; the alert's
    ``startsAt``); ``fired_at``: when it started firing; ``resolved_at``: when it resolved (state is then
    inactive until its resolution has been notified). ``value`` is the last value evaluated."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    state: AlertState = AlertState.INACTIVE
    active_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    value: float | None = None

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", self.rule)


class AlertStore:
    """Reads and writes ``alerts`` and ``alert_events``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> dict[str, AlertRecord]:
        """Every stored alert (pending, firing, or resolved awaiting notification) by fingerprint."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts)).mappings().all()
        return {
            r["fingerprint"]: AlertRecord(
                fingerprint=r["fingerprint"], rule=r["rule"], labels=json.loads(r["labels"]),
                annotations=json.loads(r["annotations"]), state=AlertState(r["state"]),
                active_at=from_ms(r["active_at"]), fired_at=from_ms(r["fired_at"]),
                resolved_at=from_ms(r["resolved_at"]), value=r["value"],
            )
            for r in rows
        }

    def save(self, changes: list[tuple[AlertRecord, str | None]], now: datetime) -> None:
        """Persist changed records in one transaction; ``event`` (pending/firing/resolved) adds an event row.
        An inactive record without ``resolved_at`` (a pending alert that reset) is deleted."""
        if changes:
            self.save_batches([(changes, now)])

    def save_batches(self, batches: list[tuple[list[tuple[AlertRecord, str | None]], datetime]]) -> None:
        """Persist several evaluations' changes ``[(changes, at), ...]`` (oldest first) in one transaction, each
        with its own time. Raises SQLAlchemy's ``OperationalError`` when the database cannot be written."""
        with self.engine.begin() as conn:
            for changes, now in batches:
                self._save(conn, changes, to_ms(now))

    @staticmethod
    def _save(conn, changes: list[tuple[AlertRecord, str | None]], now_ms: int) -> None:
        for record, event in changes:
            if record.state == AlertState.INACTIVE and record.resolved_at is None:
                conn.execute(delete(alerts).where(alerts.c.fingerprint == record.fingerprint))
            else:
                values = {
                    "rule": record.rule, "labels": json.dumps(record.labels, sort_keys=True),
                    "annotations": json.dumps(record.annotations, sort_keys=True), "state": str(record.state),
                    "active_at": _ms(record.active_at), "fired_at": _ms(record.fired_at),
                    "resolved_at": _ms(record.resolved_at), "value": record.value, "updated_at": now_ms,
                }
                updated = conn.execute(update(alerts).where(alerts.c.fingerprint == record.fingerprint)
                                       .values(**values))
                if not updated.rowcount:
                    conn.execute(insert(alerts).values(fingerprint=record.fingerprint, **values))
            if event:
                conn.execute(insert(alert_events).values(
                    at=now_ms, fingerprint=record.fingerprint, rule=record.rule, state=event,
                    value=record.value, labels=json.dumps(record.labels, sort_keys=True)))

    def forget(self, fingerprints: list[str]) -> None:
        """Delete finished alerts (resolved and notified)."""
        if fingerprints:
            with self.engine.begin() as conn:
                conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(fingerprints),
                                                  alerts.c.state == str(AlertState.INACTIVE)))

    def drop(self, fingerprints: list[str]) -> None:
        """Delete alerts whatever their state (their rule is gone)."""
        if fingerprints:
            with self.engine.begin() as conn:
                conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(fingerprints)))

    def events(self, start: datetime, end: datetime) -> list[dict]:
        """State changes between start and end, oldest first (for reports)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_events).where(alert_events.c.at >= to_ms(start),
                                                           alert_events.c.at < to_ms(end))
                                .order_by(alert_events.c.at, alert_events.c.id)).mappings().all()
        return [{**r, "at": from_ms(r["at"]), "labels": json.loads(r["labels"])} for r in rows]


def _ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)
