"""The metric catalog: one declaration per metric, the source every consumer derives from.

A :class:`Metric` names a value of the Snapshot (``path``, e.g. ``system.swap_percent``) and says everything the
rest of the program needs to know about it: its history column (``name``, whose suffix says the unit), ``unit``,
fixed-point ``scale`` (the column holds ``round(value * scale)``), ``help``, its Prometheus family (:class:`Family`:
name, gauge or counter, labels, conversion to base units) and its label in the daily report (None: not in the
report). Derived from it:

- the ``samples`` columns of the history (:mod:`reporter.store.schema`, :mod:`reporter.store.history`), hence the
  history API's metric list and ``reporter export``'s columns;
- the families of ``GET /metrics`` (:mod:`reporter.api.prometheus`);
- the rows of the report's system table and its usage labels (:mod:`reporter.report.build`, ``report.html``);
- the paths an alert rule may read (:mod:`reporter.alerting.paths`) and the metrics ``predict_linear`` may read.

Adding a metric: its field in :mod:`reporter.snapshot`, the code filling it in ``collect/``, one ``Metric`` here,
and a migration adding its column. This module imports only :mod:`reporter.snapshot` (no store, api, report or
alerting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from reporter.snapshot import Snapshot, Status, probed

GIB = 2**30
STATUS_CODES = {Status.HEALTHY: 0, Status.DEGRADED: 1, Status.UNHEALTHY: 2}

Reader = Callable[[Snapshot], float | None]
LabelValue = str | Callable[[Snapshot], str]


def read_path(snapshot: Snapshot, path: str) -> float | None:
    """The number at dotted ``path`` of ``snapshot`` (model attributes and dict keys); booleans as 1.0/0.0;
    None when a level is missing or the value is not a number."""
    node: Any = snapshot
    for part in path.split("."):
        if node is None:
            return None
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
    if isinstance(node, bool):
        return float(node)
    return float(node) if isinstance(node, int | float) else None


@dataclass(frozen=True)
class Family:
    """The Prometheus family a metric is exposed in (several metrics may share one, told apart by labels).

    ``name``: the family name without ``_total`` (prometheus_client adds it to counters); ``type``: ``gauge``
    or ``counter``; ``labels``: ``(label, value)`` pairs of this metric's sample, a value being a string or a
    function of the snapshot (the disk path, the model); ``scale``: multiplies the snapshot value into base
    units (0.01: percent -> ratio, 0.001: ms -> s); ``value``: reads the exposed value instead of the path
    (exact bytes, a service counted down when its probe could not run). A None value is left out, never NaN.
    """

    name: str
    help: str
    type: Literal["gauge", "counter"] = "gauge"
    labels: tuple[tuple[str, LabelValue], ...] = ()
    scale: float = 1.0
    value: Reader | None = None

    def label_values(self, snapshot: Snapshot) -> list[str]:
        """The label values of this metric's sample, in ``labels`` order."""
        return [v if isinstance(v, str) else v(snapshot) for _, v in self.labels]

    def read(self, snapshot: Snapshot, path: str) -> float | None:
        """The exposed value in base units (None: leave the sample out)."""
        value = self.value(snapshot) if self.value is not None else read_path(snapshot, path)
        if value is None:
            return None
        # percent -> ratio and ms -> s divide (35.4 / 100 is 0.354; 35.4 * 0.01 is 0.35400000000000004)
        return value / round(1 / self.scale) if self.scale < 1 else value * self.scale


@dataclass(frozen=True)
class Metric:
    """One metric of the snapshot, as stored, exposed and reported.

    ``path``: where the value is in the Snapshot (``system.cpu_percent``); ``name``: the history column and
    the name in the history API and ``reporter export`` (its suffix says the unit); ``unit``; ``scale``: the
    column stores ``round(value * scale)``; ``help``: one line; ``family``: its Prometheus family (None: not in
    ``/metrics``); ``report``: its label in the daily report (None: not in the report; a ``system`` metric with
    a label is a row of the system table, which shows percentages, and gets a chart; a ``usage`` one is a usage
    figure with its change from the day before); ``stored``: reads the
    stored value when it is not simply the path's (a status code, usage figures only in the sample that read
    them); ``counter_key``: the Redis counter (without prefix) a cumulative counter column records.
    """

    path: str
    name: str
    unit: str
    scale: int
    help: str
    family: Family | None = None
    report: str | None = None
    stored: Reader | None = None
    counter_key: str | None = None

    @property
    def counter(self) -> bool:
        """True for a cumulative counter (its increases, not its values, are what a window or a day sums)."""
        return self.counter_key is not None

    @property
    def cumulative(self) -> bool:
        """True for every counter column: an application counter read from Redis (:attr:`counter`) or a count
        this reporter keeps (``ollama_model_loads``, a Prometheus counter): its increases are what matter."""
        return self.counter or (self.family is not None and self.family.type == "counter")

    @property
    def section(self) -> str:
        """The snapshot section the metric belongs to (``system``, ``services``, ``ai``, ``usage``...)."""
        return self.path.split(".", 1)[0]

    def read(self, snapshot: Snapshot) -> float | None:
        """The value stored in the history for ``snapshot`` (None when missing)."""
        return self.stored(snapshot) if self.stored is not None else read_path(snapshot, self.path)


def _exact_bytes(exact: str, gib: str) -> Reader:
    """Whole bytes: the snapshot's exact count, else (an older snapshot) its GiB figure times 2**30."""
    def read(s: Snapshot) -> float | None:
        value = read_path(s, exact)
        if value is not None:
            return float(int(value))
        value = read_path(s, gib)
        return None if value is None else float(round(value * GIB))
    return read


def _up(path: str) -> Reader:
    """1.0 when the boolean at ``path`` is true, else 0.0 (a probe that could not run counts as down); None
    (left out) when the service is not probed on this host (REPORTER_PROBES)."""
    service = path.split(".")[1]

    def read(s: Snapshot) -> float | None:
        if not probed(getattr(s.services, service)):
            return None
        return 1.0 if read_path(s, path) else 0.0
    return read


def _fresh_usage(path: str) -> Reader:
    """Usage figures are stored only in the sample that read them (they are re-read every usage_interval)."""
    def read(s: Snapshot) -> float | None:
        if s.usage is None or s.usage.collected_at != s.timestamp:
            return None
        return read_path(s, path)
    return read


def _fresh_probe(path: str) -> Reader:
    """The synthetic probe's figures are stored only in the first sample carrying its result (its ``at`` is that
    sample's time), once per probe run, not repeated in every sample until the next run."""
    def read(s: Snapshot) -> float | None:
        probe = s.services.ollama.probe
        if probe is None or probe.at != s.timestamp:
            return None
        return read_path(s, path)
    return read


def _disk_path(s: Snapshot) -> str:
    return s.system.disk_path or ""


def _model(s: Snapshot) -> str:
    return s.services.ollama.model


def _system(field: str, unit: str, scale: int, help: str, family: Family | None, report: str | None = None) -> Metric:
    return Metric(f"system.{field}", field, unit, scale, help, family, report)


def _service(service: str) -> tuple[Metric, Metric]:
    up = Family("reporter_service_up", "1 when the dependency answered its probe, else 0",
                labels=(("service", service),), value=_up(f"services.{service}.up"))
    latency = Family("reporter_service_probe_duration_seconds", "round trip of the last probe",
                     labels=(("service", service),),
                     value=lambda s: None if (v := read_path(s, f"services.{service}.latency_ms")) is None
                     else round(v / 1000.0, 9))
    what, probed = {"database": ("app database answered SELECT 1", "app database"),
                    "redis": ("Redis answered PING", "Redis"), "ollama": ("Ollama answered /api/tags", "Ollama")}[service]
    return (Metric(f"services.{service}.up", f"{service}_up", "bool", 1, what, up),
            Metric(f"services.{service}.latency_ms", f"{service}_latency_ms", "ms", 100, f"{probed} probe time",
                   latency))


def _usage(field: str, unit: str, help: str, family: Family | None, report: str | None) -> Metric:
    return Metric(f"usage.{field}", f"usage_{field}", unit, 1, help, family, report, _fresh_usage(f"usage.{field}"))


_TOKEN_USAGE = "tokens of one feature's requests, by type: input (ai:{feature}:prompt_tokens), output (completion_tokens)"
_CPU = "CPU busy share of all CPUs since the previous sample (0-1)"
_ACTIVE = "users active within the window"

FIXED: tuple[Metric, ...] = (
    _system("cpu_percent", "percent", 100, "CPU busy, average since the previous sample",
            Family("reporter_cpu_usage_ratio", _CPU, scale=0.01), "CPU"),
    _system("memory_percent", "percent", 100, "memory in use",
            Family("reporter_memory_usage_ratio", "memory in use (total - available) / total (0-1)", scale=0.01),
            "Memory"),
    _system("memory_used_gb", "GiB", 1000, "memory in use (total - available)",
            Family("reporter_memory_used_bytes", "memory in use (total - available)",
                   value=_exact_bytes("system.memory_used_bytes", "system.memory_used_gb"))),
    _system("memory_total_gb", "GiB", 1000, "memory installed",
            Family("reporter_memory_total_bytes", "memory installed",
                   value=_exact_bytes("system.memory_total_bytes", "system.memory_total_gb"))),
    _system("disk_percent", "percent", 100, "disk in use at disk_path",
            Family("reporter_disk_usage_ratio", "filesystem in use (0-1)", labels=(("path", _disk_path),),
                   scale=0.01), "Disk"),
    _system("disk_used_gb", "GiB", 1000, "disk in use at disk_path",
            Family("reporter_disk_used_bytes", "filesystem space in use", labels=(("path", _disk_path),),
                   value=_exact_bytes("system.disk_used_bytes", "system.disk_used_gb"))),
    _system("disk_total_gb", "GiB", 1000, "disk size at disk_path",
            Family("reporter_disk_total_bytes", "filesystem size", labels=(("path", _disk_path),),
                   value=_exact_bytes("system.disk_total_bytes", "system.disk_total_gb"))),
    _system("uptime_seconds", "seconds", 1, "host uptime",
            Family("reporter_host_uptime_seconds", "seconds since the host booted")),
    _system("load_1m", "processes", 100, "load average over 1 minute",
            Family("reporter_load1", "1-minute load average")),
    _system("load_5m", "processes", 100, "load average over 5 minutes",
            Family("reporter_load5", "5-minute load average")),
    _system("load_15m", "processes", 100, "load average over 15 minutes",
            Family("reporter_load15", "15-minute load average")),
    *_service("database"),
    *_service("redis"),
    *_service("ollama"),
    Metric("services.ollama.is_available", "ollama_model_available", "bool", 1, "configured model listed by Ollama",
           Family("reporter_ai_model_available", "1 when Ollama lists the configured model",
                  labels=(("model", _model),), value=_up("services.ollama.is_available"))),
    Metric("ai.total_requests", "ai_total_requests", "requests", 1, "ai:total_requests counter",
           Family("reporter_ai_all_requests", "AI requests of every feature (ai:total_requests; includes features "
                                              "not configured, so not the sum of reporter_ai_requests_total)",
                  "counter"), counter_key="total_requests"),
    Metric("ai.total_time_seconds", "ai_total_time_seconds", "seconds", 1000, "ai:total_time counter",
           Family("reporter_ai_all_response_time_seconds", "summed response time of every AI request "
                                                           "(ai:total_time)", "counter"), counter_key="total_time"),
    Metric("ai.cache_hits", "ai_cache_hits", "requests", 1, "ai:cache_hits counter",
           Family("reporter_ai_cache_hits", "AI requests answered from cache (ai:cache_hits)", "counter"),
           counter_key="cache_hits"),
    _usage("total_users", "users", "rows of users", Family("reporter_app_users", "users of the application"),
           "Users"),
    _usage("active_users_24h", "users", "users active in the last 24 h",
           Family("reporter_app_active_users", _ACTIVE, labels=(("window", "24h"),)), "Active users (24 h)"),
    _usage("active_users_1h", "users", "users active in the last hour",
           Family("reporter_app_active_users", _ACTIVE, labels=(("window", "1h"),)), None),
    _usage("total_scenarios", "scenarios", "rows of scenarios",
           Family("reporter_app_scenarios", "scenarios of the application"), "Scenarios"),
    _usage("active_conversations", "conversations", "conversations not ended",
           Family("reporter_app_active_conversations", "conversations not ended"), "Active conversations"),
    _usage("total_quizzes_taken", "attempts", "rows of quiz_attempts",
           Family("reporter_app_quiz_attempts", "quiz attempts ever made"), "Quizzes taken"),
    _usage("total_grammar_checks", "checks", "rows of grammar_checks",
           Family("reporter_app_grammar_checks", "grammar checks ever made"), "Grammar checks"),
    Metric("status", "status_code", "code", 1, "overall status: 0 healthy, 1 degraded, 2 unhealthy",
           stored=lambda s: STATUS_CODES[s.status]),
    Metric("duration_ms", "sample_duration_ms", "ms", 10, "wall time the sample took",
           Family("reporter_sample_duration_seconds", "wall time the sample took", scale=0.001)),
    # host metrics as Glances and node_exporter show them (issue 9)
    _system("swap_percent", "percent", 100, "swap in use",
            Family("reporter_swap_usage_ratio", "swap in use / swap size (0-1; 0 without swap)", scale=0.01)),
    _system("network_receive_bytes_per_second", "bytes/s", 1,
            "bytes received per second by all non-loopback interfaces since the previous sample",
            Family("reporter_network_receive_bytes_per_second",
                   "bytes received per second by all non-loopback interfaces since the previous sample")),
    _system("network_transmit_bytes_per_second", "bytes/s", 1,
            "bytes sent per second by all non-loopback interfaces since the previous sample",
            Family("reporter_network_transmit_bytes_per_second",
                   "bytes sent per second by all non-loopback interfaces since the previous sample")),
    _system("disk_read_bytes_per_second", "bytes/s", 1, "bytes read per second from all disks since the "
                                                         "previous sample",
            Family("reporter_disk_read_bytes_per_second", "bytes read per second from all disks since the "
                                                          "previous sample")),
    _system("disk_write_bytes_per_second", "bytes/s", 1, "bytes written per second to all disks since the "
                                                          "previous sample",
            Family("reporter_disk_write_bytes_per_second", "bytes written per second to all disks since the "
                                                           "previous sample")),
    _system("process_count", "processes", 1, "processes on the host",
            Family("reporter_processes", "processes on the host")),
    # the configured model as Ollama holds it (GET /api/ps) and the optional synthetic probe (issue 13)
    Metric("services.ollama.model_loaded", "ollama_model_loaded", "bool", 1,
           "configured model in memory (Ollama /api/ps)",
           Family("reporter_ollama_model_loaded", "1 when the configured model is in Ollama's memory (/api/ps)",
                  labels=(("model", _model),), value=_up("services.ollama.model_loaded"))),
    Metric("services.ollama.model_cpu_offload_ratio", "ollama_model_cpu_offload_ratio", "ratio", 10000,
           "share of the loaded configured model outside GPU memory, 1 - size_vram / size",
           Family("reporter_ollama_model_cpu_offload_ratio", "share of the loaded configured model outside GPU "
                                                             "memory (0-1; > 0: running partly on the CPU)",
                  labels=(("model", _model),))),
    Metric("services.ollama.model_size_bytes", "ollama_model_size_bytes", "bytes", 1,
           "memory the loaded configured model takes",
           Family("reporter_ollama_model_size_bytes", "memory the loaded configured model takes",
                  labels=(("model", _model),))),
    Metric("services.ollama.model_vram_bytes", "ollama_model_vram_bytes", "bytes", 1,
           "GPU memory the loaded configured model takes",
           Family("reporter_ollama_model_vram_bytes", "GPU memory the loaded configured model takes",
                  labels=(("model", _model),))),
    Metric("services.ollama.model_loads", "ollama_model_loads", "loads", 1,
           "times this reporter saw the configured model become loaded (a counter, from 0 at start)",
           Family("reporter_ollama_model_loads", "times the configured model became loaded, as seen in "
                                                 "/api/ps since this reporter started", "counter",
                  labels=(("model", _model),))),
    Metric("services.ollama.probe.time_to_first_token_seconds", "ollama_probe_first_token_seconds", "seconds",
           1000, "synthetic generation: time to first token",
           Family("reporter_gen_ai_server_time_to_first_token_seconds", "synthetic generation: request sent to "
                                                                        "first token", labels=(("model", _model),)),
           stored=_fresh_probe("services.ollama.probe.time_to_first_token_seconds")),
    Metric("services.ollama.probe.tokens_per_second", "ollama_probe_tokens_per_second", "tokens/s", 100,
           "synthetic generation: eval_count / eval_duration",
           Family("reporter_gen_ai_probe_output_tokens_per_second", "synthetic generation: output tokens per "
                                                                    "second (eval_count / eval_duration)",
                  labels=(("model", _model),)),
           stored=_fresh_probe("services.ollama.probe.tokens_per_second")),
)


def feature_metrics(feature: str) -> tuple[Metric, ...]:
    """The counter metrics of one AI feature: ``ai_{feature}_requests|success|time_seconds`` and the optional
    token counters ``ai_{feature}_prompt_tokens|completion_tokens|generation_seconds|cold_loads``."""
    labels: tuple[tuple[str, LabelValue], ...] = (("feature", feature),)
    return (
        Metric(f"ai.features.{feature}.requests", f"ai_{feature}_requests", "requests", 1,
               f"ai:{feature}:requests counter",
               Family("reporter_ai_requests", "AI requests of one feature (ai:{feature}:requests)", "counter",
                      labels), counter_key=f"{feature}:requests"),
        Metric(f"ai.features.{feature}.success", f"ai_{feature}_success", "requests", 1,
               f"ai:{feature}:success counter",
               Family("reporter_ai_successes", "successful AI requests of one feature (ai:{feature}:success)",
                      "counter", labels), counter_key=f"{feature}:success"),
        Metric(f"ai.features.{feature}.total_time_seconds", f"ai_{feature}_time_seconds", "seconds", 1000,
               f"ai:{feature}:time counter",
               Family("reporter_ai_response_time_seconds", "summed response time of one feature (ai:{feature}:time)",
                      "counter", labels), counter_key=f"{feature}:time"),
        # the optional token counters (issue 13): null, never 0, while the application does not write them
        Metric(f"ai.features.{feature}.prompt_tokens", f"ai_{feature}_prompt_tokens", "tokens", 1,
               f"ai:{feature}:prompt_tokens counter",
               Family("reporter_gen_ai_client_token_usage", _TOKEN_USAGE,
                      "counter", (*labels, ("gen_ai_token_type", "input"))), counter_key=f"{feature}:prompt_tokens"),
        Metric(f"ai.features.{feature}.completion_tokens", f"ai_{feature}_completion_tokens", "tokens", 1,
               f"ai:{feature}:completion_tokens counter",
               Family("reporter_gen_ai_client_token_usage", _TOKEN_USAGE,
                      "counter", (*labels, ("gen_ai_token_type", "output"))),
               counter_key=f"{feature}:completion_tokens"),
        Metric(f"ai.features.{feature}.generation_seconds", f"ai_{feature}_generation_seconds", "seconds", 1000000,
               f"ai:{feature}:generation_ns counter, in seconds",
               Family("reporter_gen_ai_generation_seconds", "time Ollama spent generating one feature's output "
                                                            "tokens (ai:{feature}:generation_ns)", "counter", labels),
               counter_key=f"{feature}:generation_ns"),
        Metric(f"ai.features.{feature}.cold_loads", f"ai_{feature}_cold_loads", "loads", 1,
               f"ai:{feature}:cold_loads counter",
               Family("reporter_gen_ai_cold_loads", "requests of one feature that waited for the model to load "
                                                    "(ai:{feature}:cold_loads)", "counter", labels),
               counter_key=f"{feature}:cold_loads"),
    )


def catalog(features: list[str]) -> dict[str, Metric]:
    """Every metric by history name (column), for the configured AI ``features`` (one of each feature's
    three counters per feature), in declaration order."""
    metrics = list(FIXED)
    for feature in features:
        metrics += feature_metrics(feature)
    return {m.name: m for m in metrics}


def report_metrics(section: str) -> dict[str, str]:
    """The metrics of ``section`` shown in the daily report: history name -> label, in declaration order."""
    return {m.name: m.report for m in FIXED if m.section == section and m.report is not None}
