"""The alerting path assembled for the daemon: evaluator (sampling thread) + notifier thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from reporter.alerting.acks import Ack, AckStore
from reporter.alerting.config import AlertingConfig
from reporter.alerting.dispatch import Dispatcher
from reporter.alerting.escalation import Escalation
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.inhibition import DEFAULT_RULES, InhibitRule
from reporter.alerting.model import AlertState
from reporter.alerting.receiver_failing import ReceiverWatch
from reporter.alerting.silences import SilenceStore
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.alerting.suppression import Suppression, suppressions
from reporter.base.errors import one_line
from reporter.notify.outbox import Outbox
from reporter.notify.render import renderer
from reporter.notify.worker import NotifierThread
from reporter.settings import Settings
from reporter.snapshot import ActiveAlert, Snapshot
from reporter.store.history import History

log = logging.getLogger(__name__)


def external_url(settings: Settings, port: int | None = None) -> str:
    """This reporter's URL for notifications: REPORTER_EXTERNAL_URL, else http://HOST:PORT."""
    return settings.external_url or f"http://{settings.http_host}:{port or settings.http_port}"


class Alerting:
    """Evaluates rules on each snapshot and wakes the notifier when alert states changed."""

    def __init__(self, settings: Settings, config: AlertingConfig, history: History, port: int | None = None):
        self.config = config
        store = AlertStore(history.engine)
        self.outbox = Outbox(history.engine, config.receivers, config.defaults)
        self.receivers = ReceiverWatch(history.engine, config.receivers, lambda: self.outbox.recorded)
        self.evaluator = Evaluator(config.rules, config.defaults, store, history, settings.tz, settings.ai_features,
                                   settings.sample_interval, receivers=self.receivers)
        self.dispatcher = Dispatcher(history.engine, config.receivers, config.defaults, renderer(settings.tz),
                                     external_url(settings, port), config.inhibit_rules)
        self.dispatcher.escalation = Escalation(history.engine, config.rules, config.receivers,
                                                renderer(settings.tz), external_url(settings, port))
        self.notifier = NotifierThread(self.dispatcher, self.outbox, health=history.health)
        self.silences = SilenceStore(history.engine)
        self.acks = AckStore(history.engine)
        self._silences_failing = False
        self._lock = threading.Lock()  # an evaluation (sampling thread) and a reload (SIGHUP) never overlap

    def start(self) -> None:
        self.notifier.start()

    def stop(self) -> None:
        self.notifier.stop()

    def reload_state(self) -> None:
        """Re-read the alert records from the store (a takeover: the previous leader's), keeping ``for`` windows
        (see :meth:`reporter.alerting.evaluator.Evaluator.reload`); waits for an evaluation in progress."""
        with self._lock:
            self.evaluator.reload()
        self.notifier.wake()

    def shift_clock(self, seconds: float) -> None:
        """The wall clock stepped by ``seconds``: move pending ``for`` windows with it."""
        with self._lock:
            self.evaluator.shift_clock(seconds)

    def evaluate(self, snapshot: Snapshot) -> Snapshot:
        """Evaluate the rules; return the snapshot with its active alerts listed."""
        with self._lock:
            changed = self.evaluator.evaluate(snapshot)
            active = self.evaluator.active()
        if changed:
            self.notifier.wake()
        suppressed = self._suppressed(active, snapshot)
        acked = self._acked(active)
        return snapshot.model_copy(update={"alerts": [active_alert(r, suppressed.get(r.fingerprint),
                                                                   acked.get(r.fingerprint)) for r in active]})

    def reload(self, config: AlertingConfig) -> str:
        """Use a new configuration (SIGHUP), as Prometheus and Alertmanager reload theirs: alert states and
        pending ``for`` windows are kept, nothing already sent is sent again, a new receiver gets what fires
        from now on; a firing alert of a removed rule resolves (the receivers told it fired hear it resolved), a
        pending one is dropped. Waits for an evaluation or a dispatch pass in progress. Returns a one-line summary
        of what changed."""
        old = self.config
        with self._lock:
            self.receivers.configure(config.receivers)  # before the rules: a removed receiver's alert resolves
            self.evaluator.configure(config.rules, config.defaults)
            self.dispatcher.configure(config.receivers, config.defaults, config.inhibit_rules)
            if self.dispatcher.escalation is not None:
                self.dispatcher.escalation.configure(config.rules, config.receivers)
            self.outbox.configure(config.receivers, config.defaults)
            self.config = config
        self.notifier.wake()
        rules = _changes({r.name: r for r in old.rules}, {r.name: r for r in config.rules})
        receivers = _changes({r.name: r for r in old.receivers}, {r.name: r for r in config.receivers})
        defaults = "defaults changed" if old.defaults != config.defaults else "defaults unchanged"
        intervals = _changes(old.time_intervals, config.time_intervals)
        return (f"{len(config.rules)} rules ({rules}), {len(config.receivers)} receiver(s) ({receivers}), "
                f"{defaults}, {len(config.time_intervals)} time interval(s) ({intervals})")

    def _suppressed(self, active: list[AlertRecord], snapshot: Snapshot) -> dict[str, Suppression]:
        """Suppressions by fingerprint (:mod:`reporter.alerting.suppression`); without the silences (logged once,
        and once when they can be read again) when the store cannot be read."""
        if not active:
            return {}
        rules = self.config.inhibit_rules
        try:
            suppressed = suppressions(active, snapshot.timestamp, self.silences, rules)
        except Exception as exc:
            if not self._silences_failing:
                log.warning("alerting: cannot read the silences (%s); alerts are listed without them",
                            one_line(exc))
                self._silences_failing = True
            return suppressions(active, snapshot.timestamp, None, rules)
        if self._silences_failing:
            log.info("alerting: silences readable again")
            self._silences_failing = False
        return suppressed

    def _acked(self, active: list[AlertRecord]) -> dict[str, Ack]:
        """Acknowledgements by fingerprint; empty when unreadable (the silences' warning says the store fails)."""
        if not active:
            return {}
        try:
            return self.acks.acked(active)
        except Exception:
            return {}


def stored_alerts(history: History, now: datetime,
                  inhibit_rules: Sequence[InhibitRule] = DEFAULT_RULES) -> list[ActiveAlert]:
    """The fleet's pending and firing alerts as the leader stored them (``alerts``), firing first, each marked
    suppressed when silenced or inhibited (by ``inhibit_rules``, this node's configuration): what a node that
    does not lead lists at ``/alerts`` and in its snapshot. Raises SQLAlchemy errors when the store cannot be
    read."""
    records = [r for r in AlertStore(history.engine).load().values()
               if r.state in (AlertState.FIRING, AlertState.PENDING)]
    records.sort(key=lambda r: (r.state != AlertState.FIRING, r.alertname, r.fingerprint))
    suppressed = suppressions(records, now, SilenceStore(history.engine), inhibit_rules)
    acked = AckStore(history.engine).acked(records) if records else {}
    return [active_alert(r, suppressed.get(r.fingerprint), acked.get(r.fingerprint)) for r in records]


def active_alert(record: AlertRecord, suppression: Suppression | None = None, ack: Ack | None = None) -> ActiveAlert:
    """An alert record as listed in the snapshot and by ``GET /alerts``; ``suppression``: why it sends nothing
    (silences matching it, alerts inhibiting it), None when it is not suppressed; ``ack``: its episode's
    acknowledgement (None: not acknowledged)."""
    return ActiveAlert(
        alertname=record.alertname, state=str(record.state), severity=record.labels.get("severity"),
        host=record.labels.get("host"), labels=record.labels, summary=record.annotations.get("summary"), value=record.value,
        active_at=record.active_at, fired_at=record.fired_at, fingerprint=record.fingerprint,
        suppressed=suppression is not None,
        silenced_by=list(suppression.silenced_by) if suppression else [],
        inhibited_by=list(suppression.inhibited_by) if suppression else [],
        suppressed_reason=suppression.reason if suppression else None,
        acknowledged_by=ack.by if ack else None, acknowledged_at=ack.at if ack else None,
        ack_comment=ack.comment if ack else None,
    )


def _changes(old: dict, new: dict) -> str:
    """``1 added, 0 removed, 2 changed`` between two name -> model mappings."""
    added = len(new.keys() - old.keys())
    removed = len(old.keys() - new.keys())
    changed = sum(1 for name in new.keys() & old.keys() if new[name] != old[name])
    return f"{added} added, {removed} removed, {changed} changed"
