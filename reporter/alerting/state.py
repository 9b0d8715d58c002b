"""Alert state persisted in the history database, so a restart continues ``for`` windows and knows what fired."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from reporter.alerting.model import AlertState
from reporter.base.ms import from_ms, to_ms
from reporter.store.alert_schema import alert_events, alerts


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

    def save(self, changes: list[tuple[AlertRecord, str | None]], now: datetime,
             also: Callable[[Connection], None] | None = None) -> None:
        """Persist changed records in one transaction; ``event`` (pending/firing/resolved) adds an event row.
        An inactive record without ``resolved_at`` (a pending alert that reset) is deleted. ``also``: more
        writes for the same transaction (given its connection)."""
        if changes:
            self.save_batches([(changes, now)], also)

    def save_batches(self, batches: list[tuple[list[tuple[AlertRecord, str | None]], datetime]],
                     also: Callable[[Connection], None] | None = None) -> None:
        """Persist several evaluations' changes ``[(changes, at), ...]`` (oldest first) in one transaction, each
        with its own time, then ``also`` in it. Raises SQLAlchemy's ``OperationalError`` when the database cannot
        be written."""
        with self.engine.begin() as conn:
            for changes, now in batches:
                self._save(conn, changes, to_ms(now))
            if also is not None:
                also(conn)

    @staticmethod
    def _save(conn, changes: list[tuple[AlertRecord, str | None]], now_ms: int) -> None:
        """One evaluation's changes in a few statements (each sent once, with many rows): the alerts deleted,
        updated and inserted (the last change of a fingerprint wins), then the events in order."""
        rows: dict[str, dict | None] = {}  # fingerprint -> its row's values; None: delete the row
        events = []
        for record, event in changes:
            rows.pop(record.fingerprint, None)  # a later change replaces an earlier one (and goes last)
            labels = json.dumps(record.labels, sort_keys=True)
            if record.state == AlertState.INACTIVE and record.resolved_at is None:
                rows[record.fingerprint] = None
            else:
                rows[record.fingerprint] = {
                    "rule": record.rule, "labels": labels,
                    "annotations": json.dumps(record.annotations, sort_keys=True), "state": str(record.state),
                    "active_at": to_ms(record.active_at), "fired_at": to_ms(record.fired_at),
                    "resolved_at": to_ms(record.resolved_at), "value": record.value, "updated_at": now_ms,
                }
            if event:
                events.append({"at": now_ms, "fingerprint": record.fingerprint, "rule": record.rule, "state": event,
                               "value": record.value, "labels": labels})
        gone = [fp for fp, values in rows.items() if values is None]
        kept = [fp for fp, values in rows.items() if values is not None]
        for chunk in _chunks(gone):
            conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(chunk)))
        stored: set[str] = set()
        for chunk in _chunks(kept):
            stored.update(conn.execute(select(alerts.c.fingerprint).where(alerts.c.fingerprint.in_(chunk))).scalars())
        updates = [{"b_fingerprint": fp, **rows[fp]} for fp in kept if fp in stored]  # type: ignore[dict-item]
        inserts = [{"fingerprint": fp, **rows[fp]} for fp in kept if fp not in stored]  # type: ignore[dict-item]
        if updates:
            conn.execute(update(alerts).where(alerts.c.fingerprint == bindparam("b_fingerprint")), updates)
        if inserts:
            conn.execute(insert(alerts), inserts)
        if events:
            conn.execute(insert(alert_events), events)

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


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """``items`` in lists of at most ``size`` (bound parameters per statement stay well under SQLite's limit)."""
    return [items[i:i + size] for i in range(0, len(items), size)]
