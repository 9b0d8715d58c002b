"""Service probes: the app database (``SELECT 1``), Redis (``PING``) and Ollama (``GET /api/tags``), and
:class:`NotProbed` for a service this host leaves to others (REPORTER_PROBES).

Each probe is a :class:`reporter.collect.collector.Collector` filling ``Snapshot.services.<name>``: ``read()``
returns a health record within its timeout and never raises (a down service is ``up=False`` with the error text,
secrets masked). Clients are made on the first read.
"""

from __future__ import annotations

import http.client
import json
import time
from abc import abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reporter.base.errors import one_line
from reporter.base.ms import elapsed_ms
from reporter.collect.collector import Collector, Section
from reporter.collect.sources import LazyClient, lazy
from reporter.masking import mask
from reporter.snapshot import NOT_PROBED, OllamaHealth, ServiceHealth

if TYPE_CHECKING:
    import redis
    from sqlalchemy.engine import Engine

    from reporter.collect.redis_ping import RedisPing

MAX_TAGS_BYTES = 1024 * 1024  # a real /api/tags answer is a few KiB


class _ServiceProbe(Collector):
    """What the probes share: the section is the health record, a failed collection is ``up=False``."""

    @abstractmethod
    def read(self) -> ServiceHealth:
        """The service's health now, within its timeout; never raises (a down service is ``up=False``)."""

    def collect(self, now: datetime) -> Section[ServiceHealth]:
        """The health record of :meth:`read` (``now`` is not needed: a probe is about the present)."""
        return Section.of(self.read())

    def missing(self, error: str) -> ServiceHealth:
        return ServiceHealth(up=False, error=error)


class NotProbed(Collector):
    """The place of a service this host does not probe (left out of REPORTER_PROBES): ``up`` None with the
    error :data:`reporter.snapshot.NOT_PROBED` in the section, and no entry in ``Snapshot.errors`` (nothing
    failed). Connects to nothing; ``model`` is the Ollama model named in an ``ollama`` place."""

    inline = True

    def __init__(self, name: str, model: str = "") -> None:
        self.name = name
        self.model = model

    def _health(self) -> ServiceHealth:
        if self.name == "ollama":
            return OllamaHealth(model=self.model, error=NOT_PROBED)
        return ServiceHealth(error=NOT_PROBED)

    def collect(self, now: datetime) -> Section[ServiceHealth]:
        return Section(self._health())

    def missing(self, error: str) -> ServiceHealth:
        return self._health()


class DatabaseProbe(_ServiceProbe):
    """``SELECT 1`` through SQLAlchemy on the app database engine (its connect timeout bounds it); the engine is
    a ready one or a :class:`LazyClient` made on the first read."""

    name = "database"

    def __init__(self, engine: Engine | LazyClient[Engine]) -> None:
        self.engine = lazy(engine)

    def read(self) -> ServiceHealth:
        started = time.perf_counter()
        try:
            with self.engine.get().connect() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
        except Exception as exc:
            return ServiceHealth(up=False, latency_ms=elapsed_ms(started), error=one_line(exc))
        return ServiceHealth(up=True, latency_ms=elapsed_ms(started))


    def close(self) -> None:
        self.engine.close()


class RedisProbe(_ServiceProbe):
    """``PING`` on a client whose socket timeouts bound the probe: a :class:`reporter.collect.redis_ping.RedisPing`
    (the daemon's: no redis-py), a redis-py client, or a :class:`LazyClient` of one made on the first read."""

    name = "redis"

    def __init__(self, client: RedisPing | redis.Redis | LazyClient[redis.Redis]) -> None:
        self.client: LazyClient[RedisPing | redis.Redis] = lazy(client)  # type: ignore[arg-type]

    def read(self) -> ServiceHealth:
        started = time.perf_counter()
        try:
            self.client.get().ping()
        except Exception as exc:
            return ServiceHealth(up=False, latency_ms=elapsed_ms(started), error=one_line(exc))
        return ServiceHealth(up=True, latency_ms=elapsed_ms(started))

    def close(self) -> None:
        self.client.close()


def model_listed(model: str, names: list[str]) -> bool:
    """True when ``model`` is among Ollama's model names; a name without a tag means ``:latest``."""
    wanted = model if ":" in model else f"{model}:latest"
    return any((n if ":" in n else f"{n}:latest") == wanted for n in names)


class OllamaProbe(_ServiceProbe):
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

    def missing(self, error: str) -> OllamaHealth:
        return OllamaHealth(model=self.model, up=False, is_available=False, error=error)

    def read(self) -> OllamaHealth:
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
