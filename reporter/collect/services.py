"""Service probes: the app database (``SELECT 1``), Redis (``PING``) and Ollama (``GET /api/tags``).

Each probe returns a health record within its timeout and never raises: a down service is ``up=False``
with the error text (secrets masked).
"""

from __future__ import annotations

import time

import httpx
import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine

from reporter.collect.runner import one_line
from reporter.settings import mask_url
from reporter.snapshot import OllamaHealth, ServiceHealth


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)


class DatabaseProbe:
    """``SELECT 1`` through SQLAlchemy on the app database engine (its connect timeout bounds it)."""

    name = "database"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> ServiceHealth:
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return ServiceHealth(up=False, latency_ms=_elapsed_ms(started), error=mask_url(one_line(exc)))
        return ServiceHealth(up=True, latency_ms=_elapsed_ms(started))


class RedisProbe:
    """``PING`` on a redis-py client whose socket timeouts bound the probe."""

    name = "redis"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> ServiceHealth:
        started = time.perf_counter()
        try:
            self.client.ping()
        except Exception as exc:
            return ServiceHealth(up=False, latency_ms=_elapsed_ms(started), error=mask_url(one_line(exc)))
        return ServiceHealth(up=True, latency_ms=_elapsed_ms(started))


def model_listed(model: str, names: list[str]) -> bool:
    """True when ``model`` is among Ollama's model names; a name without a tag means ``:latest``."""
    wanted = model if ":" in model else f"{model}:latest"
    return any((n if ":" in n else f"{n}:latest") == wanted for n in names)


class OllamaProbe:
    """``GET {base_url}/api/tags``; up when it answers 200 with JSON, model available when listed."""

    name = "ollama"

    def __init__(self, client: httpx.Client, base_url: str, model: str) -> None:
        self.client = client
        self.url = f"{base_url}/api/tags"
        self.model = model

    def collect(self) -> OllamaHealth:
        started = time.perf_counter()
        health = OllamaHealth(model=self.model)
        try:
            response = self.client.get(self.url)
            response.raise_for_status()
            payload = response.json()
            models = payload.get("models") if isinstance(payload, dict) else None
            if not isinstance(models, list):
                raise ValueError("response has no 'models' list")
            names = [str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)]
        except Exception as exc:
            health.up, health.is_available = False, False
            health.error = mask_url(one_line(exc))
            health.latency_ms = _elapsed_ms(started)
            return health
        health.up, health.latency_ms, health.models = True, _elapsed_ms(started), names
        health.is_available = model_listed(self.model, names)
        if not health.is_available:
            health.error = f"model {self.model} is not listed by Ollama"
        return health
