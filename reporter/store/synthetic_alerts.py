"""Synthetic alert episodes beside a synthetic history (:mod:`reporter.store.synthetic`), for trying the reports'
incidents, objectives and verdict without a real incident: deterministic for a given seed.

Each episode is a ``firing`` and a ``resolved`` event of one fingerprint in the ``alert_events`` table, as the
evaluator writes them (labels with ``alertname`` and ``severity``); an episode whose resolution would fall after
``end`` stays firing.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta

from reporter.base.ms import to_ms
from reporter.store.alert_schema import alert_events
from reporter.store.history import History

# (alertname, severity, episodes per day on average, shortest and longest duration in minutes)
RULES = (
    ("cpu_high", "warning", 0.6, 5, 40),
    ("ai_latency_high", "warning", 0.4, 3, 25),
    ("ai_success_rate_low", "critical", 0.15, 4, 30),
    ("service_down", "critical", 0.2, 2, 15),
    ("disk_full_soon", "info", 0.1, 60, 240),
)


def generate_alerts(history: History, start: datetime, end: datetime, seed: int = 7) -> int:
    """Insert alert episodes between ``start`` and ``end`` (aware datetimes); returns how many. ``service_down``
    episodes carry a ``service`` label (database, redis or ollama)."""
    rng = random.Random(seed)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    days = (end - start).total_seconds() / 86400
    events: list[dict] = []
    count = 0
    for name, severity, per_day, shortest, longest in RULES:
        for _ in range(int(rng.random() + per_day * days)):
            at = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
            labels = {"alertname": name, "severity": severity}
            if name == "service_down":
                labels["service"] = rng.choice(("database", "redis", "ollama"))
            fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
            body = {"fingerprint": fingerprint, "rule": name, "value": 1.0, "labels": json.dumps(labels, sort_keys=True)}
            events.append({**body, "at": to_ms(at), "state": "firing"})
            resolved = at + timedelta(minutes=rng.uniform(shortest, longest))
            if resolved < end:
                events.append({**body, "at": to_ms(resolved), "state": "resolved"})
            count += 1
    events.sort(key=lambda e: e["at"])
    _one_open_episode_per_fingerprint(events)
    if events:
        with history.engine.begin() as conn:
            conn.execute(alert_events.insert(), events)
    return sum(1 for e in events if e["state"] == "firing")


def _one_open_episode_per_fingerprint(events: list[dict]) -> None:
    """Drop the events of episodes that overlap an earlier episode of the same fingerprint (an alert fires once
    until it resolves), in place; ``events`` sorted by time."""
    open_: set[str] = set()
    kept: list[dict] = []
    skipping: dict[str, int] = {}
    for event in events:
        fp = event["fingerprint"]
        if event["state"] == "firing":
            if fp in open_:
                skipping[fp] = skipping.get(fp, 0) + 1
                continue
            open_.add(fp)
        elif skipping.get(fp):
            skipping[fp] -= 1
            continue
        else:
            open_.discard(fp)
        kept.append(event)
    events[:] = kept
