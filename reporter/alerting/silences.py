"""Silences: label matchers that mute notifications for a time (the alert keeps its state, marked suppressed)."""

from __future__ import annotations

import builtins  # the method SilenceStore.list shadows the type in its class
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from reporter.alerting.matchers import Matcher
from reporter.alerting.state import AlertRecord
from reporter.base.ms import from_ms, to_ms
from reporter.store.alert_schema import silences

__all__ = ["Matcher", "Silence", "SilenceStore"]


@dataclass(frozen=True)
class Silence:
    """A stored silence; active while ``starts_at <= now < ends_at``."""

    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


class SilenceStore:
    """Adds, lists and expires silences in the history database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, matchers: list[Matcher], duration_seconds: float, comment: str, created_by: str,
            now: datetime) -> Silence:
        """Create a silence from now for ``duration_seconds``; raises ValueError without matchers."""
        if not matchers:
            raise ValueError("a silence needs at least one --match")
        if duration_seconds <= 0:
            raise ValueError("the duration must be positive")
        silence = Silence(f"sil_{uuid.uuid4().hex[:12]}", matchers, now, now + timedelta(seconds=duration_seconds),
                          comment, created_by)
        with self.engine.begin() as conn:
            conn.execute(insert(silences).values(
                id=silence.id, matchers=json.dumps([str(m) for m in matchers]), starts_at=to_ms(now),
                ends_at=to_ms(silence.ends_at), comment=comment, created_by=created_by, created_at=to_ms(now)))
        return silence

    def list(self, now: datetime, include_expired: bool = False) -> list[Silence]:
        """Silences ordered by end time; expired ones only when asked."""
        query = select(silences).order_by(silences.c.ends_at)
        if not include_expired:
            query = query.where(silences.c.ends_at > to_ms(now))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Silence(r["id"], [Matcher.parse(m) for m in json.loads(r["matchers"])], from_ms(r["starts_at"]),
                        from_ms(r["ends_at"]), r["comment"], r["created_by"]) for r in rows]

    def expire(self, silence_id: str, now: datetime) -> bool:
        """End a silence now; False when no active silence has that id."""
        with self.engine.begin() as conn:
            result = conn.execute(update(silences).where(silences.c.id == silence_id,
                                                         silences.c.ends_at > to_ms(now))
                                  .values(ends_at=to_ms(now)))
        return bool(result.rowcount)

    def silenced_by(self, records: Iterable[AlertRecord], now: datetime) -> dict[str, builtins.list[str]]:
        """``{fingerprint: [ids of the active silences matching it]}`` for the alerts that are silenced
        (Alertmanager's ``status.silencedBy``)."""
        active = [s for s in self.list(now) if s.active(now)]
        if not active:
            return {}
        result = {}
        for record in records:
            ids = [s.id for s in active if s.matches(record.labels)]
            if ids:
                result[record.fingerprint] = ids
        return result

    def silenced_fingerprints(self, records: Iterable[AlertRecord], now: datetime) -> set[str]:
        """Fingerprints of the alerts that an active silence matches."""
        return set(self.silenced_by(records, now))
