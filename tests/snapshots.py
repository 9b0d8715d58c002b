"""The suite's one snapshot factory: :func:`snapshot` builds every Snapshot a test needs.

By default a healthy snapshot of web01.example.com at ``T0 + t`` seconds with chosen system values, services up
or ``down``, the Ollama model listed or not and an AI 5-minute ``window`` (to drive rules on a controlled clock);
any other Snapshot field can be given whole (``status="degraded"``, ``system=SystemSection(...)``...).
:func:`rich_snapshot` is one preset: every section filled, as the sampler makes it on a busy day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reporter.snapshot import (
    ActiveAlert,
    AISection,
    FeatureStats,
    FeatureWindow,
    OllamaHealth,
    PopularScenario,
    ServiceHealth,
    Services,
    Snapshot,
    SystemSection,
    TopUser,
    UsageSection,
    WindowStats,
)

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WHEN = datetime(2026, 11, 29, 12, 0, 0, 250000, tzinfo=UTC)  # the rich snapshot's time (a millisecond part)
FEATURES = ["grammar", "quiz", "voice", "scenario"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(t: float = 0.0, cpu: float | None = 10.0, memory: float = 40.0, disk: float = 30.0,
             down: tuple[str, ...] = (), model: bool = True, window: WindowStats | str | None = "idle",
             active_1h: int | None = 3, *, when: datetime | None = None, **fields) -> Snapshot:
    """A snapshot at T0 + ``t`` seconds (or at ``when``). ``window`` is the AI 5-minute window (default: no
    requests). ``fields``: other Snapshot fields, each replacing the default whole (e.g. ``usage=None``)."""
    when = at(t) if when is None else when
    if window == "idle":
        window = globals()["window"](0)
    services = Services(
        database=ServiceHealth(up="database" not in down), redis=ServiceHealth(up="redis" not in down),
        ollama=OllamaHealth(model="mistral:7b", up="ollama" not in down, is_available=model and "ollama" not in down),
    )
    values = {
        "timestamp": when, "host": "web01.example.com", "status": "healthy", "duration_ms": 1.0,
        "system": SystemSection(cpu_percent=cpu, memory_percent=memory, disk_percent=disk),
        "services": services,
        "ai": AISection(model="mistral:7b", windows={"last_interval": window, "5m": window}),
        "usage": UsageSection(collected_at=when, active_users_1h=active_1h),
    }
    return Snapshot(**{**values, **fields})


def window(requests: float, avg_time: float = 1.0, success_rate: float = 100.0,
           features: dict[str, tuple[float, float]] | None = None) -> WindowStats:
    """A 5-minute window; ``features`` maps name -> (requests, success_rate)."""
    idle = requests == 0
    return WindowStats(
        window_seconds=300, requests=requests, avg_response_time=None if idle else avg_time,
        success_rate=None if idle else success_rate, error_rate=None if idle else 100 - success_rate,
        features={f: FeatureWindow(requests=r, success_rate=s)
                  for f, (r, s) in {**{f: (0, None) for f in FEATURES}, **(features or {})}.items()},
    )


def rich_snapshot(when: datetime = WHEN) -> Snapshot:
    """A snapshot as the sampler makes it on a busy day: 12 top users, 3 scenarios, one firing alert."""
    features = {f: FeatureStats(requests=40 + i, success=38 + i, success_rate=round((38 + i) / (40 + i) * 100, 6),
                                total_time_seconds=80.5 + i, avg_time=round((80.5 + i) / (40 + i), 6))
                for i, f in enumerate(FEATURES)}
    return snapshot(
        when=when, host="db01", status="degraded", duration_ms=4.77,
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
