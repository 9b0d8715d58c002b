"""Dispatch: decide which alerts each receiver must hear about, group them, write each group to the outbox.

Grouping follows Alertmanager's route: per receiver, alerts with the same values of the ``group_by`` labels form
a group (``["..."]``: every label). A group is notified as a whole: every alert of it that fires, and those
resolved since the last notification (when the receiver sends resolved), so ``status`` is ``firing`` while any
of them fires. A new group waits ``group_wait`` (from its oldest change) for more alerts; a change to a group
already notified (an alert fires or resolves) waits ``group_interval`` after the group's last notification; an
unchanged group whose alerts still fire is sent again every ``repeat_interval`` (acknowledged alerts,
:mod:`reporter.alerting.acks`, do not make it repeat; they go out with the group's changes).

Per receiver and alert, the notification log remembers which episode (the alert's ``startsAt``) was notified
firing and resolved, and when; a group's last notification is the latest of its alerts'. Suppressed alerts
(silenced or inhibited, :mod:`reporter.alerting.suppression`) keep their state and are not sent; an inhibited
alert still firing when its source resolves is notified then. A receiver muted by its time intervals
(``Receiver.muted``) is sent nothing: what is due for it stays owed and goes out when the window ends. The
outbox row and the log update are written in one transaction, before any sending: a crash after it sends the
notification on restart.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from reporter.alerting.acks import AckStore, notice_fields
from reporter.alerting.config import Defaults, Grouping, Receiver
from reporter.alerting.escalation import Escalation
from reporter.alerting.inhibition import InhibitRule
from reporter.alerting.model import AlertNotice, AlertState, Notification
from reporter.alerting.silences import SilenceStore
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.alerting.suppression import suppressions
from reporter.base.ms import from_ms, to_ms
from reporter.store.alert_schema import alert_events, notification_log, outbox

log = logging.getLogger(__name__)

Renderer = Callable[[Receiver, Notification], bytes]


@dataclass
class _Due:
    record: AlertRecord
    status: str  # firing or resolved
    since: datetime


@dataclass
class _Group:
    """One receiver's group of alerts in a pass: ``labels`` (its group labels), ``changes`` (what the receiver has
    not heard: new firings, resolutions, owed episodes), ``firing`` (alerts it was told fire, still firing: sent
    again with a change or a repeat), ``last_sent`` (ms, its latest notification; None: never notified)."""

    labels: dict[str, str]
    changes: list[_Due] = field(default_factory=list)
    firing: list[_Due] = field(default_factory=list)
    acked: list[_Due] = field(default_factory=list)  # told, still firing, acknowledged: sent with a change only
    last_sent: int | None = None

    def saw(self, entry) -> None:
        """Count a notification log entry of one of its alerts in ``last_sent``."""
        if entry is not None:
            sent = [t for t in (entry.firing_sent_at, entry.resolved_sent_at) if t is not None]
            if sent:
                self.last_sent = max(self.last_sent or 0, *sent)

    def due_at(self, grouping: Grouping) -> datetime | None:
        """When this group is to be notified: a new group ``wait`` after its oldest change, a change to a notified
        group ``interval`` after its last notification, an unchanged firing group ``repeat`` after it; None when
        there is nothing to say."""
        if self.changes:
            if self.last_sent is None:
                return min(d.since for d in self.changes) + timedelta(seconds=grouping.wait)
            return from_ms(self.last_sent) + timedelta(seconds=grouping.interval)
        if self.firing and self.last_sent is not None:
            return from_ms(self.last_sent) + timedelta(seconds=grouping.repeat)
        return None


class Dispatcher:
    """Turns alert states into outbox rows: per receiver, one notification per group that is due in a pass.

    ``render(receiver, notification) -> body bytes`` builds the receiver's payload (Slack or webhook);
    ``inhibit_rules``: the inhibition rules in force (:mod:`reporter.alerting.inhibition`).
    """

    def __init__(self, engine: Engine, receivers: list[Receiver], defaults: Defaults, render: Renderer,
                 external_url: str = "", inhibit_rules: Sequence[InhibitRule] = ()) -> None:
        self.engine, self.receivers, self.defaults = engine, receivers, defaults
        self.render, self.external_url = render, external_url
        self.inhibit_rules = list(inhibit_rules)
        self.alerts = AlertStore(engine)
        self.silences = SilenceStore(engine)
        self.acks = AckStore(engine)
        self.escalation: Escalation | None = None  # set by the pipeline (reporter.alerting.escalation)
        self._acked: dict = {}  # fingerprint -> Ack, of the pass in progress (acked alerts do not repeat)
        self.waiting = 0  # alerts due but held by a group wait or interval after the last pass
        self._lock = threading.Lock()  # a pass and a reconfiguration (SIGHUP) never overlap
        self._known_since: dict[str, datetime] = {}  # receiver -> its first pass (it is owed what fired after)

    def configure(self, receivers: list[Receiver], defaults: Defaults,
                  inhibit_rules: Sequence[InhibitRule] | None = None) -> None:
        """Use these receivers, defaults (and inhibition rules, when given) from the next pass on (waits for a
        pass in progress). A receiver keeps what it was sent by its name: nothing is sent again; a new receiver
        hears of what fires from now on (not of resolutions of alerts it was never told about)."""
        with self._lock:
            self.receivers, self.defaults = receivers, defaults
            if inhibit_rules is not None:
                self.inhibit_rules = list(inhibit_rules)

    def dispatch(self, now: datetime) -> list[str]:
        """One pass over every receiver; returns the ids of the notifications written to the outbox."""
        with self._lock:
            return self._dispatch(now)

    def _dispatch(self, now: datetime) -> list[str]:
        records = self.alerts.load()
        suppressed = suppressions(records.values(), now, self.silences, self.inhibit_rules)
        self._acked = self.acks.acked(records.values(), now)
        logged = self._logged(now)
        written: list[str] = []
        waiting: set[str] = set()
        for receiver in self.receivers:
            grouping = receiver.grouping(self.defaults)
            groups = self._groups(receiver, grouping, records, suppressed, logged, now, waiting)
            muted = receiver.muted(now)  # a time interval: what is owed waits for the window's end
            for group in groups:
                due_at = group.due_at(grouping)
                if due_at is None:
                    continue
                if muted or now < due_at:
                    waiting.update(d.record.fingerprint for d in group.changes)
                    continue
                written.append(self._flush(receiver, grouping, group, now))
        if self.escalation is not None:
            written += self.escalation.run(records, set(suppressed), self._acked, now)
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

    def _logged(self, now: datetime) -> dict:
        """The notification log by (receiver, fingerprint). A notification stamped later than ``now`` was sent
        before the wall clock stepped back (NTP, ``date -s``, also while the daemon was down): its stamp becomes
        ``now`` in the store, so ``group_interval`` and ``repeat_interval`` count real time from here on instead
        of waiting out the step (a resolution held back for hours)."""
        now_ms, c = to_ms(now), notification_log.c
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(notification_log)))
        if any((r.firing_sent_at or 0) > now_ms or (r.resolved_sent_at or 0) > now_ms for r in rows):
            with self.engine.begin() as conn:
                moved = conn.execute(update(notification_log).where(c.firing_sent_at > now_ms)
                                     .values(firing_sent_at=now_ms)).rowcount
                moved += conn.execute(update(notification_log).where(c.resolved_sent_at > now_ms)
                                      .values(resolved_sent_at=now_ms)).rowcount
                rows = list(conn.execute(select(notification_log)))
            log.warning("alerting: %d notification time(s) lay after now (the wall clock stepped back); they count "
                        "as sent now", moved)
        return {(r.receiver, r.fingerprint): r for r in rows}

    def _groups(self, receiver: Receiver, grouping: Grouping, records: dict[str, AlertRecord],
                suppressed: dict, logged: dict, now: datetime, waiting: set[str]) -> list[_Group]:
        """The receiver's groups in this pass, each with what it owes and what still fires. An alert whose
        earlier episode is owed first is added to ``waiting`` (its current episode goes out in a later pass)."""
        groups: dict[tuple, _Group] = {}

        def group_of(labels: dict[str, str]) -> _Group:
            key = grouping.key(labels)
            return groups.setdefault(tuple(key.items()), _Group(key))

        known_since = self._known_since.setdefault(receiver.name, now)
        for record in records.values():
            if record.fingerprint in suppressed or not receiver.accepts(record.labels):
                continue
            entry = logged.get((receiver.name, record.fingerprint))
            group = group_of(record.labels)
            group.saw(entry)
            # an earlier episode's resolution, or a whole episode the receiver never heard of, goes out first;
            # what follows it goes out in a later pass, so the receiver hears the changes in order
            if (first := self._ended_episode(receiver, record, entry)
                    or self._unseen_episode(receiver, record, entry, grouping.wait, known_since)) is not None:
                group.changes.append(first)
                waiting.add(record.fingerprint)
            elif record.state == AlertState.FIRING:
                told = entry is not None and entry.firing_sent_at is not None and record.active_at is not None \
                    and entry.starts_at == to_ms(record.active_at)
                told_to = group.acked if record.fingerprint in self._acked else group.firing
                (told_to if told else group.changes).append(_Due(record, "firing", record.fired_at or now))
            elif d := self._resolution(receiver, record, entry):
                group.changes.append(d)
        for d, entry in self._gone(receiver, records, logged):
            group = group_of(d.record.labels)
            group.saw(entry)
            group.changes.append(d)
        return list(groups.values())

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
        if receiver.muted(record.fired_at):
            return None  # it fired (and resolved) while a time interval muted the receiver
        if (record.resolved_at - record.fired_at).total_seconds() < group_wait:
            return None
        return _Due(replace(record, state=AlertState.FIRING, resolved_at=None), "firing", record.fired_at)

    def _gone(self, receiver: Receiver, records: dict[str, AlertRecord], logged: dict) -> list[tuple[_Due, Any]]:
        """Resolutions owed for alerts no longer stored: notified firing, then resolved and reset (a new
        pending episode that ended) before the resolution went out; each with its notification log entry."""
        due: list[tuple[_Due, Any]] = []
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
                due.append((_Due(record, "resolved", resolved_at), entry))
        return due

    def _resolved_event(self, fingerprint: str, since_ms: int):
        with self.engine.connect() as conn:
            return conn.execute(select(alert_events).where(
                alert_events.c.fingerprint == fingerprint, alert_events.c.state == "resolved",
                alert_events.c.at >= since_ms).order_by(alert_events.c.at, alert_events.c.id).limit(1)).first()

    def _resolved_at(self, fingerprint: str, since_ms: int) -> datetime | None:
        event = self._resolved_event(fingerprint, since_ms)
        return None if event is None else from_ms(event.at)

    @staticmethod
    def _resolution(receiver: Receiver, record: AlertRecord, logged) -> _Due | None:
        """The resolution of the episode the receiver was told fires, when not yet sent (and it sends them)."""
        episode = to_ms(record.active_at) if record.active_at else None
        if (record.state == AlertState.INACTIVE and record.resolved_at is not None and receiver.send_resolved
                and logged is not None and logged.starts_at == episode and logged.firing_sent_at
                and not logged.resolved_sent_at):
            return _Due(record, "resolved", record.resolved_at)
        return None

    def _flush(self, receiver: Receiver, grouping: Grouping, group: _Group, now: datetime) -> str:
        """Write the group's notification (its changes and its other firing alerts) and the log, in one
        transaction; returns the notification id."""
        changed = {d.record.fingerprint for d in group.changes}
        due = group.changes + [d for d in group.firing + group.acked if d.record.fingerprint not in changed]
        due.sort(key=lambda d: (d.status != "firing", d.record.alertname, sorted(d.record.labels.items())))
        notification = Notification(
            id=f"msg_{uuid.uuid4().hex}", receiver=receiver.name, created_at=now,
            external_url=self.external_url, group_labels=group.labels,
            alerts=[AlertNotice(status=d.status, labels=d.record.labels, annotations=d.record.annotations,
                                starts_at=d.record.active_at or now,
                                ends_at=d.record.resolved_at if d.status == "resolved" else None,
                                fingerprint=d.record.fingerprint,
                                generator_url=f"{self.external_url}/alerts" if self.external_url else "",
                                **notice_fields(self._acked.get(d.record.fingerprint)))
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
        log.info("notification %s to %s queued: group %s, %d alert(s) (%s)", notification.id, receiver.name,
                 _pairs(group.labels), len(due), ", ".join(sorted({f"{d.record.alertname} {d.status}" for d in due})))
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


def _pairs(labels: dict[str, str]) -> str:
    return "{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "}"


def notice_json(notification: Notification) -> str:
    """A compact JSON description of a notification (for logs and the CLI)."""
    return json.dumps({"id": notification.id, "receiver": notification.receiver,
                       "alerts": [f"{a.labels.get('alertname')} {a.status}" for a in notification.alerts]})
