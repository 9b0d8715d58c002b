"""The latest snapshot, held in memory and serialised once per sample for the HTTP endpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reporter.api import views
from reporter.base.ms import to_ms
from reporter.snapshot import Snapshot

# the paths whose whole body depends on nothing but the snapshot (pre-serialised in Published.bodies)
SNAPSHOT_PATH = "/snapshot"
ALERTS_PATH = "/alerts"
ANALYTICS = "/api/v1/analytics"
METRICS_PATH = "/metrics"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the classic format every Prometheus reads


@dataclass(frozen=True)
class Delivery:
    """The notifier's health for ``/metrics`` (the leader's outbox): ``outcomes``, attempts of this process by
    (receiver, outcome: delivered, retry, failed, expired); ``backlog``, undelivered notifications by receiver:
    (count, age of the oldest in seconds); ``template_errors``, notification templates that failed to render
    (the built-in text went out instead) by template file name, since this process started."""

    outcomes: dict[tuple[str, str], int]
    backlog: dict[str, tuple[int, float]]
    template_errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """One published snapshot: the model, its JSON bytes, an ETag and when it was published (monotonic s),
    plus every other answer derived from it, serialised once: ``bodies`` by path, and the top-users and
    popular-scenarios lists as one JSON object per item (an answer for ``?limit=N`` joins the first N).

    The Prometheus text is rendered on the first ``/metrics`` request for this snapshot (see :meth:`body_for`):
    a daemon nobody scrapes neither loads prometheus_client nor renders it every sample."""

    snapshot: Snapshot
    body: bytes
    etag: str
    published_at: float
    alerts_body: bytes = b'{"alerts": []}'
    bodies: dict[str, bytes] = field(default_factory=dict)
    top_users: tuple[bytes, ...] = ()
    popular_scenarios: tuple[bytes, ...] = ()
    delivery: Callable[[], Delivery | None] | None = None

    def body_for(self, path: str) -> bytes:
        """The answer body of ``path`` (one of the snapshot-only paths), rendered at most once."""
        body = self.bodies.get(path)
        if body is None:
            if path != METRICS_PATH:
                raise KeyError(path)
            from reporter.api import prometheus

            body = self.bodies[path] = prometheus.render(
                self.snapshot, None if self.delivery is None else self.delivery())
        return body


def derived_bodies(snapshot: Snapshot, body: bytes, alerts: bytes) -> dict[str, bytes]:
    """Every JSON answer that depends only on the snapshot, by path (``/metrics`` comes on demand)."""
    return {
        SNAPSHOT_PATH: body,
        ALERTS_PATH: alerts,
        f"{ANALYTICS}/metrics": views.dumps(views.metrics(snapshot)),
        f"{ANALYTICS}/health": views.dumps(views.health(snapshot)),
        f"{ANALYTICS}/ai-features": views.dumps(views.ai_features(snapshot)),
    }


class Latest:
    """Holds the newest snapshot. ``publish`` is called by the sampler thread, ``get`` by HTTP handlers."""

    def __init__(self) -> None:
        self._current: Published | None = None
        self.delivery: Callable[[], Delivery | None] | None = None  # the daemon sets it (the leader's outbox)
        self._lock = threading.Lock()

    def publish(self, snapshot: Snapshot) -> Published:
        """Serialise ``snapshot`` (and every answer derived from it) once and make it the current one."""
        body = snapshot.model_dump_json().encode()
        alerts = snapshot.model_dump_json(include={"timestamp", "alerts"}).encode()
        published = Published(snapshot, body, f'"{to_ms(snapshot.timestamp):x}"', time.monotonic(),
                              alerts, derived_bodies(snapshot, body, alerts), views.top_user_items(snapshot),
                              views.scenario_items(snapshot), self.delivery)
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
