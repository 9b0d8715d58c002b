"""The optional synthetic probe (REPORTER_OLLAMA_PROBE_INTERVAL; off by default): every interval, a tiny fixed
prompt through ``POST {ollama_url}/api/generate`` (streamed), timed by reporter and by Ollama's own fields.

One run (:meth:`GenerationProber.probe`) sends ``{"model", "prompt": PROMPT, "stream": true, "options":
{"num_predict": NUM_PREDICT}}`` and reads the NDJSON answer line by line, giving a
:class:`reporter.snapshot.GenerationProbe`:

- ``time_to_first_token_seconds``: monotonic time from sending the request (connection included) to the first
  chunk whose ``response`` (or ``thinking``, for a reasoning model) is not empty; None when no chunk had one;
- ``total_seconds``: from sending the request to the final chunk (``"done": true``);
- ``tokens_per_second``: ``eval_count / (eval_duration / 1e9)`` of the final chunk (``eval_duration`` is in
  nanoseconds), 2 decimals;
- ``load_seconds``: ``load_duration / 1e9`` of the final chunk (time Ollama spent loading the model; near 0
  when it was loaded already), 3 decimals.

A field missing or malformed in the final chunk is None and ONE warning (said again only after the field was
good in between). A failure (connection refused, HTTP status other than 200, an ``error`` chunk, no final chunk,
the timeout, an answer over :data:`MAX_ANSWER_BYTES`) is a probe with ``error`` (one line, secrets masked) and
the other figures None; it is logged once while it lasts (:class:`reporter.failures.FailureLog`). A run never
raises and never takes much longer than ``timeout``: every socket read waits at most the time left.

The prober runs on its own thread (:meth:`GenerationProber.start`), never inside a sample: a hung Ollama holds
up only the probe. The sampler takes the latest result with :meth:`GenerationProber.result`, which stamps a new
result's ``at`` with the time of the first sample carrying it (as ``usage.collected_at``): the history stores the
probe's figures in that sample only (see ``reporter.catalog``), once per run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from reporter.base.errors import one_line
from reporter.collect.deadline_http import DeadlineResponse, bound
from reporter.collect.services import basic_auth
from reporter.failures import FailureLog
from reporter.masking import mask
from reporter.settings import Settings
from reporter.snapshot import GenerationProbe

log = logging.getLogger(__name__)

PROMPT = "Reply with the single word: ok"
NUM_PREDICT = 8  # output tokens at most: a few tokens are enough to time, and cost little
MAX_ANSWER_BYTES = 256 * 1024  # a dozen short chunks are ~2 KiB; a bigger answer is not Ollama's
FINAL_FIELDS = {"eval_count": True, "eval_duration": True, "load_duration": False}  # name -> must be > 0
MAX_FIELD = 2**63 - 1  # Ollama writes these as Go int64: a larger number is not Ollama's (and overflows a float)
SOURCE = "ollama probe"  # the FailureLog source name, as logged
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class ProbeFailed(Exception):
    """The probe could not complete; the message says why (one line)."""

    bare = True


def _ns_field(final: dict[str, Any], name: str, positive: bool) -> int | None:
    """A nanosecond or count field of the final chunk: an integer from 0 (1 when ``positive``) to
    :data:`MAX_FIELD`, else None."""
    value = final.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not int(positive) <= value <= MAX_FIELD:
        return None
    return value


class GenerationProber:
    """Probes ``model`` at ``base_url`` every ``interval`` seconds on its own thread, each run bounded by
    ``timeout`` seconds; :meth:`result` gives the latest for the snapshot."""

    def __init__(self, base_url: str, model: str, interval: float, timeout: float) -> None:
        parsed = urlsplit(base_url)
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (443 if self.https else 80)
        self.path = (parsed.path.rstrip("/") or "") + "/api/generate"
        self.auth = basic_auth(base_url)  # a proxy's basic auth: the URL's user and password
        self.model, self.interval, self.timeout = model, interval, timeout
        self.failures = FailureLog(log)
        self._warned: set[str] = set()  # fields of the final chunk warned about, until they are good again
        self._lock = threading.Lock()
        self._fresh: GenerationProbe | None = None  # a result no sample has carried yet
        self._latest: GenerationProbe | None = None  # the result the samples carry
        self._conn: http.client.HTTPConnection | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, name="ollama-probe", daemon=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerationProber | None:
        """The prober of ``settings``; None when the probe is off (REPORTER_OLLAMA_PROBE_INTERVAL 0, the
        default) or this host does not probe Ollama (REPORTER_PROBES)."""
        if not settings.ollama_probe_interval or "ollama" not in settings.probes:
            return None
        return cls(settings.ollama_url, settings.ollama_model, settings.ollama_probe_interval,
                   settings.ollama_probe_timeout)

    # --- the thread -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread: a run at once, then one every ``interval`` seconds (monotonic) after each start."""
        log.info("ollama probe: a short generation with %s every %g s (each keeps the model loaded)", self.model,
                 self.interval)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread, cutting a run in flight short (its socket is shut down); wait at most ``timeout``."""
        self._stopping.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run(self) -> None:
        """The thread's loop (a failure inside a run is its result; nothing escapes)."""
        next_at = time.monotonic()
        while not self._stopping.wait(max(0.0, next_at - time.monotonic())):
            next_at = time.monotonic() + self.interval
            try:
                result = self.probe()
            except Exception:  # a bug, not Ollama: said with its traceback, and the next run is on time
                log.exception("ollama probe: a run failed")
                continue
            if self._stopping.is_set():
                return
            with self._lock:
                self._fresh = result

    def result(self, now: datetime) -> GenerationProbe | None:
        """The latest result for the sample stamped ``now``: a result not carried yet gets ``at = now`` (the
        first sample carrying it); later samples get the same result unchanged. None before the first run."""
        with self._lock:
            if self._fresh is not None:
                self._latest, self._fresh = self._fresh.model_copy(update={"at": now}), None
            return self._latest

    # --- one run ----------------------------------------------------------------------------------------------

    def request_body(self) -> bytes:
        """The JSON body of ``POST /api/generate``: the model, the fixed prompt, streamed, the token cap."""
        return json.dumps({"model": self.model, "prompt": PROMPT, "stream": True,
                           "options": {"num_predict": NUM_PREDICT}}).encode()

    def probe(self) -> GenerationProbe:
        """One run, at most about ``timeout`` seconds; never raises (a failure is the result's ``error``)."""
        started = time.monotonic()
        at = datetime.now(UTC)
        try:
            first, final, ended = self._generate(started)
        except Exception as exc:
            if self._stopping.is_set():  # cut short by stop(): no failure of Ollama's, nothing to log
                return GenerationProbe(at=at, error="stopped")
            error = _flat(mask(str(exc) if isinstance(exc, ProbeFailed) else one_line(exc)))
            if isinstance(exc, TimeoutError) and time.monotonic() - started >= self.timeout * 0.9:
                error = f"no answer within {self.timeout:g} s (REPORTER_OLLAMA_PROBE_TIMEOUT)"
            self.failures.failed(SOURCE, error, hint="the snapshot's services.ollama.probe.error says so")
            return GenerationProbe(at=at, total_seconds=round(time.monotonic() - started, 3), error=error)
        self.failures.ok(SOURCE)
        fields = self._final_fields(final)
        eval_count, eval_ns, load_ns = fields["eval_count"], fields["eval_duration"], fields["load_duration"]
        return GenerationProbe(
            at=at,
            time_to_first_token_seconds=None if first is None else round(first - started, 3),
            tokens_per_second=(None if eval_count is None or eval_ns is None
                               else round(eval_count / (eval_ns / 1e9), 2)),
            load_seconds=None if load_ns is None else round(load_ns / 1e9, 3),
            total_seconds=round(ended - started, 3),
        )

    def _final_fields(self, final: dict[str, Any]) -> dict[str, int | None]:
        """``eval_count``, ``eval_duration`` (> 0) and ``load_duration`` (>= 0) of the final chunk, None when
        missing or malformed: one warning naming them all when a field turns bad, none while they stay so."""
        fields = {name: _ns_field(final, name, positive) for name, positive in FINAL_FIELDS.items()}
        bad = {name for name, value in fields.items() if value is None}
        if bad - self._warned:
            shown = ", ".join(f"{name} {mask(repr(final[name]))[:40] if name in final else 'missing'}"
                              for name in FINAL_FIELDS if name in bad)
            log.warning("ollama probe: the final chunk of /api/generate has unusable fields (%s; expected "
                        "integers, durations in ns); the figures they give are null until they are good again",
                        shown)
        self._warned = bad
        return fields

    def _generate(self, started: float) -> tuple[float | None, dict[str, Any], float]:
        """Send the request and read the stream: (monotonic time of the first token or None, the final chunk,
        monotonic time of the final chunk). Raises ProbeFailed, OSError or TimeoutError."""
        connection_class = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = connection_class(self.host, self.port, timeout=self.timeout)
        self._conn = conn
        try:
            conn.request("POST", self.path, body=self.request_body(),
                         headers={"Content-Type": "application/json", "Accept": "application/x-ndjson",
                                  "User-Agent": "reporter", **self.auth})
            self._budget(conn, started)
            bound(conn, started + self.timeout)  # a byte-by-byte answer too: every read within the timeout
            response = conn.getresponse()
            if response.status != 200:
                raise ProbeFailed(f"HTTP {response.status} {response.reason} from /api/generate"
                                  f"{_error_text(response.read(4096))}")
            first: float | None = None
            read = 0
            while True:
                self._budget(conn, started)
                line = response.readline(MAX_ANSWER_BYTES - read + 1)
                read += len(line)
                if read > MAX_ANSWER_BYTES:
                    raise ProbeFailed(f"/api/generate answer is larger than {MAX_ANSWER_BYTES // 1024} KiB")
                if not line:
                    raise ProbeFailed("/api/generate answer ended before its final chunk (\"done\": true)")
                if not line.strip():
                    continue
                try:
                    chunk = json.loads(line)
                except ValueError:
                    raise ProbeFailed("/api/generate sent a line that is not JSON") from None
                if not isinstance(chunk, dict):
                    raise ProbeFailed("/api/generate sent a line that is not a JSON object")
                if chunk.get("error"):
                    raise ProbeFailed(f"Ollama: {str(chunk['error'])[:200]}")
                if first is None and (chunk.get("response") or chunk.get("thinking")):
                    first = time.monotonic()
                if chunk.get("done") is True:
                    ended = time.monotonic()
                    with contextlib.suppress(OSError, http.client.HTTPException):  # the end of the stream, so
                        if isinstance(response, DeadlineResponse):  # the connection closes cleanly (best
                            response.until(ended + 1.0)  # effort, 1 s at most)
                        response.read(MAX_ANSWER_BYTES - read)
                    return first, chunk, ended
        finally:
            self._conn = None
            conn.close()

    def _budget(self, conn: http.client.HTTPConnection, started: float) -> None:
        """The next socket read waits at most the time left of ``timeout``; TimeoutError when none is left."""
        left = self.timeout - (time.monotonic() - started)
        if left <= 0 or self._stopping.is_set():
            raise TimeoutError("timed out")
        if conn.sock is not None:
            conn.sock.settimeout(left)


def _flat(text: str) -> str:
    """``text`` on one line: each run of control characters (a newline from Ollama's error text would forge a
    log line, an escape sequence colour a terminal) becomes one space."""
    return _CONTROL.sub(" ", text).strip()


def _error_text(body: bytes) -> str:
    """``: <Ollama's error>`` from an error answer's JSON ``{"error": ...}``, else empty."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    return f": {str(error)[:200]}" if error else ""
