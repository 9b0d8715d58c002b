"""Rule evaluation and the alert lifecycle, as Prometheus does it.

inactive -> pending (condition true; ``for`` not yet elapsed; one false sample resets it) -> firing ->
resolved (condition false, with hysteresis ``clear``). A missing value neither starts nor resolves an alert;
when a rule's value has been missing for ``no_data_for`` seconds, one ``no_data`` alert for that rule fires.
Time is the snapshot's timestamp, so tests (and replays) control the clock.

Only observed time counts towards ``for``: when no sample was evaluated for longer than ``for_outage_tolerance``
(default three sample intervals, at least 10 s; the daemon was down, or sampling hung), pending alerts start
their window again at the next sample, as Prometheus does not restore a ``for`` state across a long outage.
Firing alerts stay firing. When the wall clock steps, :meth:`Evaluator.shift_clock` moves pending windows with it;
a pending window (or firing time) later than the evaluation time (the clock stepped back while the daemon was
down) is brought back to that time, with one warning naming the alert and the step.

Hosts (issue 10): the per-host rules are evaluated on this node's snapshot and, in a fleet (PostgreSQL history),
on every other host's latest stored snapshot (:mod:`reporter.alerting.fleet`; one older than three sample
intervals is not evaluated), each alert labelled ``host=<name>``; the app-wide rules
(:mod:`reporter.alerting.scope`) once, on this node's snapshot, with no ``host`` label. ``no_data`` is per rule
and host likewise. ``host_down{host}`` fires for another host whose last sample is too old, never for this one.
The alerts of a host without a ``hosts`` row (forgotten) end (:func:`reporter.alerting.fleet.end_forgotten`).
A single host (SQLite) labels its alerts ``host=REPORTER_HOST_NAME``. ``receiver_failing`` is evaluated once per
configured receiver (``receivers``, :mod:`reporter.alerting.receiver_failing`), labelled ``receiver``.

Alerts stored before hosts existed (a per-host rule's alert without a ``host`` label) are adopted, not resolved:
while such an alert is pending or firing it stays the alert of the history's original host (``meta``
``history_host``, else this node's), under its old fingerprint, and resolves under it (the receivers told it
fired hear it resolved); the next episode of that rule is labelled with the host.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reporter.alerting.annotate import annotate, fmt
from reporter.alerting.config import Defaults
from reporter.alerting.fleet import FleetSnapshots, HostView, end_forgotten
from reporter.alerting.held import HeldChanges
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.receiver_failing import RECEIVER_LABEL, ReceiverWatch, failing_instances
from reporter.alerting.rules import COMPARISONS, Rule, compare
from reporter.alerting.scope import HOST_LABEL, Instance, app_wide_rule, without_host
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.alerting.values import HistoryValues, reading, threshold_value
from reporter.snapshot import Snapshot
from reporter.store.health import HistoryHealth
from reporter.store.hosts import HostRegistry

log = logging.getLogger(__name__)
FOR_JITTER_SECONDS = 0.5
EVALUATED_AT_META = "alerts_evaluated_at"  # history meta key: the last evaluation while an alert was pending
GAP_INTERVALS = 3  # default for_outage_tolerance: three sample intervals ...
GAP_MIN_SECONDS = 10.0  # ... and at least this long, so that a plain restart keeps pending windows
LEGACY_HOST_META = "history_host"  # history meta key: the host whose samples (and alerts) predate hosts


class Evaluator:
    """Evaluates every rule on each snapshot, keeps alert states (in memory and in the store).

    ``evaluate(snapshot)`` returns the records that changed state (already persisted). ``sample_interval``
    (seconds) sets the default ``for_outage_tolerance``: three intervals, at least 10 s. ``host``: this node's
    host name (default ``history.host``); in a fleet (``history.fleet``) the other hosts' snapshots are read from
    the store's ``hosts`` rows at each evaluation. ``receivers``: the configured receivers' health, the value of
    ``receiver_failing`` (None: that rule raises nothing).

    When the store cannot be written (a full disk), evaluation goes on in memory: the state changes are kept,
    in order and with their own timestamps, and saved before newer ones by the next evaluation that can write
    (at most ``MAX_UNSAVED`` changes are kept; beyond, the oldest are dropped with a warning).
    """

    MAX_UNSAVED = 100_000

    def __init__(self, rules: list[Rule], defaults: Defaults, store: AlertStore, history, tz: ZoneInfo,
                 features: list[str], sample_interval: float = 10.0, host: str | None = None,
                 receivers: ReceiverWatch | None = None) -> None:
        self.store, self.tz, self.features, self.history = store, tz, features, history
        self.receivers = receivers
        self.sample_interval = sample_interval
        self.host: str = host or getattr(history, "host", None) or "localhost"
        self.fleet = (FleetSnapshots(HostRegistry(store.engine), self.host, sample_interval)
                      if getattr(history, "fleet", False) else None)
        self.legacy_host = self._legacy_host()
        self._labelled: dict[tuple[int, str], tuple[dict[str, str], str]] = {}  # (instance, host) -> labels, fp
        self._labelled_no_data: dict[tuple[str, str | None], tuple[dict[str, str], str]] = {}  # (rule, host) -> ...
        self.health = getattr(history, "health", None) or HistoryHealth(store.engine.url.render_as_string())
        self.unsaved = HeldChanges(store, self.health, self.MAX_UNSAVED)  # for an unwritable store
        self.records = store.load()
        self._stored_latest: datetime | None = None  # the last time the previous run is known to have run
        self._last_at = self._stored_last_evaluation()
        self._moved: dict[str, AlertRecord] = {}  # pending windows moved (clock step, gap): saved with the sample
        self._ended_for: set[str] | None = None  # the hosts whose absent peers' alerts were last ended
        self.configure(rules, defaults, now=self._stored_latest)

    def configure(self, rules: list[Rule], defaults: Defaults, now: datetime | None = None) -> list[str]:
        """Use ``rules`` and ``defaults`` from now on (at start and on a reload); not concurrently with
        :meth:`evaluate` (the caller serialises them). Alerts whose labels are unchanged keep their state:
        a pending ``for`` window goes on, a firing alert stays firing.

        Alerts of rules no longer configured end, as Alertmanager ends an alert whose rule is gone: a firing
        one resolves at ``now`` (default: the last evaluation time, else the wall clock; at start, the last
        time the previous run is known to have sampled) with a ``resolved``
        event, so the receivers told it fired hear it resolved (the dispatcher then forgets it); a resolved
        one still owed to receivers stays stored until sent; a pending one is dropped. Returns their names."""
        instances = []
        for rule in rules:
            app = app_wide_rule(rule, self.features)
            for labels, path, guard in rule.instances():
                full = without_host({"alertname": rule.alert_name, "severity": rule.severity, **rule.labels,
                                     **labels})
                instances.append(Instance(rule, full, fingerprint(full), path, guard, app))
        self.rules, self.defaults, self.instances = rules, defaults, instances
        self._rules_by_name = {rule.name: rule for rule in rules}
        self._app_wide = {rule.name: app_wide_rule(rule, self.features) for rule in rules}
        self._known = {i.fingerprint for i in instances} | {fingerprint(self._no_data_labels(r)) for r in rules}
        self._labelled, self._labelled_no_data = {}, {}
        self.gap_tolerance = (defaults.for_outage_tolerance if defaults.for_outage_tolerance is not None
                              else max(GAP_INTERVALS * self.sample_interval, GAP_MIN_SECONDS))
        self.values = HistoryValues(self.history)  # cached history values belong to the old rules
        stale = [fp for fp, record in self.records.items() if not self._configured(record)]
        if not stale:
            return []
        now = now or self._last_at or datetime.now(UTC)
        ended: list[str] = []
        resolved: list[tuple[AlertRecord, str | None]] = []
        dropped: list[str] = []
        for fp in stale:  # its rule was removed from the configuration
            record = self.records.pop(fp)
            ended.append(record.alertname)
            if record.state == AlertState.FIRING:
                record.state, record.resolved_at = AlertState.INACTIVE, max(now, record.fired_at or now)
                resolved.append((record, "resolved"))
                log.info("alert %s: its rule is no longer configured; resolving it", record.alertname)
            elif record.state == AlertState.INACTIVE and record.resolved_at is not None:
                pass  # resolved, its resolution not yet sent: the dispatcher sends it, then forgets it
            else:
                dropped.append(fp)
                log.info("alert %s: its rule is no longer configured; dropping it", record.alertname)
        self.unsaved.without(set(stale))  # held changes of those alerts would bring them back
        if resolved:
            if self.unsaved:
                self.unsaved.keep(resolved, now)
            else:
                try:
                    self.store.save(resolved, now)
                except Exception as exc:  # saved (and so notified) once the history is writable
                    self.unsaved.keep(resolved, now, exc)
        try:
            self.store.drop(dropped)
        except Exception as exc:  # the history is not writable: they are gone from memory, dropped next start
            log.warning("alerts of removed rules could not be deleted from the history (%s: %s)",
                        exc.__class__.__name__, (str(exc).splitlines() or [""])[0][:200])
        return ended

    def _configured(self, record: AlertRecord) -> bool:
        """True when ``record`` is an alert of a configured rule instance: its labels less ``host`` are the
        instance's (or its rule's ``no_data``), and it has a ``host`` label only if the rule is per host (an
        alert of a per-host rule without one predates hosts and is adopted)."""
        rule = self._rules_by_name.get(record.rule)
        if rule is None or (HOST_LABEL in record.labels and self._app_wide[rule.name]):
            return False
        labels = without_host(record.labels)
        watched = self.receivers.names if self.receivers is not None else set()
        if rule.kind == "receiver_failing" and record.alertname != "no_data" \
                and labels.pop(RECEIVER_LABEL, None) not in watched:  # its receiver is no longer configured
            return False
        return fingerprint(labels) in self._known

    @staticmethod
    def _no_data_labels(rule: Rule, host: str | None = None) -> dict[str, str]:
        labels = {"alertname": "no_data", "rule": rule.name, "severity": "warning"}
        return labels if host is None else {**labels, HOST_LABEL: host}

    def _legacy_host(self) -> str:
        """The host the alerts stored before hosts existed belong to: the history's original host (``meta``
        ``history_host``, recorded by the migration to a fleet), else this node's."""
        try:
            return self.history.get_meta(LEGACY_HOST_META) or self.host
        except Exception:  # an unreadable fact: this node's (the single-host case)
            return self.host

    def _for_host(self, index: int, instance: Instance, host: str) -> tuple[dict[str, str], str]:
        """Labels and fingerprint of a per-host ``instance`` on ``host``: its labels plus ``host``, or, while an
        alert of it stored before hosts existed is active on the history's original host, that alert's."""
        if host == self.legacy_host:
            legacy = self.records.get(instance.fingerprint)
            if legacy is not None and legacy.state in (AlertState.PENDING, AlertState.FIRING) \
                    and HOST_LABEL not in legacy.labels:
                return instance.labels, instance.fingerprint
        key = (index, host)
        labelled = self._labelled.get(key)
        if labelled is None:
            labels = {**instance.labels, HOST_LABEL: host}
            labelled = self._labelled[key] = (labels, fingerprint(labels))
        return labelled

    def _host_of(self, record: AlertRecord) -> str | None:
        """The host an alert is about: its ``host`` label, the history's original host for a per-host alert
        stored before hosts existed, None for an app-wide one."""
        host = record.labels.get(HOST_LABEL)
        return host if host is not None or self._app_wide.get(record.rule, True) else self.legacy_host

    def _no_data_for_host(self, rule: Rule, host: str | None) -> tuple[dict[str, str], str]:
        """Labels and fingerprint of ``rule``'s ``no_data`` alert on ``host`` (None: app-wide), adopting an
        active one stored before hosts existed as :meth:`_for_host` does."""
        if host is not None and host == self.legacy_host:
            plain, plain_fp = self._no_data_for_host(rule, None)
            legacy = self.records.get(plain_fp)
            if legacy is not None and legacy.state in (AlertState.PENDING, AlertState.FIRING) \
                    and HOST_LABEL not in legacy.labels:
                return plain, legacy.fingerprint
        key = (rule.name, host)
        labelled = self._labelled_no_data.get(key)
        if labelled is None:
            labels = self._no_data_labels(rule, host)
            labelled = self._labelled_no_data[key] = (labels, fingerprint(labels))
        return labelled

    def reload(self) -> None:
        """Re-read the alert records from the store, as at start (a takeover: the previous leader's records):
        pending ``for`` windows continue (unless the gap since the last stored evaluation exceeds the
        tolerance), firing alerts stay firing and are not notified again. Changes held in memory for an
        unwritable store are dropped (the store's records are the truth now). Not concurrently with
        :meth:`evaluate`."""
        self.records = self.store.load()
        self.unsaved.clear()
        self._moved, self._ended_for = {}, None
        self.legacy_host = self._legacy_host()
        self._last_at = self._stored_last_evaluation()
        self.configure(self.rules, self.defaults, now=self._stored_latest)

    def _stored_last_evaluation(self) -> datetime | None:
        """When the previous run last evaluated, so a gap across a restart is seen: the stored evaluation time or
        the newest stored sample (the daemon stores each sample before evaluating it), the earlier of the two
        when both are known; None for a new history."""
        try:
            stored = self.history.get_meta(EVALUATED_AT_META)
            known = [t for t in (datetime.fromisoformat(stored) if stored else None, self.history.last_time())
                     if t is not None]
            self._stored_latest = max(known) if known else None
            return min(known) if known else None
        except Exception as exc:  # an unreadable fact must not stop alerting: no gap is then detected
            log.warning("alerting: cannot read the last evaluation time (%s); pending alerts keep their windows",
                        exc.__class__.__name__)
            return None

    def shift_clock(self, seconds: float) -> None:
        """The wall clock stepped by ``seconds`` (negative: backwards). Move every pending window and the last
        evaluation time with it, so ``for`` counts real time: a forward step does not make a pending alert fire
        early, a backward one does not hold it back. Firing alerts keep their times (they were notified)."""
        delta = timedelta(seconds=seconds)
        if self._last_at is not None:
            self._last_at += delta
        for record in self.records.values():
            if record.state == AlertState.PENDING and record.active_at is not None:
                record.active_at += delta
                self._moved[record.fingerprint] = record
        self.values.clear()

    def _restart_pending(self, now: datetime) -> None:
        """After a gap in sampling longer than the tolerance, pending windows start again at ``now``: time that
        was not observed does not count as time the condition held."""
        if self._last_at is None:
            return
        gap = (now - self._last_at).total_seconds()
        if gap <= self.gap_tolerance:
            return
        restarted = []
        for record in self.records.values():
            rule = self._rules_by_name.get(record.rule)
            if record.state != AlertState.PENDING or rule is None:
                continue
            record.active_at = now
            record.annotations = annotate(self.tz, rule, record.labels, record.value, now,
                                              record.alertname == "no_data")
            self._moved[record.fingerprint] = record
            restarted.append(record.alertname)
        if restarted:
            log.info("alerting: no sample evaluated for %.0f s (tolerance %g s): pending %s start their `for` "
                     "window again", gap, self.gap_tolerance, ", ".join(sorted(set(restarted))))

    def _bring_back(self, now: datetime) -> None:
        """Times later than ``now`` (the clock stepped back while the daemon was down, unseen by
        :meth:`shift_clock`): a pending window starts again at ``now`` (otherwise the alert would fire late by
        the step); a firing alert's ``fired_at`` becomes ``now`` (its ``active_at`` stays: it names the episode
        the receivers were told of). One log line per alert names the step."""
        for record in self.records.values():
            if record.state == AlertState.PENDING and record.active_at is not None and record.active_at > now:
                what, was, record.active_at = "pending since", record.active_at, now
                rule = self._rules_by_name.get(record.rule)
                if rule is not None:
                    record.annotations = annotate(self.tz, rule, record.labels, record.value, now,
                                                      record.alertname == "no_data")
                outcome = "its `for` window starts again now"
            elif record.state == AlertState.FIRING and record.fired_at is not None and record.fired_at > now:
                what, was, record.fired_at = "firing since", record.fired_at, now
                outcome = "its firing time becomes now"
            else:
                continue
            self._moved[record.fingerprint] = record
            log.warning("alert %s: %s %s, %.0f s later than this evaluation (%s): the clock stepped back; %s",
                        record.alertname, what, was.isoformat(timespec="seconds"), (was - now).total_seconds(),
                        now.isoformat(timespec="seconds"), outcome)

    def evaluate(self, snapshot: Snapshot) -> list[AlertRecord]:
        """Evaluate all rules at ``snapshot.timestamp``; persist and return the records whose state changed."""
        now = snapshot.timestamp
        data = snapshot.model_dump(mode="python", include={"system", "services", "ai", "usage"})
        changes: list[tuple[AlertRecord, str | None]] = []
        self._restart_pending(now)
        self._bring_back(now)
        self._last_at = now
        self.values.start_cycle()
        others = self.fleet.views(now) if self.fleet is not None else []
        targets: list[tuple[str, dict, dict]] = [  # (host, its snapshot's data, the values read from it)
            (self.host, data, {}), *((view.name, view.data, {}) for view in others if view.data is not None)]
        missing: dict[tuple[str, str | None], bool] = {}  # (rule, host or None) -> some value missing
        for index, instance in enumerate(self.instances):
            rule = instance.rule
            if rule.kind == "host_down":
                self._host_down(index, instance, others, now, changes)
                continue
            if rule.kind == "receiver_failing":
                self._receiver_failing(instance, now, changes)
                continue
            if instance.app_wide:
                self._instance(instance, instance.labels, instance.fingerprint, data, None, now, missing, changes,
                               targets[0][2])
                continue
            if rule.kind == "threshold":
                self._on_hosts(index, instance, targets, now, missing, changes)
                continue
            if rule.kind in ("predict_linear", "increase"):
                self.values.prefetch_predicted(rule, now, [host for host, _, _ in targets])
            for host, host_data, memo in targets:
                labels, fp = self._for_host(index, instance, host)
                self._instance(instance, labels, fp, host_data, host, now, missing, changes, memo)
        if self.fleet is not None and self.fleet.names is not None and self.fleet.names != self._ended_for:
            end_forgotten(self.records, self.fleet.names | {self.host}, now, changes, self._host_of)
            self._ended_for = self.fleet.names  # records only come from these hosts until the names change
        no_data, legacy = self._labelled_no_data, self.legacy_host
        for key, is_missing in missing.items():
            if not is_missing and key[1] != legacy and (known := no_data.get(key)) is not None \
                    and known[1] not in self.records:  # nothing to start or resolve
                continue
            rule = self._rules_by_name[key[0]]
            labels, fp = self._no_data_for_host(rule, key[1])
            if not is_missing and fp not in self.records:
                continue
            no_data_for = rule.no_data_for if rule.no_data_for is not None else self.defaults.no_data_for
            self._step(rule, labels, fp, None, is_missing, is_missing, now, no_data_for, changes, no_data=True)
        changed = {record.fingerprint for record, _ in changes}
        moved: list[tuple[AlertRecord, str | None]] = [
            (record, None) for fp, record in self._moved.items() if fp not in changed]
        self._moved = {}
        for record, event in changes:
            if event:  # pending is routine (often reset by the next sample): debug only
                log.log(logging.DEBUG if event == "pending" else logging.INFO, "alert %s%s %s: %s (value %s)",
                        record.alertname, _label_text(record.labels), event, record.annotations.get("summary", ""),
                        fmt(record.value))
        if self.unsaved:  # earlier changes wait for the store: these go after them
            if changes or moved:
                self.unsaved.keep(changes + moved, now)
            result = self.unsaved.save()
        else:
            result = [record for record, _ in changes]
            if changes or moved:
                try:  # the evaluation time goes in the same transaction
                    self.store.save(changes + moved, now, also=lambda conn: self._mark_evaluated(now, conn))
                except Exception as exc:
                    self.unsaved.keep(changes + moved, now, exc)
                    result = []
                else:
                    self.health.ok()
                    return result
        self._mark_evaluated(now)
        return result

    def _instance(self, instance: Instance, labels: dict[str, str], fp: str, data: dict, host: str | None,
                  now: datetime, missing: dict[tuple[str, str | None], bool],
                  changes: list[tuple[AlertRecord, str | None]], memo: dict | None = None) -> None:
        """Evaluate one rule instance on one snapshot's ``data`` (of ``host``; None: app-wide); ``memo``: the
        values read from ``data`` so far (:func:`reporter.alerting.values.threshold_value`)."""
        rule = instance.rule
        extra: dict[str, str] | None = None
        if rule.kind in ("predict_linear", "increase"):
            value, condition = self.values.predicted(rule, now, host)
            if condition is None:  # not read yet (this evaluation's read budget is used up): nothing changes
                return
        elif rule.kind == "throughput_drop":
            value, condition, extra = self.values.throughput_drop(rule, data, instance.guard, now, self.features)
        elif rule.kind == "error_spike":
            value, condition = self.values.error_spike(rule, data, instance.guard, now, self.features)
        elif rule.kind == "anomaly":
            value, condition = self.values.anomaly(rule, data, instance.guard, now)
        else:
            value, condition = threshold_value(rule, data, instance.path, instance.guard, memo)
        key = (rule.name, host)
        if condition is None:
            missing[key] = True
        else:
            missing.setdefault(key, False)
        self._decide(rule, labels, fp, value, condition, now, changes, extra)

    def _on_hosts(self, index: int, instance: Instance, targets: list[tuple[str, dict, dict]], now: datetime,
                  missing: dict[tuple[str, str | None], bool], changes: list[tuple[AlertRecord, str | None]]) -> None:
        """A per-host threshold ``instance`` on every host's snapshot (``targets``: host, data, values read), as
        :meth:`_instance` on each: the bulk of a fleet's evaluation, so an alert inactive and staying so costs
        its value and one look-up."""
        rule, path, guard, name = instance.rule, instance.path, instance.guard, instance.rule.name
        records, labelled, legacy = self.records, self._labelled, self.legacy_host
        test, threshold, read = COMPARISONS[rule.op], rule.threshold, (path, guard)
        for host, data, memo in targets:
            hit = memo.get(read)
            if hit is None:
                hit = memo[read] = reading(data, path, guard)
            unprobed, value, count = hit  # as threshold_value, without a call per host
            condition: bool | None
            if unprobed:
                value, condition = None, False
            elif guard is not None and (count is None or count < rule.min_count):
                condition = None if count is None and rule.min_count_missing == "no_data" else False
            else:
                condition = None if value is None else test(value, threshold)
            if condition is None:
                missing[(name, host)] = True
            else:
                missing.setdefault((name, host), False)
                if not condition and host != legacy:
                    known = labelled.get((index, host))
                    if known is not None and known[1] not in records:
                        continue
            labels, fp = self._for_host(index, instance, host)
            self._decide(rule, labels, fp, value, condition, now, changes)

    def _decide(self, rule: Rule, labels: dict[str, str], fp: str, value: float | None, condition: bool | None,
                now: datetime, changes: list[tuple[AlertRecord, str | None]],
                extra: dict[str, str] | None = None) -> None:
        """Step the alert ``fp`` with an instance's ``value`` and ``condition`` (hysteresis applied); ``extra``:
        more template fields."""
        if not condition and fp not in self.records:  # inactive and staying so: nothing to step
            return
        # a firing alert stays firing while the value has not crossed its clear threshold (hysteresis)
        still = condition
        if condition is False and rule.clear is not None and value is not None:
            still = rule.still_true(value)
        self._step(rule, labels, fp, value, condition, still, now, rule.for_seconds, changes, extra=extra)

    def _host_down(self, index: int, instance: Instance, others: list[HostView], now: datetime,
                   changes: list[tuple[AlertRecord, str | None]]) -> None:
        """``host_down`` of every other host: its value is the age of the host's last sample in sample
        intervals (missing before its first sample); never for this node's own host."""
        rule = instance.rule
        for view in others:
            labels, fp = self._for_host(index, instance, view.name)
            if view.last_sample is None:
                value, condition = None, None
            else:
                value = round(max(0.0, (now - view.last_sample).total_seconds()) / self.sample_interval, 1)
                condition = compare(rule.op, value, rule.threshold)
            self._step(rule, labels, fp, value, condition, condition, now, rule.for_seconds, changes,
                       since=view.last_sample)

    def _receiver_failing(self, instance: Instance, now: datetime,
                          changes: list[tuple[AlertRecord, str | None]]) -> None:
        """``receiver_failing`` of every configured receiver (its value: permanent failures since its last
        delivery); nothing starts or resolves while the outbox cannot be read."""
        rule = instance.rule
        for name, value, condition, fields in failing_instances(rule, self.receivers) or []:
            labels = {**instance.labels, RECEIVER_LABEL: name}
            self._step(rule, labels, fingerprint(labels), value, condition, condition, now, rule.for_seconds,
                       changes, extra=fields)

    def _mark_evaluated(self, now: datetime, conn=None) -> None:
        """Store the evaluation time while an alert is pending (the only time a restart needs it); in the
        transaction of ``conn`` when given (its failure then fails that transaction)."""
        if not any(r.state == AlertState.PENDING for r in self.records.values()):
            return
        if conn is not None:
            self.history.set_meta(EVALUATED_AT_META, now.isoformat(), conn)
            return
        try:
            self.history.set_meta(EVALUATED_AT_META, now.isoformat())
        except Exception as exc:  # the history write of this sample failed too and is reported there
            log.debug("alerting: cannot store the evaluation time: %s", exc)

    def _step(self, rule: Rule, labels: dict[str, str], fp: str, value: float | None, condition: bool | None,
              still: bool | None, now: datetime, for_seconds: float, changes: list[tuple[AlertRecord, str | None]],
              no_data: bool = False, since: datetime | None = None, extra: dict[str, str] | None = None) -> None:
        record = self.records.get(fp)
        if record is None:
            if not condition:
                return
            record = self.records[fp] = AlertRecord(fingerprint=fp, rule=rule.name, labels=labels)
        record.value = value if not no_data else record.value
        if record.state == AlertState.FIRING:
            if still is False:
                record.state, record.resolved_at = AlertState.INACTIVE, now
                changes.append((record, "resolved"))
            return
        if record.state == AlertState.PENDING:
            if condition is None:
                return
            if not condition:  # one false sample resets a pending alert
                record.state, record.active_at = AlertState.INACTIVE, None
                changes.append((record, None))
                del self.records[fp]
                return
        elif condition:  # inactive (possibly resolved earlier) -> a new episode
            record.state, record.active_at, record.fired_at, record.resolved_at = \
                AlertState.PENDING, now, None, None
            record.annotations = annotate(self.tz, rule, labels, value, since or now, no_data, extra)
            if for_seconds > 0:
                changes.append((record, "pending"))
                return
        else:
            return
        assert record.active_at is not None  # set when the alert became pending
        # samples start a few ms after their scheduled time: allow that jitter (Prometheus evaluates on schedule)
        if (now - record.active_at).total_seconds() >= for_seconds - FOR_JITTER_SECONDS:
            record.state, record.fired_at = AlertState.FIRING, now
            record.annotations = annotate(self.tz, rule, labels, value, since or record.active_at, no_data, extra)
            changes.append((record, "firing"))

    def active(self) -> list[AlertRecord]:
        """Pending and firing alerts, firing first."""
        order = {AlertState.FIRING: 0, AlertState.PENDING: 1}
        return sorted((r for r in self.records.values() if r.state in order),
                      key=lambda r: (order[r.state], r.alertname, r.fingerprint))


def _label_text(labels: dict[str, str]) -> str:
    """``{host=a, service=ollama}``: the labels telling one alert of a rule from another (all but ``alertname``
    and ``severity``), for log lines; empty when there are none."""
    rest = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")]
    return "{" + ", ".join(rest) + "}" if rest else ""
