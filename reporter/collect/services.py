"""Service probes: the app database (``SELECT 1``), Redis (``PING``) and Ollama (``GET /api/tags``, ``/api/ps``,
``/api/version``), and :class:`NotProbed` for a service this host leaves to others (REPORTER_PROBES).

Each probe is a :class:`reporter.collect.collector.Collector` filling ``Snapshot.services.<name>``: ``read()``
returns a health record within its timeout and never raises (a down service is ``up=False`` with the error text,
secrets masked). Clients are made on the first read.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
from abc import abstractmethod
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from reporter.base.errors import one_line
from reporter.base.ms import elapsed_ms
from reporter.collect.collector import Collector, Section
from reporter.collect.deadline_http import bound
from reporter.collect.ollama_ps import Problem, ProblemLog, find, model_key, parse_ps, parse_version
from reporter.collect.sources import LazyClient, lazy
from reporter.masking import mask
from reporter.snapshot import NOT_PROBED, OllamaHealth, ServiceHealth

if TYPE_CHECKING:
    import redis
    from sqlalchemy.engine import Engine

    from reporter.collect.redis_ping import RedisPing

MAX_TAGS_BYTES = 1024 * 1024  # a real /api/tags or /api/ps answer is a few KiB
MAX_VERSION_BYTES = 64 * 1024  # {"version":"0.5.7"}
VERSION_SECONDS = 300.0  # /api/version is read again after this long (and when Ollama comes back)
TAGS_SECONDS = 30.0  # /api/tags is read again after this long (and at once when anything says it may have changed)

log = logging.getLogger(__name__)


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
    """``SELECT 1`` on a connection of the engine given (its connect and statement timeouts bound it); the engine
    is a ready one or a :class:`LazyClient` made on the first read. The daemon gives it an unpooled engine
    (``app_database_engine(..., pooled=False)``): each probe connects anew, so a server that takes no new
    session (postmaster hung, too many clients) is down, even while pooled sessions still answer.

    The statement runs on the driver's own cursor (``Engine.raw_connection``), without SQLAlchemy's execution
    machinery: half the CPU of ``Connection.exec_driver_sql`` for the same round trip. A driver error is reported
    as SQLAlchemy reports it (``OperationalError: (psycopg.OperationalError) ...``), and a connection whose
    ``SELECT 1`` failed is discarded, not given back to the pool."""

    name = "database"

    def __init__(self, engine: Engine | LazyClient[Engine]) -> None:
        self.engine = lazy(engine)

    def read(self) -> ServiceHealth:
        started = time.perf_counter()
        try:
            select_one(self.engine.get())
        except Exception as exc:
            return ServiceHealth(up=False, latency_ms=elapsed_ms(started), error=one_line(exc))
        return ServiceHealth(up=True, latency_ms=elapsed_ms(started))


    def close(self) -> None:
        self.engine.close()


def select_one(engine: Engine) -> None:
    """Run ``SELECT 1`` on a pooled connection of ``engine`` through the driver's cursor; raises the driver's
    errors wrapped as SQLAlchemy wraps them (``sqlalchemy.exc.DBAPIError`` subclasses), others as they are."""
    from sqlalchemy.exc import DBAPIError

    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        conn = engine.raw_connection()
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=engine.dialect) from exc
    try:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        finally:
            cursor.close()
    except BaseException as exc:
        conn.invalidate()  # not back to the pool: the next read connects again
        if isinstance(exc, dbapi_error):
            raise DBAPIError.instance("SELECT 1", None, exc, dbapi_error, dialect=engine.dialect) from exc
        raise
    conn.close()  # back to the pool


class RedisProbe(_ServiceProbe):
    """``PING`` on a client whose socket timeouts bound the probe: a :class:`reporter.collect.redis_ping.RedisPing`
    (the daemon's: no redis-py), a redis-py client, or a :class:`LazyClient` of one made on the first read."""

    name = "redis"

    def __init__(self, client: RedisPing | redis.Redis | LazyClient[redis.Redis] | LazyClient[RedisPing]) -> None:
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


def basic_auth(url: str) -> dict[str, str]:
    """The ``Authorization`` header of ``url``'s user and password (``http://user:password@host``, percent-decoded,
    as a proxy in front of Ollama expects them), or no header when the URL has no user."""
    parsed = urlsplit(url)
    if parsed.username is None:
        return {}
    credentials = f"{unquote(parsed.username)}:{unquote(parsed.password or '')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}


def model_listed(model: str, names: list[str]) -> bool:
    """True when ``model`` is among Ollama's model names; a name without a tag means ``:latest``
    (:func:`reporter.collect.ollama_ps.model_key`)."""
    wanted = model_key(model)
    return any(model_key(n) == wanted for n in names)


class OllamaProbe(_ServiceProbe):
    """``GET {base_url}/api/tags``, ``/api/ps`` and (now and then) ``/api/version``, all within ``deadline``.

    Up when ``/api/tags`` answers 200 with JSON, the model available when listed. A user and password in
    ``base_url`` are sent as basic auth (:func:`basic_auth`). The installed models change rarely, so ``/api/tags``
    is read every ``tags_seconds`` (:data:`TAGS_SECONDS`); in between a read starts with ``/api/ps`` (with half of
    the time) and its answer proves Ollama up, the listed models being those of the last ``/api/tags``.
    ``/api/tags`` is read at once, as before every sample, when ``/api/ps`` fails (then it alone says up or down),
    when the loaded models differ from the previous ``/api/ps`` answer, while the configured model is not listed,
    after Ollama was down, and when ``/api/ps`` is missing (404). ``/api/ps`` gives the loaded
    models (:attr:`OllamaHealth.loaded`, which the sampler puts in ``ai.models``) and the configured model's
    ``model_*`` fields; ``model_loads`` counts the answers where the configured model is loaded after one where
    it was not (the first answer does not count, a failed read is no unload; None before the first answer).
    ``/api/version`` is read on the first read, then every ``version_seconds`` (:data:`VERSION_SECONDS`) and when
    Ollama comes back.
    A failed or malformed ``/api/ps`` or ``/api/version`` answer leaves its figures None and logs one warning
    (:class:`reporter.collect.ollama_ps.ProblemLog`); up and available still come from ``/api/tags``. A 404 on
    ``/api/ps`` (an Ollama older than 0.1.38) is asked again only when the version is.

    Plain ``http.client`` requests on one connection, kept open between the requests of a read and from one read
    to the next (a probe every 10 s needs no pool; this costs a fifth of the CPU of a general client, and not
    connecting again every sample saves another third); a kept connection the server has closed meanwhile is
    replaced by a new one for the same request. Every socket operation has a timeout, the whole read ends within
    0.9 x ``deadline`` (a request with no time left is not made; an answer sent a byte at a time is cut at it,
    :mod:`reporter.collect.deadline_http`), and each answer is capped at 1 MiB. A read that fails drops the
    connection; :meth:`close` closes the kept one.
    """

    name = "ollama"

    def __init__(self, base_url: str, model: str, deadline: float = 2.0,
                 version_seconds: float = VERSION_SECONDS, tags_seconds: float = TAGS_SECONDS) -> None:
        parsed = urlsplit(base_url)
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (443 if self.https else 80)
        self.base = parsed.path.rstrip("/") or ""
        self.path = self.base + "/api/tags"
        self.headers = {"Accept": "application/json", "User-Agent": "reporter", **basic_auth(base_url)}
        self.model = model
        self.deadline = deadline
        self.version_seconds = version_seconds
        self.tags_seconds = tags_seconds
        self._names: list[str] | None = None  # the models of the last /api/tags answer (None: read it next)
        self._tags_due = 0.0  # monotonic time /api/tags is read again
        self._loaded_names: tuple[str, ...] | None = None  # the loaded models of the last /api/ps answer
        self.version: str | None = None
        self._version_due = 0.0  # monotonic time the version is read again
        self._ps_gone = False  # /api/ps answered 404: asked again with the version
        self._was_loaded: bool | None = None  # the configured model in the last /api/ps answer read
        self.loads: int | None = None
        self._kept: http.client.HTTPConnection | None = None  # open between reads; taken by the read using it
        self._kept_lock = threading.Lock()
        self.problems = ProblemLog(log, "the figures concerned are missing (null) until Ollama answers correctly")

    def _fetch(self, started: float, conn: http.client.HTTPConnection, path: str = "/api/tags",
               limit: int = MAX_TAGS_BYTES, share: float = 1.0) -> bytes:
        """The body of ``GET path`` on ``conn`` (reconnected if the server closed it) within ``share`` of what is
        left of 0.9 x ``deadline`` since ``started``; ``ValueError`` for a status other than 200
        (:class:`HTTPStatusError`) or an answer over ``limit`` bytes, ``TimeoutError`` past that time or when
        under 10 ms are left, ``OSError`` for the connection."""
        left = (started + self.deadline * 0.9 - time.perf_counter()) * share
        if left < 0.01:
            raise TimeoutError(f"no time left for {path} within {self.deadline:g} s")
        ends = time.perf_counter() + left
        conn.timeout = left
        if conn.sock is not None:
            conn.sock.settimeout(left)
        bound(conn, time.monotonic() + left)  # a byte-by-byte answer too (each read waits at most what is left)
        try:
            conn.request("GET", self.base + path, headers=self.headers)
            response = conn.getresponse()
            body = bytearray()
            while chunk := response.read1(65536):
                body += chunk
                if len(body) > limit:
                    raise ValueError(f"{path} answer is larger than {limit // 1024} KiB")
                if time.perf_counter() > ends:
                    raise TimeoutError(f"{path} took longer than {left:.2g} s")
            response.read()  # at the end: marks the answer complete, so the connection takes the next request
            if response.status != 200:
                raise HTTPStatusError(response.status, f"HTTP {response.status} {response.reason} from {path}")
            return bytes(body)
        except BaseException:
            conn.close()  # a request cut short leaves the connection unusable
            raise

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        connection_class = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return connection_class(self.host, self.port, timeout=timeout)

    def missing(self, error: str) -> OllamaHealth:
        return OllamaHealth(model=self.model, up=False, is_available=False, error=error)

    def _take_connection(self) -> http.client.HTTPConnection:
        """The kept connection (taken: a read abandoned by the sampler and still running never shares it) or a
        new one."""
        with self._kept_lock:
            conn, self._kept = self._kept, None
        return conn or self._connection(self.deadline * 0.9)

    def _keep_connection(self, conn: http.client.HTTPConnection) -> None:
        with self._kept_lock:
            kept = self._kept is None and conn.sock is not None
            if kept:
                self._kept = conn
        if not kept:
            conn.close()

    def _fetch_first(self, started: float, conn: http.client.HTTPConnection, path: str = "/api/tags",
                     share: float = 1.0) -> bytes:
        """The first request of a read (:meth:`_fetch`); on a connection kept from an earlier read that the server
        has closed meanwhile (idle timeout, restart), asked again once on a new connection."""
        if conn.sock is None:
            return self._fetch(started, conn, path, share=share)
        try:
            return self._fetch(started, conn, path, share=share)
        except (ConnectionError, http.client.BadStatusLine):  # the kept connection was stale
            return self._fetch(started, conn, path, share=share)  # _fetch closed it: http.client connects again

    def close(self) -> None:
        """Close the connection kept between reads."""
        with self._kept_lock:
            conn, self._kept = self._kept, None
        if conn is not None:
            conn.close()

    def read(self) -> OllamaHealth:
        started = time.perf_counter()
        health = OllamaHealth(model=self.model)
        conn = self._take_connection()
        try:
            ps_first = self._names is not None and time.monotonic() < self._tags_due and not self._ps_gone
            changed = ps_first and self._read_ps(health, started, conn, first=True)
            if ps_first and changed is False:  # /api/ps answered as before: up, the listed models unchanged
                names = self._names or []
            else:
                try:
                    payload = json.loads(self._fetch_first(started, conn))
                    models = payload.get("models") if isinstance(payload, dict) else None
                    if not isinstance(models, list):
                        raise ValueError("response has no 'models' list")
                    names = [str(m.get("name") or m.get("model")) for m in models
                             if isinstance(m, dict) and (m.get("name") or m.get("model"))]
                except Exception as exc:
                    health.up, health.is_available = False, False
                    health.error = mask(one_line(exc))
                    health.latency_ms = elapsed_ms(started)
                    self.version, self._version_due = None, 0.0  # read again when Ollama is back
                    self._names = None
                    health.model_loads = self.loads
                    return health
            health.up, health.latency_ms, health.models = True, elapsed_ms(started), names
            health.is_available = model_listed(self.model, names)
            if not (ps_first and changed is False):
                self._names = names if health.is_available else None  # not listed: asked again next read
                self._tags_due = time.monotonic() + self.tags_seconds
            if not health.is_available:
                health.error = f"model {self.model} is not listed by Ollama"
            version_due = time.monotonic() >= self._version_due
            if version_due:  # before /api/ps: a hung /api/ps cannot keep the version from being read
                self._read_version(started, conn)
            if not ps_first and (version_due or not self._ps_gone):
                self._read_ps(health, started, conn)
            health.version, health.model_loads = self.version, self.loads
            self._keep_connection(conn)
            return health
        finally:
            if conn is not self._kept:
                conn.close()

    def _read_ps(self, health: OllamaHealth, started: float, conn: http.client.HTTPConnection,
                 first: bool = False) -> bool | None:
        """Fill the ``model_*`` fields and :attr:`OllamaHealth.loaded` from ``/api/ps``; count a load. None when
        it could not be read, else whether the loaded models differ from the previous answer's. ``first``: the
        read's first request (half of the time: ``/api/tags`` may have to follow)."""
        try:
            body = (self._fetch_first(started, conn, "/api/ps", share=0.5) if first
                    else self._fetch(started, conn, "/api/ps"))
            loaded, problems = parse_ps(json.loads(body), datetime.now(UTC))
        except Exception as exc:
            self._ps_gone = isinstance(exc, HTTPStatusError) and exc.status == 404
            hint = " (an Ollama older than 0.1.38 has no /api/ps)" if self._ps_gone else ""
            self.problems.report("ps", [Problem("read", f"Ollama /api/ps: {mask(one_line(exc))}{hint}")])
            return None
        self._ps_gone = False
        names = tuple(m.name for m in loaded)
        changed, self._loaded_names = names != self._loaded_names, names
        self.problems.report_ps(loaded, problems)
        entry = find(self.model, loaded)
        if entry is not None and self._was_loaded is False:
            self.loads = (self.loads or 0) + 1
        self._was_loaded, self.loads = entry is not None, self.loads or 0
        health.loaded, health.model_loaded = loaded, entry is not None
        if entry is not None:
            health.model_size_bytes, health.model_vram_bytes = entry.size_bytes, entry.vram_bytes
            health.model_cpu_offload_ratio = entry.cpu_offload_ratio
        return changed

    def _read_version(self, started: float, conn: http.client.HTTPConnection) -> None:
        """Read ``/api/version`` into :attr:`version` (None when malformed or not 200); due again
        ``version_seconds`` after an answer, at the next read after a failed request (timeout, connection)."""
        try:
            body = self._fetch(started, conn, "/api/version", MAX_VERSION_BYTES, share=0.5)  # half: /api/ps next
        except Exception as exc:
            if isinstance(exc, HTTPStatusError):  # an answer all the same: not asked again at once
                self.version, self._version_due = None, time.monotonic() + self.version_seconds
            self.problems.report("version", [Problem("read", f"Ollama /api/version: {mask(one_line(exc))}")])
            return
        self._version_due = time.monotonic() + self.version_seconds
        try:
            self.version = parse_version(json.loads(body))
        except Exception as exc:
            self.version = None
            self.problems.report("version", [Problem("answer", f"Ollama /api/version: {one_line(exc)}")])
            return
        self.problems.report("version", [])


class HTTPStatusError(ValueError):
    """An HTTP answer whose status is not 200 (``status``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
