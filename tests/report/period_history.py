"""Shared fixtures of the weekly/monthly summary and incidents tests: samples over a span with random values
(AI counters that may reset, services that go down, active users), alert events, and the independent
computations the tests compare the report with (written here again, not imported from reporter.report)."""

from __future__ import annotations

import itertools
import json
import random
from datetime import datetime, timedelta

import numpy as np

from reporter.base.ms import to_ms
from reporter.store.alert_schema import alert_events

SERVICES = ("database", "redis", "ollama")


def sample_rows(start: datetime, end: datetime, *, interval: int = 600, seed: int = 1, reset_at: int | None = None,
                down: dict[str, tuple[int, int]] | None = None, skip: range | None = None,
                slow: float = 1.0, slow_until: datetime | None = None) -> list[dict]:
    """One sample every ``interval`` s from ``start`` (one before it, the base of the counter increases) to
    ``end``: AI counters (requests, time, quiz successes, cache hits) that all restart from 0 at sample number
    ``reset_at`` (a Redis flush), ``down[service] = (first, last)`` sample numbers with the service down,
    ``skip`` sample numbers left out (a gap), response times scaled by ``slow`` (until ``slow_until``, if
    given)."""
    rng = random.Random(seed)
    down = down or {}
    rows, t, n = [], start - timedelta(seconds=interval), 0
    total = spent = ok = hits = 0.0
    while t < end:
        if n == reset_at:
            total = spent = ok = hits = 0.0
        add = rng.randint(0, 6)
        total += add
        ok += rng.randint(max(0, add - 1), add)
        hits += rng.randint(0, add)
        spent += add * rng.uniform(0.4, 4.0) * (slow if slow_until is None or t < slow_until else 1.0)
        row = {"ts": to_ms(t), "cpu_percent": round(rng.uniform(5, 90), 2), "memory_percent": 55.0,
               "disk_percent": 40.0, "ai_total_requests": total, "ai_total_time_seconds": round(spent, 3),
               "ai_quiz_requests": total, "ai_quiz_success": ok, "ai_quiz_time_seconds": round(spent, 3),
               "ai_grammar_requests": 0.0, "ai_grammar_success": 0.0, "ai_grammar_time_seconds": 0.0,
               "ai_cache_hits": hits, "usage_active_users_24h": float(rng.randint(20, 80)),
               "ollama_model_available": 1.0}
        for service in SERVICES:
            first, last = down.get(service, (-1, -2))
            row[f"{service}_up"] = 0.0 if first <= n <= last else 1.0
        if skip is None or n not in skip:
            rows.append(row)
        t += timedelta(seconds=interval)
        n += 1
    return rows


def insert_rows(history, rows: list[dict]) -> None:
    names = list(history.metrics)
    with history.engine.begin() as conn:
        conn.execute(history.samples.insert(), [{"ts": r["ts"], **{n: r.get(n) for n in names}} for r in rows])


def insert_events(history, events) -> None:
    """Alert state changes: (at, state, fingerprint, labels)."""
    with history.engine.begin() as conn:
        conn.execute(alert_events.insert(), [{"at": to_ms(at), "fingerprint": fp, "rule": labels["alertname"],
                                              "state": state, "value": 1.0, "labels": json.dumps(labels)}
                                             for at, state, fp, labels in events])


def increase(values: list[float]) -> float:
    """A counter's increase over ``values``; a decrease is a reset (the new value is the increase)."""
    return sum(b - a if b >= a else b for a, b in itertools.pairwise(values))


def expected(rows: list[dict], start: datetime, end: datetime, interval: int) -> dict[str, float | None]:
    """The key figures of [start, end) recomputed from ``rows``: lowest availability, AI requests, p95, success
    and cache hit rates (percent), active users at the end, coverage (percent)."""
    inside = [r for r in rows if to_ms(start) <= r["ts"] < to_ms(end)]
    if not inside:
        return dict.fromkeys(("availability", "ai_requests", "ai_p95", "ai_success", "cache_hit_rate",
                              "active_users", "coverage"))
    base = [r for r in rows if r["ts"] < to_ms(start)][-1:]
    series = base + inside

    def steps(name):
        return [b - a if b >= a else b for a, b in itertools.pairwise(r[name] for r in series)]

    requests = increase([r["ai_total_requests"] for r in series])
    ratios = [t / q for q, t in zip(steps("ai_total_requests"), steps("ai_total_time_seconds"), strict=True) if q > 0]
    availability = min(sum(r[f"{s}_up"] for r in inside) / len(inside) * 100 for s in SERVICES)
    return {
        "availability": availability,
        "ai_requests": requests,
        "ai_p95": float(np.percentile(ratios, 95)) if ratios else None,
        "ai_success": increase([r["ai_quiz_success"] for r in series]) / increase(
            [r["ai_quiz_requests"] for r in series]) * 100,
        "cache_hit_rate": increase([r["ai_cache_hits"] for r in series]) / requests * 100,
        "active_users": inside[-1]["usage_active_users_24h"],
        "coverage": min(100.0, len(inside) / round((end - start).total_seconds() / interval) * 100),
    }
