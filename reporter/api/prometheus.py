"""``GET /metrics``: the latest snapshot in the Prometheus text exposition format.

A :class:`SnapshotCollector` (a prometheus_client custom collector: one ``collect()``) turns a Snapshot into
metric families; :func:`render` exposes it through a private registry, so nothing is registered globally.

Conventions: base units (bytes, seconds, ratios 0-1: ``*_ratio`` for every share, never percent), ``_total``
for the application's cumulative counters, labels for the service, feature, window or path. A value the
snapshot does not have (null) is left out rather than exposed as NaN. Alerts are exposed as Prometheus
itself does: ``ALERTS{alertname, alertstate="pending"|"firing", <alert labels>} 1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from reporter.api.latest import PROMETHEUS_CONTENT_TYPE as CONTENT_TYPE  # noqa: F401 (re-exported)
from reporter.api.latest import Delivery
from reporter.catalog import catalog
from reporter.snapshot import Snapshot, Status, collector_places

COLLECTORS = tuple(collector_places())  # system, database, redis, ollama, ai, usage
_LABEL = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """A valid Prometheus label name (other characters become ``_``; a leading digit gets a ``_``)."""
    name = _LABEL.sub("_", name) or "_"
    return "_" + name if name[0].isdigit() else name


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily | None:
    return None if value is None else GaugeMetricFamily(name, doc, value=value)


def catalog_families(snapshot: Snapshot) -> list[Metric]:
    """The families of the catalog's metrics (:func:`reporter.catalog.catalog` for the snapshot's AI
    features), in declaration order; several metrics share a family through labels. A family none of whose
    metrics has a value is left out (a null is never exposed as NaN)."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    for metric in catalog(list(snapshot.ai.features)).values():
        spec = metric.family
        if spec is None:
            continue
        value = spec.read(snapshot, metric.path)
        if value is None:
            continue
        family = families.get(spec.name)
        if family is None:
            names = [name for name, _ in spec.labels]
            family = families[spec.name] = (CounterMetricFamily(spec.name, spec.help, labels=names)
                                            if spec.type == "counter" else
                                            GaugeMetricFamily(spec.name, spec.help, labels=names))
        family.add_metric(spec.label_values(snapshot), value)
    return list(families.values())


class SnapshotCollector:
    """Metric families of the snapshot returned by ``source`` (nothing when it returns None): one family per
    :class:`reporter.catalog.Family` of the catalog's metrics (for the snapshot's AI features), then the
    snapshot's own status, collector errors and alerts."""

    def __init__(self, source: Callable[[], Snapshot | None]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snapshot = self.source()
        if snapshot is None:
            return
        for family in (*catalog_families(snapshot), *self._meta(snapshot), *self._probe(snapshot),
                       self._alerts(snapshot),
                       self._suppressed(snapshot)):
            if family is not None:
                yield family

    def _meta(self, s: Snapshot) -> list[Metric | None]:
        status = GaugeMetricFamily("reporter_status", "overall status: 1 for the current one", labels=["status"])
        for value in Status:
            status.add_metric([value.value], 1.0 if s.status == value else 0.0)
        errors = GaugeMetricFamily("reporter_collector_error", "1 when the collector's last read failed",
                                   labels=["collector"])
        for name in COLLECTORS:
            errors.add_metric([name], 1.0 if name in s.errors else 0.0)
        return [
            status, errors,
            _gauge("reporter_history_write_error", "1 while the history cannot be written (disk full, database down)",
                   1.0 if "history" in s.errors else 0.0),
            _gauge("reporter_spool_samples", "samples held in the local spool while the history cannot be written "
                   "(fleet mode)", None if s.spooled is None else float(s.spooled)),
            _gauge("reporter_snapshot_timestamp_seconds", "when the snapshot was taken (Unix time)",
                   s.timestamp.timestamp()),
            _gauge("reporter_app_usage_collected_timestamp_seconds", "when these usage figures were read (Unix time)",
                   None if s.usage is None else s.usage.collected_at.timestamp()),
        ]

    @staticmethod
    def _probe(s: Snapshot) -> list[Metric | None]:
        """The synthetic generation probe's outcome (as the blackbox exporter's ``probe_success``): 1 when its
        last run answered, 0 when it failed (its figures are absent then); nothing when the probe is off or has
        not run yet. Alert on ``reporter_gen_ai_probe_success == 0`` or on a stale run time."""
        probe, model = s.services.ollama.probe, s.services.ollama.model
        if probe is None:
            return []
        success = GaugeMetricFamily("reporter_gen_ai_probe_success", "1 when the last synthetic generation "
                                    "(REPORTER_OLLAMA_PROBE_INTERVAL) answered, 0 when it failed", labels=["model"])
        success.add_metric([model], 1.0 if probe.error is None else 0.0)
        ran = GaugeMetricFamily("reporter_gen_ai_probe_timestamp_seconds", "when the last synthetic generation's "
                                "result was first sampled (Unix time)", labels=["model"])
        ran.add_metric([model], probe.at.timestamp())
        return [success, ran]

    def _alerts(self, s: Snapshot) -> Metric:
        family = GaugeMetricFamily("ALERTS", "pending and firing alerts, as Prometheus exposes them")
        for alert in s.alerts:
            labels = {label_name(k): str(v) for k, v in alert.labels.items()}
            labels.update(alertname=alert.alertname, alertstate=alert.state)
            if alert.severity and "severity" not in labels:
                labels["severity"] = alert.severity
            family.add_sample("ALERTS", labels, 1.0)
        return family

    def _suppressed(self, s: Snapshot) -> Metric:
        """``reporter_alert_suppressed{alertname, <alert labels>, reason="silenced"|"inhibited"} 1`` for each
        suppressed alert and reason (an alert both silenced and inhibited has two series)."""
        family = GaugeMetricFamily("reporter_alert_suppressed", "pending and firing alerts whose notifications are "
                                   "suppressed, by reason (silenced, inhibited)")
        for alert in s.alerts:
            reasons = ["silenced"] * bool(alert.silenced_by) + ["inhibited"] * bool(alert.inhibited_by)
            for reason in reasons:
                labels = {label_name(k): str(v) for k, v in alert.labels.items()}
                labels.update(alertname=alert.alertname, alertstate=alert.state, reason=reason)
                family.add_sample("reporter_alert_suppressed", labels, 1.0)
        return family


def delivery_families(delivery: Delivery) -> list[Metric]:
    """The notifier's families: ``reporter_notifications_total{receiver, outcome}`` (attempts of this process:
    delivered, retry, failed, expired), ``reporter_outbox_backlog{receiver}`` (undelivered notifications) and
    ``reporter_outbox_oldest_age_seconds{receiver}`` (age of the oldest undelivered one) and
    ``reporter_template_errors_total{template}`` (templates that failed to render; the built-in text went out)."""
    outcomes = CounterMetricFamily("reporter_notifications", "notification attempts by receiver and outcome "
                                   "(delivered, retry, failed, expired) since this process started",
                                   labels=["receiver", "outcome"])
    for (receiver, outcome), count in sorted(delivery.outcomes.items()):
        outcomes.add_metric([receiver, outcome], float(count))
    backlog = GaugeMetricFamily("reporter_outbox_backlog", "undelivered notifications in the outbox",
                                labels=["receiver"])
    oldest = GaugeMetricFamily("reporter_outbox_oldest_age_seconds",
                               "age of the oldest undelivered notification", labels=["receiver"])
    for receiver, (count, age) in sorted(delivery.backlog.items()):
        backlog.add_metric([receiver], float(count))
        oldest.add_metric([receiver], age)
    templates = CounterMetricFamily("reporter_template_errors", "notification templates that failed to render "
                                    "(the built-in text was sent instead) since this process started",
                                    labels=["template"])
    for template, count in sorted(delivery.template_errors.items()):
        templates.add_metric([template], float(count))
    return [outcomes, backlog, oldest, templates]


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def render(snapshot: Snapshot | None, delivery: Delivery | None = None) -> bytes:
    """The exposition text of ``snapshot`` and, on the leader, of the notifier's ``delivery`` health (through a
    private registry: no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snapshot))
    if delivery is not None and snapshot is not None:
        registry.register(_Families(delivery_families(delivery)))
    return generate_latest(registry)
