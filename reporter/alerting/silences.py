"""Silences: label matchers that mute notifications for a time (the alert keeps its state, marked suppressed).

A silence is ``pending`` before its start (a one-off maintenance window planned ahead), ``active`` from its
start until its end, then ``expired`` (Alertmanager's states).
"""

from __future__ import annotations

import builtins  # the method SilenceStore.list shadows the type in its class
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import case, insert, select, update
from sqlalchemy.engine import Engine

from reporter.alerting.matchers import Matcher
from reporter.alerting.state import AlertRecord
from reporter.base.ms import from_ms, to_ms
from reporter.store.alert_schema import silences

__all__ = ["Matcher", "Silence", "SilenceStore", "parse_when"]
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def parse_when(text: str, tz: tzinfo, now: datetime, after: datetime | None = None) -> datetime:
    """A silence's start or end as given on the command line, as an aware datetime.

    ISO 8601 (``2026-12-05T02:00``; local to ``tz`` unless it has an offset or ``Z``), or ``HH:MM`` local: the
    next such time from ``now`` (this minute counts) or, given ``after`` (the end after the start), the next
    one after ``after``. Raises ValueError with a one-line reason.
    """
    raw = text.strip()
    clock = _CLOCK.match(raw)
    if clock:
        base = (after or now).astimezone(tz)
        candidate = base.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        if candidate < base.replace(second=0, microsecond=0) or (after is not None and candidate <= after):
            candidate = (base + timedelta(days=1)).replace(hour=int(clock[1]), minute=int(clock[2]), second=0,
                                                           microsecond=0)
        return candidate  # zoneinfo: a wall time, its offset as on that day
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "zZ" and raw else raw)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a time: write ISO 8601 (2026-12-05T02:00, local unless it has an "
                         f"offset) or HH:MM (the next such local time)") from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


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

    def state(self, now: datetime) -> str:
        """``pending`` (starts later), ``active`` or ``expired`` at ``now``."""
        return "expired" if now >= self.ends_at else "active" if now >= self.starts_at else "pending"


class SilenceStore:
    """Adds, lists and expires silences in the history database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, matchers: list[Matcher], duration_seconds: float | None, comment: str, created_by: str,
            now: datetime, *, starts_at: datetime | None = None, ends_at: datetime | None = None) -> Silence:
        """Create a silence from ``starts_at`` (default ``now``) until ``ends_at`` or for ``duration_seconds``
        (one of the two); a silence starting later is pending until then. Raises ValueError without matchers,
        with a non-positive duration, or an end not after the start and now."""
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        start = now if starts_at is None else starts_at
        if ends_at is None:
            if duration_seconds is None or duration_seconds <= 0:
                raise ValueError("the duration must be positive")
            ends_at = start + timedelta(seconds=duration_seconds)
        if ends_at <= now:
            raise ValueError(f"the end ({ends_at.isoformat()}) is in the past")
        if ends_at <= start:
            raise ValueError(f"the end ({ends_at.isoformat()}) must be after the start ({start.isoformat()})")
        silence = Silence(f"sil_{uuid.uuid4().hex[:12]}", matchers, start, ends_at, comment, created_by)
        with self.engine.begin() as conn:
            conn.execute(insert(silences).values(
                id=silence.id, matchers=json.dumps([str(m) for m in matchers]), starts_at=to_ms(start),
                ends_at=to_ms(ends_at), comment=comment, created_by=created_by, created_at=to_ms(now)))
        return silence

    def list(self, now: datetime, include_expired: bool = False) -> list[Silence]:
        """Silences (pending and active) ordered by end time; expired ones only when asked."""
        query = select(silences).order_by(silences.c.ends_at)
        if not include_expired:
            query = query.where(silences.c.ends_at > to_ms(now))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Silence(r["id"], [Matcher.parse(m) for m in json.loads(r["matchers"])], from_ms(r["starts_at"]),
                        from_ms(r["ends_at"]), r["comment"], r["created_by"]) for r in rows]

    def expire(self, silence_id: str, now: datetime) -> bool:
        """End a silence now (a pending one then starts and ends now); False when no pending or active silence
        has that id."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            result = conn.execute(update(silences).where(silences.c.id == silence_id, silences.c.ends_at > now_ms)
                                  .values(ends_at=now_ms, starts_at=case((silences.c.starts_at > now_ms, now_ms),
                                                                         else_=silences.c.starts_at)))
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
