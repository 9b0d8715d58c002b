"""The latest snapshot, held in memory and serialised once per sample for the HTTP endpoint."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from reporter.snapshot import Snapshot


@dataclass(frozen=True)
class Published:
    """One published snapshot: the model, its JSON bytes, an ETag and when it was published (monotonic s)."""

    snapshot: Snapshot
    body: bytes
    etag: str
    published_at: float
    alerts_body: bytes = b'{"alerts": []}'


class Latest:
    """Holds the newest snapshot. ``publish`` is called by the sampler thread, ``get`` by HTTP handlers."""

    def __init__(self) -> None:
        self._current: Published | None = None
        self._lock = threading.Lock()

    def publish(self, snapshot: Snapshot) -> Published:
        """Serialise ``snapshot`` once and make it the current one."""
        body = snapshot.model_dump_json().encode()
        alerts = snapshot.model_dump_json(include={"timestamp", "alerts"}).encode()
        published = Published(snapshot, body, f'"{int(snapshot.timestamp.timestamp() * 1000):x}"', time.monotonic(),
                              alerts)
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
