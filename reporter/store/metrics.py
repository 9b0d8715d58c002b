"""The metric catalog: which snapshot values are kept in history, under which name, unit and precision.

Each metric is one column of the ``samples`` table, stored as a fixed-point integer (``round(value * scale)``)
so a row stays small on disk (SQLite stores small integers in 1-3 bytes, and 0/1 in none). A metric's name
says its unit. Per-feature AI counters get one column per configured feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reporter.snapshot import Snapshot, Status

STATUS_CODES = {Status.HEALTHY: 0, Status.DEGRADED: 1, Status.UNHEALTHY: 2}


@dataclass(frozen=True)
class Metric:
    """One stored series: ``name`` (column), ``unit``, ``help``, fixed-point ``scale``, and ``read`` which takes
    the value from a Snapshot (None when missing)."""

    name: str
    unit: str
    help: str
    scale: int
    read: Callable[[Snapshot], float | None]
    counter: bool = False
    counter_key: str | None = None  # the Redis counter (without prefix) this column records


def _bool(value: bool | None) -> float | None:
    return None if value is None else float(value)


def _usage(field: str) -> Callable[[Snapshot], float | None]:
    # usage figures are stored only in the sample that read them (they are re-read every usage_interval)
    def read(s: Snapshot) -> float | None:
        if s.usage is None or s.usage.collected_at != s.timestamp:
            return None
        return getattr(s.usage, field)
    return read


FIXED: tuple[Metric, ...] = (
    Metric("cpu_percent", "percent", "CPU busy, average since the previous sample", 100, lambda s: s.system.cpu_percent),
    Metric("memory_percent", "percent", "memory in use", 100, lambda s: s.system.memory_percent),
    Metric("memory_used_gb", "GiB", "memory in use (total - available)", 1000, lambda s: s.system.memory_used_gb),
    Metric("memory_total_gb", "GiB", "memory installed", 1000, lambda s: s.system.memory_total_gb),
    Metric("disk_percent", "percent", "disk in use at disk_path", 100, lambda s: s.system.disk_percent),
    Metric("disk_used_gb", "GiB", "disk in use at disk_path", 1000, lambda s: s.system.disk_used_gb),
    Metric("disk_total_gb", "GiB", "disk size at disk_path", 1000, lambda s: s.system.disk_total_gb),
    Metric("uptime_seconds", "seconds", "host uptime", 1, lambda s: s.system.uptime_seconds),
    Metric("load_1m", "processes", "load average over 1 minute", 100, lambda s: s.system.load_1m),
    Metric("load_5m", "processes", "load average over 5 minutes", 100, lambda s: s.system.load_5m),
    Metric("load_15m", "processes", "load average over 15 minutes", 100, lambda s: s.system.load_15m),
    Metric("database_up", "bool", "app database answered SELECT 1", 1, lambda s: _bool(s.services.database.up)),
    Metric("database_latency_ms", "ms", "app database probe time", 100, lambda s: s.services.database.latency_ms),
    Metric("redis_up", "bool", "Redis answered PING", 1, lambda s: _bool(s.services.redis.up)),
    Metric("redis_latency_ms", "ms", "Redis probe time", 100, lambda s: s.services.redis.latency_ms),
    Metric("ollama_up", "bool", "Ollama answered /api/tags", 1, lambda s: _bool(s.services.ollama.up)),
    Metric("ollama_latency_ms", "ms", "Ollama probe time", 100, lambda s: s.services.ollama.latency_ms),
    Metric("ollama_model_available", "bool", "configured model listed by Ollama", 1,
           lambda s: _bool(s.services.ollama.is_available)),
    Metric("ai_total_requests", "requests", "ai:total_requests counter", 1, lambda s: s.ai.total_requests, True,
           "total_requests"),
    Metric("ai_total_time_seconds", "seconds", "ai:total_time counter", 1000, lambda s: s.ai.total_time_seconds,
           True, "total_time"),
    Metric("ai_cache_hits", "requests", "ai:cache_hits counter", 1, lambda s: s.ai.cache_hits, True, "cache_hits"),
    Metric("usage_total_users", "users", "rows of users", 1, _usage("total_users")),
    Metric("usage_active_users_24h", "users", "users active in the last 24 h", 1, _usage("active_users_24h")),
    Metric("usage_active_users_1h", "users", "users active in the last hour", 1, _usage("active_users_1h")),
    Metric("usage_total_scenarios", "scenarios", "rows of scenarios", 1, _usage("total_scenarios")),
    Metric("usage_active_conversations", "conversations", "conversations not ended", 1,
           _usage("active_conversations")),
    Metric("usage_total_quizzes_taken", "attempts", "rows of quiz_attempts", 1, _usage("total_quizzes_taken")),
    Metric("usage_total_grammar_checks", "checks", "rows of grammar_checks", 1, _usage("total_grammar_checks")),
    Metric("status_code", "code", "overall status: 0 healthy, 1 degraded, 2 unhealthy", 1,
           lambda s: STATUS_CODES[s.status]),
    Metric("sample_duration_ms", "ms", "wall time the sample took", 10, lambda s: s.duration_ms),
)


def _feature(feature: str, field: str) -> Callable[[Snapshot], float | None]:
    def read(s: Snapshot) -> float | None:
        stats = s.ai.features.get(feature)
        return None if stats is None else getattr(stats, field)
    return read


def feature_metrics(feature: str) -> tuple[Metric, ...]:
    """The three counter columns of one AI feature: ``ai_{feature}_requests|success|time_seconds``."""
    return (
        Metric(f"ai_{feature}_requests", "requests", f"ai:{feature}:requests counter", 1,
               _feature(feature, "requests"), True, f"{feature}:requests"),
        Metric(f"ai_{feature}_success", "requests", f"ai:{feature}:success counter", 1,
               _feature(feature, "success"), True, f"{feature}:success"),
        Metric(f"ai_{feature}_time_seconds", "seconds", f"ai:{feature}:time counter", 1000,
               _feature(feature, "total_time_seconds"), True, f"{feature}:time"),
    )


def catalog(features: list[str]) -> dict[str, Metric]:
    """Every stored metric by name, for the configured AI features."""
    metrics = list(FIXED)
    for feature in features:
        metrics += feature_metrics(feature)
    return {m.name: m for m in metrics}
