"""Dispatch: decide which alerts each receiver must hear about, batch them, write the batch to the outbox.

Per receiver and alert, the notification log remembers which episode (the alert's ``startsAt``) was notified
firing and resolved, and when. An alert is due when it fires in an episode not yet notified, when it has been
firing for ``repeat_interval`` since the last send, or when it resolved after a firing notification (and the
receiver sends resolved). Due alerts wait ``group_wait`` (counted from the oldest) so a burst goes out as one
notification. Silenced alerts keep their state and are not sent. The outbox row and the log update are
written in one transaction, before any sending: a crash after it sends the notification on restart.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from reporter.alerting.config import Defaults, Receiver
from reporter.alerting.model import AlertNotice, AlertState, Notification
from reporter.alerting.silences import SilenceStore
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.base.ms import from_ms, to_ms
from reporter.store.alert_schema import alert_events, notification_log, outbox

log = logging.getLogger(__name__)

Renderer = Callable[[Receiver, Notification], bytes]


@dataclass
class _Due:
    record: AlertRecord
    status: str  # firing or resolved
    since: datetime


class Dispatcher:
    """Turns alert states into outbox rows, one notification per receiver per flush.

    ``render(receiver, notification) -> body bytes`` builds the receiver's payload (Slack or webhook).
    """

    def __init__(self, engine: Engine, receivers: list[Receiver], defaults: Defaults, render: Renderer,
                 external_url: str = "") -> None:
        self.engine, self.receivers, self.defaults = engine, receivers, defaults
        self.render, self.external_url = render, external_url
        self.alerts = AlertStore(engine)
        self.silences = SilenceStore(engine)
        self.waiting = 0  # alerts due but held by a group wait after the last pass
        self._lock = threading.Lock()  # a pass and a reconfiguration (SIGHUP) never overlap
        self._known_since: dict[str, datetime] = {}  # receiver -> its first pass (it is owed what fired after)

    def configure(self, receivers: list[Receiver], defaults: Defaults) -> None:
        """Use these receivers and defaults from the next pass on (waits for a pass in progress). A receiver
        keeps what it was sent by its name: nothing is sent again; a new receiver hears of what fires from now
        on (not of resolutions of alerts it was never told about)."""
        with self._lock:
            self.receivers, self.defaults = receivers, defaults

    def dispatch(self, now: datetime) -> list[str]:
        """One pass over every receiver; returns the ids of the notifications written to the outbox."""
        with self._lock:
            return self._dispatch(now)

    def _dispatch(self, now: datetime) -> list[str]:
        records = self.alerts.load()
        silenced = self.silences.silenced_fingerprints(records.values(), now)
        with self.engine.connect() as conn:
            logged = {(r.receiver, r.fingerprint): r for r in conn.execute(select(notification_log))}
        written, waiting = [], set()
        for receiver in self.receivers:
            due, later = [], []
            group_wait = self.defaults.group_wait if receiver.group_wait is None else receiver.group_wait
            known_since = self._known_since.setdefault(receiver.name, now)
            for record in records.values():
                if record.fingerprint in silenced or not receiver.accepts(record.labels):
                    continue
                entry = logged.get((receiver.name, record.fingerprint))
                # an earlier episode's resolution, or a whole episode the receiver never heard of, goes out
                # first; what follows it goes out in the next pass, so the receiver hears the changes in order
                if (first := self._ended_episode(receiver, record, entry)
                        or self._unseen_episode(receiver, record, entry, group_wait, known_since)) is not None:
                    due.append(first)
                    later.append(record.fingerprint)
                elif d := self._due(receiver, record, entry, now):
                    due.append(d)
            due.extend(self._gone(receiver, records, logged))
            waiting.update(later)
            if not due:
                continue
            if now < min(d.since for d in due) + timedelta(seconds=group_wait):
                waiting.update(d.record.fingerprint for d in due)
                continue
            written.append(self._flush(receiver, due, now))
        self.waiting = len(waiting)
        finished = [fp for fp, r in records.items()
                    if r.state == AlertState.INACTIVE and r.resolved_at is not None and fp not in waiting]
        # log entries of alerts that are gone (a pending episode that reset) once nothing is owed to receivers
        finished += sorted({e.fingerprint for e in logged.values() if e.fingerprint not in records
                            and (e.firing_sent_at is None or e.resolved_sent_at is not None)})
        if finished:
            self.alerts.forget(finished)
            with self.engine.begin() as conn:
                conn.execute(delete(notification_log).where(notification_log.c.fingerprint.in_(finished)))
        return written

    def _ended_episode(self, receiver: Receiver, record: AlertRecord, logged) -> _Due | None:
        """The resolution of an episode notified firing that ended unseen: the alert resolved and a new
        episode began before the resolution went out (while the store could not be written, or within a
        group wait). The receiver still believes it firing, so it hears the resolution first."""
        if not receiver.send_resolved or logged is None or not logged.firing_sent_at or logged.resolved_sent_at:
            return None
        if record.active_at is not None and to_ms(record.active_at) == logged.starts_at:
            return None  # the same episode: the ordinary rules apply
        ended_at = self._resolved_at(record.fingerprint, logged.starts_at) or record.active_at
        if ended_at is None:
            return None
        old = replace(record, state=AlertState.INACTIVE, active_at=from_ms(logged.starts_at), fired_at=None,
                      resolved_at=ended_at)
        return _Due(old, "resolved", ended_at)

    @staticmethod
    def _unseen_episode(receiver: Receiver, record: AlertRecord, logged, group_wait: float,
                        known_since: datetime) -> _Due | None:
        """The firing of an episode that fired and resolved before the receiver was told (the store could not
        be written meanwhile): owed when it fired for at least the group wait, as it would then have been
        sent, and after the receiver's first pass (a receiver added by a reload hears of what fires from then
        on); its resolution follows in the next pass. A shorter one is not sent (as Alertmanager would not)."""
        if not receiver.send_resolved or record.state != AlertState.INACTIVE or record.resolved_at is None \
                or record.fired_at is None or record.active_at is None or record.fired_at < known_since:
            return None
        if logged is not None and logged.starts_at == to_ms(record.active_at):
            return None  # this episode was notified (or is being)
        if (record.resolved_at - record.fired_at).total_seconds() < group_wait:
            return None
        return _Due(replace(record, state=AlertState.FIRING, resolved_at=None), "firing", record.fired_at)

    def _gone(self, receiver: Receiver, records: dict[str, AlertRecord], logged: dict) -> list[_Due]:
        """Resolutions owed for alerts no longer stored: notified firing, then resolved and reset (a new
        pending episode that ended) before the resolution went out."""
        due: list[_Due] = []
        if not receiver.send_resolved:
            return due
        for (name, fp), entry in logged.items():
            if name != receiver.name or fp in records or not entry.firing_sent_at or entry.resolved_sent_at:
                continue
            event = self._resolved_event(fp, entry.starts_at)
            if event is None:
                continue  # no recorded resolution (its rule was removed): nothing to say
            labels = json.loads(event.labels)
            if receiver.accepts(labels):
                resolved_at = from_ms(event.at)
                record = AlertRecord(fingerprint=fp, rule=event.rule, labels=labels, value=event.value,
                                     active_at=from_ms(entry.starts_at), resolved_at=resolved_at)
                due.append(_Due(record, "resolved", resolved_at))
        return due

    def _resolved_event(self, fingerprint: str, since_ms: int):
        with self.engine.connect() as conn:
            return conn.execute(select(alert_events).where(
                alert_events.c.fingerprint == fingerprint, alert_events.c.state == "resolved",
                alert_events.c.at >= since_ms).order_by(alert_events.c.at, alert_events.c.id).limit(1)).first()

    def _resolved_at(self, fingerprint: str, since_ms: int) -> datetime | None:
        event = self._resolved_event(fingerprint, since_ms)
        return None if event is None else from_ms(event.at)

    def _due(self, receiver: Receiver, record: AlertRecord, logged, now: datetime) -> _Due | None:
        episode = to_ms(record.active_at) if record.active_at else None
        same_episode = logged is not None and logged.starts_at == episode
        if record.state == AlertState.FIRING:
            if not same_episode or logged.firing_sent_at is None:
                return _Due(record, "firing", record.fired_at or now)
            repeat = self.defaults.repeat_interval if receiver.repeat_interval is None else receiver.repeat_interval
            repeat_at = from_ms(logged.firing_sent_at) + timedelta(seconds=repeat)
            return _Due(record, "firing", repeat_at) if now >= repeat_at else None
        if (record.state == AlertState.INACTIVE and record.resolved_at is not None and receiver.send_resolved
                and same_episode and logged.firing_sent_at and not logged.resolved_sent_at):
            return _Due(record, "resolved", record.resolved_at)
        return None

    def _flush(self, receiver: Receiver, due: list[_Due], now: datetime) -> str:
        due.sort(key=lambda d: (d.status != "firing", d.record.alertname, sorted(d.record.labels.items())))
        notification = Notification(
            id=f"msg_{uuid.uuid4().hex}", receiver=receiver.name, created_at=now,
            external_url=self.external_url,
            alerts=[AlertNotice(status=d.status, labels=d.record.labels, annotations=d.record.annotations,
                                starts_at=d.record.active_at or now,
                                ends_at=d.record.resolved_at if d.status == "resolved" else None,
                                fingerprint=d.record.fingerprint,
                                generator_url=f"{self.external_url}/alerts" if self.external_url else "")
                    for d in due],
        )
        body = self.render(receiver, notification)
        now_ms = to_ms(now)
        wall_ms = to_ms(datetime.now(UTC))  # the outbox runs on the wall clock (retries, max age)
        with self.engine.begin() as conn:
            conn.execute(insert(outbox).values(
                id=notification.id, receiver=receiver.name, created_at=wall_ms, status="pending", body=body,
                alert_count=len(due), attempts=0, next_attempt_at=wall_ms))
            for d in due:
                self._log(conn, receiver.name, d, now_ms)
        log.info("notification %s to %s queued: %d alert(s) (%s)", notification.id, receiver.name, len(due),
                 ", ".join(sorted({f"{d.record.alertname} {d.status}" for d in due})))
        return notification.id

    @staticmethod
    def _log(conn: Connection, receiver: str, due: _Due, now_ms: int) -> None:
        key = (notification_log.c.receiver == receiver) & (notification_log.c.fingerprint == due.record.fingerprint)
        starts = to_ms(due.record.active_at) if due.record.active_at else now_ms
        values: dict[str, int | None] = {"starts_at": starts}
        if due.status == "firing":
            values.update(firing_sent_at=now_ms, resolved_sent_at=None)
        else:
            values["resolved_sent_at"] = now_ms
        if not conn.execute(update(notification_log).where(key).values(**values)).rowcount:
            conn.execute(insert(notification_log).values(receiver=receiver, fingerprint=due.record.fingerprint,
                                                         **values))


def notice_json(notification: Notification) -> str:
    """A compact JSON description of a notification (for logs and the CLI)."""
    return json.dumps({"id": notification.id, "receiver": notification.receiver,
                       "alerts": [f"{a.labels.get('alertname')} {a.status}" for a in notification.alerts]})
