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
from reporter.snapshot import Snapshot, Status

GIB = 2**30
COLLECTORS = ("system", "database", "redis", "ollama", "ai", "usage")
_LABEL = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """A valid Prometheus label name (other characters become ``_``; a leading digit gets a ``_``)."""
    name = _LABEL.sub("_", name) or "_"
    return "_" + name if name[0].isdigit() else name


def _gauge(name: str, doc: str, value: float | None, scale: float = 1.0) -> GaugeMetricFamily | None:
    return None if value is None else GaugeMetricFamily(name, doc, value=_scaled(value, scale))


def _scaled(value: float, scale: float) -> float:
    # percent -> ratio and ms -> s divide (35.4 / 100 is 0.354; 35.4 * 0.01 is 0.35400000000000004)
    return value / round(1 / scale) if scale < 1 else value * scale


def exact_bytes(exact: int | None, gib: float | None) -> int | None:
    """A size in whole bytes: the snapshot's exact count, else (an older snapshot) its GiB figure times 2**30,
    rounded to a whole byte. None when neither is known."""
    if exact is not None:
        return int(exact)
    return None if gib is None else round(gib * GIB)


class SnapshotCollector:
    """Metric families of the snapshot returned by ``source`` (nothing when it returns None)."""

    def __init__(self, source: Callable[[], Snapshot | None]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snapshot = self.source()
        if snapshot is None:
            return
        for family in (*self._system(snapshot), *self._services(snapshot), *self._ai(snapshot),
                       *self._usage(snapshot), *self._meta(snapshot), self._alerts(snapshot)):
            if family is not None:
                yield family

    def _system(self, s: Snapshot) -> list[Metric | None]:
        sys = s.system
        families = [
            _gauge("reporter_cpu_usage_ratio", "CPU busy share of all CPUs since the previous sample (0-1)",
                   sys.cpu_percent, 0.01),
            _gauge("reporter_memory_usage_ratio", "memory in use (total - available) / total (0-1)",
                   sys.memory_percent, 0.01),
            _gauge("reporter_memory_used_bytes", "memory in use (total - available)",
                   exact_bytes(sys.memory_used_bytes, sys.memory_used_gb)),
            _gauge("reporter_memory_total_bytes", "memory installed",
                   exact_bytes(sys.memory_total_bytes, sys.memory_total_gb)),
            _gauge("reporter_host_uptime_seconds", "seconds since the host booted", sys.uptime_seconds),
        ]
        for name, doc, value, scale in (
                ("reporter_disk_usage_ratio", "filesystem in use (0-1)", sys.disk_percent, 0.01),
                ("reporter_disk_used_bytes", "filesystem space in use",
                 exact_bytes(sys.disk_used_bytes, sys.disk_used_gb), 1.0),
                ("reporter_disk_total_bytes", "filesystem size", exact_bytes(sys.disk_total_bytes, sys.disk_total_gb),
                 1.0)):
            if value is not None:
                family = GaugeMetricFamily(name, doc, labels=["path"])
                family.add_metric([sys.disk_path or ""], _scaled(value, scale))
                families.append(family)
        for minutes, value in ((1, sys.load_1m), (5, sys.load_5m), (15, sys.load_15m)):
            families.append(_gauge(f"reporter_load{minutes}", f"{minutes}-minute load average", value))
        return families

    def _services(self, s: Snapshot) -> list[Metric | None]:
        up = GaugeMetricFamily("reporter_service_up", "1 when the dependency answered its probe, else 0",
                               labels=["service"])
        latency = GaugeMetricFamily("reporter_service_probe_duration_seconds", "round trip of the last probe",
                                    labels=["service"])
        for name in ("database", "redis", "ollama"):
            health = getattr(s.services, name)
            up.add_metric([name], 1.0 if health.up else 0.0)
            if health.latency_ms is not None:
                latency.add_metric([name], round(health.latency_ms / 1000.0, 9))
        model = GaugeMetricFamily("reporter_ai_model_available", "1 when Ollama lists the configured model",
                                  labels=["model"])
        model.add_metric([s.services.ollama.model], 1.0 if s.services.ollama.is_available else 0.0)
        return [up, latency, model]

    def _ai(self, s: Snapshot) -> list[Metric | None]:
        ai = s.ai
        families: list[Metric | None] = []
        for name, doc, value in (
                ("reporter_ai_all_requests", "AI requests of every feature (ai:total_requests; includes features "
                                             "not configured, so not the sum of reporter_ai_requests_total)",
                 ai.total_requests),
                ("reporter_ai_all_response_time_seconds", "summed response time of every AI request "
                                                          "(ai:total_time)", ai.total_time_seconds),
                ("reporter_ai_cache_hits", "AI requests answered from cache (ai:cache_hits)", ai.cache_hits)):
            if value is not None:
                families.append(CounterMetricFamily(name, doc, value=value))
        requests = CounterMetricFamily("reporter_ai_requests", "AI requests of one feature (ai:{feature}:requests)",
                                       labels=["feature"])
        success = CounterMetricFamily("reporter_ai_successes", "successful AI requests of one feature "
                                                               "(ai:{feature}:success)", labels=["feature"])
        seconds = CounterMetricFamily("reporter_ai_response_time_seconds", "summed response time of one feature "
                                                                           "(ai:{feature}:time)", labels=["feature"])
        for feature, stats in ai.features.items():
            for family, value in ((requests, stats.requests), (success, stats.success),
                                  (seconds, stats.total_time_seconds)):
                if value is not None:
                    family.add_metric([feature], value)
        return [*families, requests, success, seconds]

    def _usage(self, s: Snapshot) -> list[Metric | None]:
        usage = s.usage
        if usage is None:
            return []
        families = [
            _gauge("reporter_app_users", "users of the application", usage.total_users),
            _gauge("reporter_app_scenarios", "scenarios of the application", usage.total_scenarios),
            _gauge("reporter_app_active_conversations", "conversations not ended", usage.active_conversations),
            _gauge("reporter_app_quiz_attempts", "quiz attempts ever made", usage.total_quizzes_taken),
            _gauge("reporter_app_grammar_checks", "grammar checks ever made", usage.total_grammar_checks),
            _gauge("reporter_app_usage_collected_timestamp_seconds", "when these usage figures were read (Unix time)",
                   usage.collected_at.timestamp()),
        ]
        active = GaugeMetricFamily("reporter_app_active_users", "users active within the window", labels=["window"])
        for window, value in (("24h", usage.active_users_24h), ("1h", usage.active_users_1h)):
            if value is not None:
                active.add_metric([window], value)
        return [*families, active]

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
            _gauge("reporter_snapshot_timestamp_seconds", "when the snapshot was taken (Unix time)",
                   s.timestamp.timestamp()),
            _gauge("reporter_sample_duration_seconds", "wall time the sample took", s.duration_ms, 0.001),
        ]

    def _alerts(self, s: Snapshot) -> Metric:
        family = GaugeMetricFamily("ALERTS", "pending and firing alerts, as Prometheus exposes them")
        for alert in s.alerts:
            labels = {label_name(k): str(v) for k, v in alert.labels.items()}
            labels.update(alertname=alert.alertname, alertstate=alert.state)
            if alert.severity and "severity" not in labels:
                labels["severity"] = alert.severity
            family.add_sample("ALERTS", labels, 1.0)
        return family


def render(snapshot: Snapshot | None) -> bytes:
    """The exposition text of ``snapshot`` (through a private registry: no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snapshot))
    return generate_latest(registry)
