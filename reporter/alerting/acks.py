"""Acknowledgement: someone on call says "I am on it" for one episode of an alert.

An acknowledgement belongs to the episode it was given in (the alert's ``active_at``, its ``startsAt``): the
alert stops repeating (the dispatcher sends no ``repeat_interval`` notification for it), it is not escalated,
and its notifications, ``reporter alerts``, ``/alerts``, the snapshot and the daily report say who
acknowledged it and when. It ends when the alert resolves: the next episode starts unacknowledged. Rows are
kept in ``acks`` (history database) for the reports and pruned after :data:`KEEP_DAYS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from reporter.alerting.model import AlertState
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.base.ms import from_ms, to_ms
from reporter.store.alert_schema import acks

KEEP_DAYS = 40  # longer than the report's look-back for episodes (30 days)
MAX_BY = 64  # characters of ``by`` (the column's size)
MAX_COMMENT = 1000


class AckError(ValueError):
    """An acknowledgement that cannot be given; the message is one line for the user."""


class UnknownAlert(AckError):
    """No stored alert has that fingerprint (or alert name)."""


@dataclass(frozen=True)
class Ack:
    """One acknowledgement: ``by`` (a person's or tool's name) acknowledged the episode of ``fingerprint`` that
    became active at ``starts_at``, at ``at`` (UTC), saying ``comment`` (may be empty)."""

    fingerprint: str
    starts_at: datetime
    by: str
    comment: str
    at: datetime


def _active(record: AlertRecord) -> bool:
    return record.state in (AlertState.PENDING, AlertState.FIRING) and record.active_at is not None


class AckStore:
    """Gives and reads acknowledgements in the history database (``acks``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pruned_at: datetime | None = None

    def ack(self, fingerprint: str, by: str, comment: str, now: datetime) -> Ack:
        """Acknowledge the current episode of the pending or firing alert ``fingerprint``; acknowledging it again
        replaces who, when and the comment. Raises :class:`UnknownAlert` when no alert has that fingerprint,
        :class:`AckError` when it is resolved (nothing left to acknowledge) or ``by``/``comment`` are too long
        or ``by`` is empty."""
        by, comment = by.strip(), comment.strip()
        if not by:
            raise AckError("by: who acknowledges must be named")
        if len(by) > MAX_BY:
            raise AckError(f"by: at most {MAX_BY} characters")
        if len(comment) > MAX_COMMENT:
            raise AckError(f"comment: at most {MAX_COMMENT} characters")
        record = AlertStore(self.engine).load().get(fingerprint)
        if record is None:
            raise UnknownAlert(f"no alert has the fingerprint {fingerprint!r} (see `reporter alerts`)")
        if not _active(record):
            raise AckError(f"{record.alertname} ({fingerprint}) is resolved: only a pending or firing alert can "
                           f"be acknowledged")
        assert record.active_at is not None
        ack = Ack(fingerprint, record.active_at, by, comment, now)
        key = (acks.c.fingerprint == fingerprint) & (acks.c.starts_at == to_ms(record.active_at))
        values = {"acked_by": by, "comment": comment, "at": to_ms(now)}
        with self.engine.begin() as conn:
            if not conn.execute(update(acks).where(key).values(**values)).rowcount:
                conn.execute(insert(acks).values(fingerprint=fingerprint, starts_at=to_ms(record.active_at),
                                                 **values))
        return ack

    def matching(self, target: str, records: Iterable[AlertRecord]) -> list[AlertRecord]:
        """The pending and firing alerts ``target`` names: the one with that fingerprint, else every one whose
        alert name (or rule) is ``target``; sorted by alert name and labels. Raises :class:`UnknownAlert` when
        none is (naming the active alerts' names)."""
        active = [r for r in records if _active(r)]
        found = [r for r in active if r.fingerprint == target] or \
            [r for r in active if target in (r.alertname, r.rule)]
        if not found:
            names = ", ".join(sorted({r.alertname for r in active})) or "none"
            raise UnknownAlert(f"no pending or firing alert has the fingerprint or alert name {target!r} "
                               f"(active: {names})")
        return sorted(found, key=lambda r: (r.alertname, sorted(r.labels.items())))

    def acked(self, records: Iterable[AlertRecord], now: datetime | None = None) -> dict[str, Ack]:
        """``{fingerprint: Ack}`` of the ``records`` whose current episode (``active_at``) is acknowledged (a
        resolved record awaiting its notification keeps its episode's); an earlier episode's ack is ignored.
        With ``now`` (the dispatcher's passes), acks older than :data:`KEEP_DAYS` are pruned once an hour."""
        if now is not None and (self._pruned_at is None or now - self._pruned_at >= timedelta(hours=1)):
            self.prune(now)
            self._pruned_at = now
        episodes = {(r.fingerprint, to_ms(r.active_at)) for r in records if r.active_at is not None}
        if not episodes:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(acks).where(acks.c.fingerprint.in_({fp for fp, _ in episodes}))).all()
        return {row.fingerprint: _ack(row) for row in rows if (row.fingerprint, row.starts_at) in episodes}

    def of_alerts(self, fingerprints: Iterable[str]) -> dict[str, list[Ack]]:
        """Every stored ack of these alerts (for the reports), by fingerprint, latest episode first."""
        fingerprints = set(fingerprints)
        if not fingerprints:
            return {}
        result: dict[str, list[Ack]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(acks).where(acks.c.fingerprint.in_(fingerprints))
                                .order_by(acks.c.starts_at.desc())).all()
        for row in rows:
            result.setdefault(row.fingerprint, []).append(_ack(row))
        return result

    def prune(self, now: datetime) -> int:
        """Delete acknowledgements given more than :data:`KEEP_DAYS` ago; returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(acks).where(acks.c.at < to_ms(now - timedelta(days=KEEP_DAYS)))).rowcount


def _ack(row) -> Ack:
    return Ack(row.fingerprint, from_ms(row.starts_at), row.acked_by, row.comment, from_ms(row.at))


def notice_fields(ack: Ack | None) -> dict:
    """The :class:`reporter.notify.notification.AlertNotice` fields telling who acknowledged (empty: none)."""
    if ack is None:
        return {}
    return {"acknowledged_by": ack.by, "acknowledged_at": ack.at, "ack_comment": ack.comment}
