"""Service probes: the app database (``SELECT 1``), Redis (``PING``) and Ollama (``GET /api/tags``).

Each probe returns a health record within its timeout and never raises: a down service is ``up=False``
with the error text (secrets masked).
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import redis
from sqlalchemy.engine import Engine

from reporter.base.errors import one_line
from reporter.base.ms import elapsed_ms
from reporter.masking import mask
from reporter.snapshot import OllamaHealth, ServiceHealth

MAX_TAGS_BYTES = 1024 * 1024  # a real /api/tags answer is a few KiB


class DatabaseProbe:
    """``SELECT 1`` through SQLAlchemy on the app database engine (its connect timeout bounds it)."""

    name = "database"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> ServiceHealth:
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
        except Exception as exc:
            return ServiceHealth(up=False, latency_ms=elapsed_ms(started), error=one_line(exc))
        return ServiceHealth(up=True, latency_ms=elapsed_ms(started))


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
            return ServiceHealth(up=False, latency_ms=elapsed_ms(started), error=one_line(exc))
        return ServiceHealth(up=True, latency_ms=elapsed_ms(started))


def model_listed(model: str, names: list[str]) -> bool:
    """True when ``model`` is among Ollama's model names; a name without a tag means ``:latest``."""
    wanted = model if ":" in model else f"{model}:latest"
    return any((n if ":" in n else f"{n}:latest") == wanted for n in names)


class OllamaProbe:
    """``GET {base_url}/api/tags``; up when it answers 200 with JSON, model available when listed.

    A plain ``http.client`` request on a fresh connection (a probe every 10 s needs no pool, and this costs a
    fifth of the CPU of a general client); every socket operation has a timeout, the whole probe a deadline, and
    the answer is capped at 1 MiB.
    """

    name = "ollama"

    def __init__(self, base_url: str, model: str, deadline: float = 2.0) -> None:
        parsed = urlsplit(base_url)
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (443 if self.https else 80)
        self.path = (parsed.path.rstrip("/") or "") + "/api/tags"
        self.model = model
        self.deadline = deadline

    def _fetch(self, started: float) -> bytes:
        connection_class = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = connection_class(self.host, self.port, timeout=self.deadline * 0.9)
        try:
            conn.request("GET", self.path, headers={"Accept": "application/json", "User-Agent": "reporter"})
            response = conn.getresponse()
            if response.status != 200:
                raise ValueError(f"HTTP {response.status} {response.reason} from /api/tags")
            body = bytearray()
            while chunk := response.read(65536):
                body += chunk
                if len(body) > MAX_TAGS_BYTES:
                    raise ValueError(f"/api/tags answer is larger than {MAX_TAGS_BYTES // 1024} KiB")
                if time.perf_counter() - started > self.deadline:
                    raise TimeoutError(f"/api/tags took longer than {self.deadline:g} s")
            return bytes(body)
        finally:
            conn.close()

    def collect(self) -> OllamaHealth:
        started = time.perf_counter()
        health = OllamaHealth(model=self.model)
        try:
            payload = json.loads(self._fetch(started))
            models = payload.get("models") if isinstance(payload, dict) else None
            if not isinstance(models, list):
                raise ValueError("response has no 'models' list")
            names = [str(m.get("name") or m.get("model")) for m in models
                     if isinstance(m, dict) and (m.get("name") or m.get("model"))]
        except Exception as exc:
            health.up, health.is_available = False, False
            health.error = mask(one_line(exc))
            health.latency_ms = elapsed_ms(started)
            return health
        health.up, health.latency_ms, health.models = True, elapsed_ms(started), names
        health.is_available = model_listed(self.model, names)
        if not health.is_available:
            health.error = f"model {self.model} is not listed by Ollama"
        return health
