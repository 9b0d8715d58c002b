"""The other hosts' latest snapshots, as the leader evaluates them (read from the store's ``hosts`` rows).

Each node stores its latest snapshot's JSON in its ``hosts`` row with every sample
(:func:`reporter.store.hosts.upsert_sample`); the leader reads every row once per evaluation. A snapshot older
than ``STALE_INTERVALS`` sample intervals is not evaluated (its values are missing: no alert of that host starts
or resolves; ``host_down`` fires instead). Parsed snapshots are kept per host and parsed again only when the
stored JSON changed.

A host without a row is no longer in the fleet (``reporter hosts forget`` deleted it): as Prometheus resolves
the alerts of a series that disappeared, :func:`end_forgotten` resolves its firing alerts (``host_down``, the
per-host rules, their ``no_data``: every alert labelled with its ``host``) and drops its pending ones, once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from reporter.alerting.model import AlertState
from reporter.alerting.paths import RULE_SECTIONS
from reporter.alerting.scope import HOST_LABEL
from reporter.alerting.state import AlertRecord
from reporter.base.errors import one_line
from reporter.failures import FailureLog
from reporter.store.hosts import HostRegistry

log = logging.getLogger(__name__)
STALE_INTERVALS = 3.0  # a host snapshot older than this many sample intervals is not evaluated


@dataclass(frozen=True)
class HostView:
    """One other host as the evaluator sees it: ``last_sample`` (its newest stored sample, None before its
    first), ``at`` (its latest snapshot's time) and ``data`` (that snapshot's rule sections as plain dicts, None
    when it has no snapshot or the snapshot is stale)."""

    name: str
    last_sample: datetime | None
    at: datetime | None
    data: dict | None


class FleetSnapshots:
    """Reads the ``hosts`` rows of the history behind ``registry``, except ``own_host`` (the leader's own
    snapshot is evaluated from memory). ``interval``: the sample interval, seconds."""

    def __init__(self, registry: HostRegistry, own_host: str, interval: float) -> None:
        self.registry, self.own_host, self.interval = registry, own_host, interval
        self.failures = FailureLog(log)
        self._parsed: dict[str, tuple[str, datetime | None, dict]] = {}  # host -> (json, at, data)
        self.names: set[str] | None = None  # every host with a row at the last views(); None: not read

    def views(self, now: datetime) -> list[HostView]:
        """Every other host at ``now`` (the leader's evaluation time), by name; [] (logged once, and once when
        it works again) when the ``hosts`` rows cannot be read."""
        try:
            rows = self.registry.list()
        except Exception as exc:
            self.names = None
            self.failures.failed("alerting: other hosts", f"cannot read the hosts' snapshots ({one_line(exc)}); "
                                 "only this host's rules and the app-wide rules are evaluated", )
            return []
        self.failures.ok("alerting: other hosts")
        views, seen = [], set()
        for row in rows:
            if row.name == self.own_host:
                continue
            seen.add(row.name)
            at, data = self._parse(row.name, row.snapshot)
            if at is None or (now - at).total_seconds() > STALE_INTERVALS * self.interval:
                data = None
            views.append(HostView(row.name, row.last_sample, at, data))
        for name in self._parsed.keys() - seen:
            del self._parsed[name]
        self.names = {row.name for row in rows}
        return views

    def _parse(self, name: str, text: str | None) -> tuple[datetime | None, dict | None]:
        if text is None:
            return None, None
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == text:
            return cached[1], cached[2]
        try:
            snapshot = json.loads(text)
            at = datetime.fromisoformat(snapshot["timestamp"])
            data = {section: snapshot.get(section) for section in RULE_SECTIONS}
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("alerting: the stored snapshot of host %s is unreadable (%s); its rules are not evaluated",
                        name, one_line(exc))
            self._parsed.pop(name, None)
            return None, None
        self._parsed[name] = (text, at, data)
        return at, data


def end_forgotten(records: dict[str, AlertRecord], known: set[str], now: datetime,
                  changes: list[tuple[AlertRecord, str | None]],
                  host_of: Callable[[AlertRecord], str | None] = lambda r: r.labels.get(HOST_LABEL)) -> None:
    """End the alerts of hosts no longer in the fleet: every record of ``records`` (fingerprint -> record, the
    evaluator's, changed in place) whose host (``host_of(record)``: by default its ``host`` label; None for an
    app-wide alert, left alone) is not in ``known`` (the hosts with a row, and the leader's own). A firing one
    resolves at ``now`` (a ``resolved`` change: notified once, as any resolution); a pending one is dropped (a
    change without event, deleted from the store). One log line per host."""
    ended: dict[str, list[str]] = {}
    for fp, record in list(records.items()):
        host = host_of(record)
        if host is None or host in known or record.state not in (AlertState.FIRING, AlertState.PENDING):
            continue
        if record.state == AlertState.FIRING:
            record.state, record.resolved_at = AlertState.INACTIVE, now
            changes.append((record, "resolved"))
        else:
            record.state, record.active_at = AlertState.INACTIVE, None
            changes.append((record, None))
            del records[fp]
        ended.setdefault(host, []).append(record.alertname)
    for host, names in sorted(ended.items()):
        log.info("alerting: host %s is no longer in the fleet (forgotten); its alerts end: %s", host,
                 ", ".join(sorted(names)))
