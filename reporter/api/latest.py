"""The latest snapshot, held in memory and serialised once per sample for the HTTP endpoints."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from reporter.api import prometheus, views
from reporter.snapshot import Snapshot

# the paths whose whole body depends on nothing but the snapshot (pre-serialised in Published.bodies)
SNAPSHOT_PATH = "/snapshot"
ANALYTICS = "/api/v1/analytics"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Published:
    """One published snapshot: the model, its JSON bytes, an ETag and when it was published (monotonic s),
    plus every other answer derived from it, serialised once: ``bodies`` by path, and the top-users and
    popular-scenarios lists as one JSON object per item (an answer for ``?limit=N`` joins the first N)."""

    snapshot: Snapshot
    body: bytes
    etag: str
    published_at: float
    alerts_body: bytes = b'{"alerts": []}'
    bodies: dict[str, bytes] = field(default_factory=dict)
    top_users: tuple[bytes, ...] = ()
    popular_scenarios: tuple[bytes, ...] = ()


def derived_bodies(snapshot: Snapshot, body: bytes) -> dict[str, bytes]:
    """Every answer that depends only on the snapshot, by path."""
    return {
        SNAPSHOT_PATH: body,
        f"{ANALYTICS}/metrics": views.dumps(views.metrics(snapshot)),
        f"{ANALYTICS}/health": views.dumps(views.health(snapshot)),
        f"{ANALYTICS}/ai-features": views.dumps(views.ai_features(snapshot)),
        METRICS_PATH: prometheus.render(snapshot),
    }


class Latest:
    """Holds the newest snapshot. ``publish`` is called by the sampler thread, ``get`` by HTTP handlers."""

    def __init__(self) -> None:
        self._current: Published | None = None
        self._lock = threading.Lock()

    def publish(self, snapshot: Snapshot) -> Published:
        """Serialise ``snapshot`` (and every answer derived from it) once and make it the current one."""
        body = snapshot.model_dump_json().encode()
        alerts = snapshot.model_dump_json(include={"timestamp", "alerts"}).encode()
        published = Published(snapshot, body, f'"{int(snapshot.timestamp.timestamp() * 1000):x}"', time.monotonic(),
                              alerts, derived_bodies(snapshot, body), views.top_user_items(snapshot),
                              views.scenario_items(snapshot))
        with self._lock:
            self._current = published
        return published

    def get(self) -> Published | None:
        """The current snapshot, or None before the first sample."""
        return self._current

    def age_seconds(self) -> float | None:
        """Seconds since the current snapshot was published, None before the first."""
        current = self._current
        return None if current is None else time.monotonic() - current.published_at
