"""Snapshots with chosen values and timestamps, to drive rules on a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reporter.snapshot import (
    AISection,
    FeatureWindow,
    OllamaHealth,
    ServiceHealth,
    Services,
    Snapshot,
    SystemSection,
    UsageSection,
    WindowStats,
)

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FEATURES = ["grammar", "quiz", "voice", "scenario"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(t: float, cpu: float | None = 10.0, memory: float = 40.0, disk: float = 30.0,
             down: tuple[str, ...] = (), model: bool = True, window: WindowStats | str | None = "idle",
             active_1h: int | None = 3) -> Snapshot:
    """A snapshot at T0 + ``t`` seconds. ``window`` is the AI 5-minute window (default: no requests)."""
    if window == "idle":
        window = globals()["window"](0)
    services = Services(
        database=ServiceHealth(up="database" not in down), redis=ServiceHealth(up="redis" not in down),
        ollama=OllamaHealth(model="mistral:7b", up="ollama" not in down, is_available=model and "ollama" not in down),
    )
    return Snapshot(
        timestamp=at(t), host="web01.example.com", status="healthy", duration_ms=1.0,
        system=SystemSection(cpu_percent=cpu, memory_percent=memory, disk_percent=disk),
        services=services,
        ai=AISection(model="mistral:7b", windows={"last_interval": window, "5m": window}),
        usage=UsageSection(collected_at=at(t), active_users_1h=active_1h),
    )


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
