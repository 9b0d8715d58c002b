"""The seed's ``/api/v1/analytics/*`` answers, from a Snapshot (the field names and nesting of the original
write-up, listed in README.md "HTTP API").

Each function returns plain JSON-ready data; :class:`reporter.api.latest.Latest` serialises them once per
published snapshot. The seed's field names and nesting are kept exactly; a value that could not be read is
``null`` (the seed would have failed the whole request), and a section the seed always had (``usage``) is an
object of nulls rather than a missing section, so dashboard code like ``data.usage.total_users`` keeps working.
"""

from __future__ import annotations

import json

from reporter.base.timefmt import format_utc
from reporter.snapshot import Snapshot, probed

SEED_SYSTEM = ("cpu_percent", "memory_percent", "memory_used_gb", "memory_total_gb", "disk_percent", "uptime_seconds")
SEED_AI = ("model", "is_available", "total_requests", "avg_response_time", "cache_hit_rate")
SEED_USAGE = ("total_users", "active_users_24h", "total_scenarios", "active_conversations", "total_quizzes_taken",
              "total_grammar_checks")
SERVICES = ("database", "redis", "ollama")


def metrics(snapshot: Snapshot) -> dict:
    """``GET /api/v1/analytics/metrics``: ``{system, ai, usage}`` with the seed's fields, plus ``timestamp``."""
    usage = snapshot.usage
    return {
        "system": {name: getattr(snapshot.system, name) for name in SEED_SYSTEM},
        "ai": {name: getattr(snapshot.ai, name) for name in SEED_AI},
        "usage": {name: None if usage is None else getattr(usage, name) for name in SEED_USAGE},
        "timestamp": format_utc(snapshot.timestamp),
    }


def health(snapshot: Snapshot) -> dict:
    """``GET /api/v1/analytics/health``: ``{status, services: {name: bool}, timestamp}`` (a service whose probe
    could not run counts as down; one this host does not probe, REPORTER_PROBES, is null)."""
    return {
        "status": snapshot.status.value,
        "services": {name: getattr(snapshot.services, name).up is True if probed(getattr(snapshot.services, name))
                     else None for name in SERVICES},
        "timestamp": format_utc(snapshot.timestamp),
    }


SEED_FEATURE_FIELDS = ("requests", "success", "success_rate", "total_time_seconds", "avg_time")


def ai_features(snapshot: Snapshot) -> dict:
    """``GET /api/v1/analytics/ai-features``: ``{feature: {requests, success, success_rate, total_time_seconds,
    avg_time}}``, lifetime figures from the Redis counters (the seed's per-feature keys; the seed's shape, so the
    token counters are left out: they are in ``/api/v1/snapshot``)."""
    return {name: stats.model_dump(mode="json", include=set(SEED_FEATURE_FIELDS))
            for name, stats in snapshot.ai.features.items()}


def top_user_items(snapshot: Snapshot) -> tuple[bytes, ...]:
    """The top users as one JSON object each (``user_id, email, activity_count, last_active``), best first."""
    if snapshot.usage is None:
        return ()
    return tuple(user.model_dump_json().encode() for user in snapshot.usage.top_users)


def scenario_items(snapshot: Snapshot) -> tuple[bytes, ...]:
    """Popular scenarios as one JSON object each (``scenario_id, name, start_count, completion_rate``)."""
    if snapshot.usage is None:
        return ()
    return tuple(s.model_dump_json().encode() for s in snapshot.usage.popular_scenarios)


def json_list(items: tuple[bytes, ...], limit: int) -> bytes:
    """A JSON array of the first ``limit`` pre-serialised items."""
    return b"[" + b",".join(items[:limit]) + b"]"


def dumps(payload) -> bytes:
    """Compact JSON bytes (NaN is never produced: snapshot values are finite or null)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
