"""Escalation: an alert still firing and not acknowledged ``escalate_after`` after it fired is sent to another
receiver (``escalate_to``), once per episode.

Configured on a receiver (its alerts escalate to ``escalate_to`` after ``escalate_after``) or on a rule (the
rule's settings win: its ``escalate_to`` applies whatever receivers take the alert, its ``escalate_after`` alone
changes the receivers' delay). The escalation receiver gets a notification through the outbox like any other
(no ``group_wait``, no repeats, no resolution), whatever its own matchers; each alert in it carries the label
``escalated_from`` (the receivers that were notified, or ``rule <name>``) and its summary starts with
"Escalated". An acknowledged or suppressed (silenced, inhibited) alert is not escalated, and the delay of one
that was suppressed counts from the end of its suppression as this process saw it (after a restart, from when
it fired), so that people hear of it ``escalate_after`` before its escalation. Escalated episodes are recorded in
``escalations`` in the same transaction as the outbox row, so a restart does not escalate them again; rows of
episodes no longer stored are deleted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from reporter.alerting.config import Receiver
from reporter.alerting.model import AlertNotice, AlertState, Notification
from reporter.alerting.rules import Rule, duration_text
from reporter.alerting.state import AlertRecord
from reporter.base.ms import to_ms
from reporter.store.alert_schema import escalations, outbox

log = logging.getLogger(__name__)

ESCALATED_FROM = "escalated_from"  # the label marking an escalated alert

Renderer = Callable[[Receiver, Notification], bytes]


@dataclass
class Target:
    """Where one alert escalates: the receiver ``to``, ``after`` seconds after it fired, on behalf of ``sources``
    (the receivers that took it, or ``rule <name>``)."""

    to: str
    after: float
    sources: list[str]


class Escalation:
    """Decides and writes escalations; called by the dispatcher once per pass (:meth:`run`)."""

    def __init__(self, engine: Engine, rules: list[Rule], receivers: list[Receiver], render: Renderer,
                 external_url: str = "") -> None:
        self.engine, self.render, self.external_url = engine, render, external_url
        self._suppressed_at: dict[tuple[str, int], datetime] = {}  # (fingerprint, episode) -> last seen suppressed
        self.configure(rules, receivers)

    def configure(self, rules: list[Rule], receivers: list[Receiver]) -> None:
        """Use these rules and receivers from the next pass on (a reload); what was escalated stays escalated."""
        self._config = ({r.name: r for r in rules}, receivers)

    def targets(self, record: AlertRecord) -> list[Target]:
        """Where ``record`` escalates (empty: nowhere), from its rule's and its receivers' settings."""
        rules, receivers = self._config
        rule = rules.get(record.rule)
        taking = [r for r in receivers if r.accepts(record.labels)]
        if rule is not None and rule.escalate_to is not None and rule.escalate_after is not None:
            return [Target(rule.escalate_to, rule.escalate_after, [r.name for r in taking] or [f"rule {rule.name}"])]
        found: dict[str, Target] = {}
        for receiver in taking:
            if receiver.escalate_to is None or receiver.escalate_after is None:
                continue
            after = rule.escalate_after if rule is not None and rule.escalate_after is not None \
                else receiver.escalate_after
            target = found.setdefault(receiver.escalate_to, Target(receiver.escalate_to, after, []))
            target.after = min(target.after, after)
            target.sources.append(receiver.name)
        return list(found.values())

    def run(self, records: dict[str, AlertRecord], silenced: set[str], acked: dict, now: datetime) -> list[str]:
        """Escalate what is due at ``now``: firing, not in ``silenced`` (the suppressed ones), not in ``acked``
        (fingerprint -> Ack), fired at least its ``escalate_after`` ago, not escalated to that receiver in this
        episode. Returns the ids of the notifications written to the outbox (one per escalation receiver). Raises
        SQLAlchemy errors."""
        done = self._done(records)
        due: dict[str, list[tuple[AlertRecord, Target]]] = {}
        episodes = {(fp, to_ms(r.active_at)) for fp, r in records.items() if r.active_at is not None}
        self._suppressed_at = {k: v for k, v in self._suppressed_at.items() if k in episodes}
        for record in records.values():
            if record.state != AlertState.FIRING or record.fired_at is None or record.active_at is None:
                continue
            episode = (record.fingerprint, to_ms(record.active_at))
            if record.fingerprint in silenced:
                self._suppressed_at[episode] = now
                continue
            if record.fingerprint in acked:
                continue
            since = max(record.fired_at, self._suppressed_at.get(episode, record.fired_at))
            for target in self.targets(record):
                key = (*episode, target.to)
                if key not in done and now >= since + timedelta(seconds=target.after):
                    due.setdefault(target.to, []).append((record, target))
        receivers = {r.name: r for r in self._config[1]}
        return [self._flush(receivers[to], items, now) for to, items in sorted(due.items()) if to in receivers]

    def _done(self, records: dict[str, AlertRecord]) -> set[tuple[str, int, str]]:
        """The escalated (fingerprint, episode, receiver) of the stored alerts' current episodes; deletes the
        rows of other episodes (resolved and forgotten, or a new episode began)."""
        current = {(fp, to_ms(r.active_at)) for fp, r in records.items() if r.active_at is not None}
        with self.engine.connect() as conn:
            rows = conn.execute(select(escalations)).all()
        stale = [row for row in rows if (row.fingerprint, row.starts_at) not in current]
        if stale:
            with self.engine.begin() as conn:
                for row in stale:
                    conn.execute(delete(escalations).where(escalations.c.fingerprint == row.fingerprint,
                                                           escalations.c.starts_at == row.starts_at))
        return {(row.fingerprint, row.starts_at, row.receiver) for row in rows
                if (row.fingerprint, row.starts_at) in current}

    def _flush(self, receiver: Receiver, items: list[tuple[AlertRecord, Target]], now: datetime) -> str:
        items.sort(key=lambda item: (item[0].alertname, sorted(item[0].labels.items())))
        notification = Notification(
            id=f"msg_{uuid.uuid4().hex}", receiver=receiver.name, created_at=now, external_url=self.external_url,
            alerts=[_notice(record, target, self.external_url) for record, target in items])
        body = self.render(receiver, notification)
        wall_ms = to_ms(datetime.now(UTC))  # the outbox runs on the wall clock (retries, max age)
        with self.engine.begin() as conn:
            conn.execute(insert(outbox).values(
                id=notification.id, receiver=receiver.name, created_at=wall_ms, status="pending", body=body,
                alert_count=len(items), attempts=0, next_attempt_at=wall_ms))
            for record, _ in items:
                assert record.active_at is not None
                conn.execute(insert(escalations).values(fingerprint=record.fingerprint,
                                                        starts_at=to_ms(record.active_at), receiver=receiver.name,
                                                        at=to_ms(now)))
        log.info("notification %s to %s queued: escalation of %s", notification.id, receiver.name,
                 ", ".join(f"{record.alertname} (from {', '.join(target.sources)})" for record, target in items))
        return notification.id


def _notice(record: AlertRecord, target: Target, external_url: str) -> AlertNotice:
    """The escalated alert: its labels plus ``escalated_from``, its summary prefixed with "Escalated"."""
    escalated = replace(record, labels={**record.labels, ESCALATED_FROM: ", ".join(target.sources)})
    summary = record.annotations.get("summary", "")
    annotations = {**record.annotations,
                   "summary": f"Escalated: not acknowledged {duration_text(target.after)} after it fired"
                              + (f". {summary}" if summary else "")}
    assert record.active_at is not None
    return AlertNotice(status="firing", labels=escalated.labels, annotations=annotations, starts_at=record.active_at,
                       ends_at=None, fingerprint=record.fingerprint,
                       generator_url=f"{external_url}/alerts" if external_url else "")


def describe(rules: list[Rule], receivers: list[Receiver]) -> list[str]:
    """One line per configured escalation, for ``reporter check-config``: ``escalation: receiver oncall -> pager
    after 30m (unacknowledged firing alerts)``, ``escalation: rule disk_full -> pager after 10m``."""
    lines = [f"escalation: receiver {r.name} -> {r.escalate_to} after {duration_text(r.escalate_after)} (its firing "
             f"alerts not acknowledged by then)"
             for r in receivers if r.escalate_to is not None and r.escalate_after is not None]
    for rule in rules:
        if rule.escalate_to is not None and rule.escalate_after is not None:
            lines.append(f"escalation: rule {rule.name} -> {rule.escalate_to} after {duration_text(rule.escalate_after)}")
        elif rule.escalate_after is not None:
            lines.append(f"escalation: rule {rule.name} escalates after {duration_text(rule.escalate_after)} "
                         f"(to its receivers' escalate_to)")
    return lines
