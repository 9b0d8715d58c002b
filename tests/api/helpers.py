"""Serving the app over a real loopback socket, and a snapshot with every section filled."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import uvicorn

from reporter.api.app import create_app
from reporter.api.latest import Latest
from reporter.api.protocol import HeaderDeadlineProtocol
from reporter.snapshot import (
    ActiveAlert,
    AISection,
    FeatureStats,
    OllamaHealth,
    PopularScenario,
    ServiceHealth,
    Services,
    Snapshot,
    SystemSection,
    TopUser,
    UsageSection,
)
from tests.conftest import free_port

FEATURES = ["grammar", "quiz", "voice", "scenario"]
WHEN = datetime(2026, 11, 29, 12, 0, 0, 250000, tzinfo=UTC)


def rich_snapshot(when: datetime = WHEN) -> Snapshot:
    """A snapshot as the sampler makes it on a busy day: 12 top users, 3 scenarios, one firing alert."""
    features = {f: FeatureStats(requests=40 + i, success=38 + i, success_rate=round((38 + i) / (40 + i) * 100, 6),
                                total_time_seconds=80.5 + i, avg_time=round((80.5 + i) / (40 + i), 6))
                for i, f in enumerate(FEATURES)}
    return Snapshot(
        timestamp=when, host="db01", status="degraded", duration_ms=4.77,
        system=SystemSection(cpu_percent=35.4, memory_percent=76.3, memory_used_gb=9.3, memory_total_gb=24.0,
                             disk_path="/", disk_percent=5.3, disk_used_gb=13.2, disk_total_gb=250.0,
                             uptime_seconds=123456.0, load_1m=0.67, load_5m=0.34, load_15m=0.18),
        services=Services(database=ServiceHealth(up=True, latency_ms=4.16), redis=ServiceHealth(up=True, latency_ms=0.9),
                          ollama=OllamaHealth(model="mistral:7b", up=False, is_available=False, latency_ms=2.09,
                                              error="ConnectError: [Errno 111] Connection refused")),
        ai=AISection(model="mistral:7b", is_available=False, total_requests=150, total_time_seconds=345.0,
                     avg_response_time=2.3, cache_hits=23, cache_hit_rate=15.333333, features=features),
        usage=UsageSection(
            collected_at=when, total_users=7, active_users_24h=3, active_users_1h=1, total_scenarios=10,
            active_conversations=4, total_quizzes_taken=84, total_grammar_checks=25,
            top_users=[TopUser(user_id=f"user_{i:03d}", email=f"u***@example{i}.com", activity_count=30 - i,
                               last_active=when) for i in range(12)],
            popular_scenarios=[PopularScenario(scenario_id="restaurant_001", name="Restaurant Reservation",
                                               start_count=45, completion_rate=75.5),
                               PopularScenario(scenario_id="hotel_001", name="Hotel Check-in", start_count=38,
                                               completion_rate=82.1),
                               PopularScenario(scenario_id="new_001", name=None, start_count=1,
                                               completion_rate=None)]),
        errors={"ollama": "ConnectError: [Errno 111] Connection refused"},
        alerts=[ActiveAlert(alertname="service_down", state="firing", severity="critical",
                            labels={"alertname": "service_down", "service": "ollama", "severity": "critical"},
                            summary="ollama is down", value=0.0, active_at=when, fired_at=when, fingerprint="f1"),
                ActiveAlert(alertname="cpu_high", state="pending", severity="critical",
                            labels={"alertname": "cpu_high", "severity": "critical", "team-name": "ops"},
                            value=95.0, active_at=when, fingerprint="f2")],
    )


@contextlib.contextmanager
def serve(latest: Latest | None = None, **options) -> Iterator[tuple[Latest, str]]:
    """``create_app(latest, 10, **options)`` served by uvicorn on a free loopback port; yields (latest, base URL)."""
    latest = latest or Latest()
    options.setdefault("sample_interval", 10)
    interval = options.pop("sample_interval")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(latest, interval, **options), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, timeout_keep_alive=5,
                                           http=HeaderDeadlineProtocol))  # as the daemon serves
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.025)
    try:
        yield latest, base
    finally:
        server.should_exit = True
        thread.join(5)
