"""Run collectors concurrently, each bounded by a timeout.

A job is any callable returning a value (the sampler gives each collector's ``collect``);
:meth:`BoundedRunner.run` gives each one ``timeout`` seconds on a shared thread pool. One that overruns is
reported as timed out and, while its thread is still stuck, is not started again (so a hung dependency never
piles up threads).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from reporter.base.errors import one_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one collector produced: ``value`` on success, else ``error`` (one line)."""

    value: Any = None
    error: str | None = None


class BoundedRunner:
    """Runs named callables concurrently on a small pool; each result within ``timeout`` seconds."""

    ABANDON_AFTER_TIMEOUTS = 5  # a job stuck this many timeouts is left behind and a new one started...
    MAX_ABANDONED = 2  # ...at most this many times per name while they stay stuck

    def __init__(self, max_workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="collect")
        self._running: dict[str, tuple[Future, float]] = {}
        self._abandoned: dict[str, list[Future]] = {}
        self._left_behind: set[str] = set()  # names warned about a job left behind, until one returns a value
        self._lock = threading.Lock()

    def run(self, jobs: dict[str, Callable[[], Any]], timeout: float,
            inline: dict[str, Callable[[], Any]] | None = None) -> dict[str, Outcome]:
        """Start every job, wait at most ``timeout`` seconds overall, return an Outcome per name. ``inline``
        jobs (local and quick, such as psutil reads) run on the calling thread while the others wait on I/O."""
        futures: dict[str, Future] = {}
        outcomes: dict[str, Outcome] = {}
        now = time.monotonic()
        with self._lock:
            for name, job in jobs.items():
                previous = self._running.get(name)
                if previous is not None and not previous[0].done():
                    stuck = [f for f in self._abandoned.get(name, []) if not f.done()]
                    if now - previous[1] < timeout * self.ABANDON_AFTER_TIMEOUTS or len(stuck) >= self.MAX_ABANDONED:
                        outcomes[name] = Outcome(error=f"still running from an earlier sample (> {timeout:g} s)")
                        continue
                    # said once per outage of this collector (until it returns a value again), not every time
                    log.log(logging.DEBUG if name in self._left_behind else logging.WARNING,
                            "collector %s: blocked for %.0f s; leaving it and starting a new one", name,
                            now - previous[1])
                    self._left_behind.add(name)
                    self._abandoned[name] = [*stuck, previous[0]]
                futures[name] = self._pool.submit(job)
                self._running[name] = (futures[name], now)
        deadline = time.monotonic() + timeout
        for name, job in (inline or {}).items():
            try:
                outcomes[name] = Outcome(value=job())
            except Exception as exc:
                log.debug("collector %s failed", name, exc_info=True)
                outcomes[name] = Outcome(error=one_line(exc))
        for name, future in futures.items():
            try:
                outcomes[name] = Outcome(value=future.result(timeout=max(0.0, deadline - time.monotonic())))
                self._left_behind.discard(name)
            except FutureTimeout:
                outcomes[name] = Outcome(error=f"timed out after {timeout:g} s")
            except Exception as exc:  # a failure must not stop sampling; it is recorded, not hidden
                log.debug("collector %s failed", name, exc_info=True)
                outcomes[name] = Outcome(error=one_line(exc))
        return outcomes

    def close(self) -> None:
        """Stop accepting work; threads stuck in I/O end when their own socket timeouts fire."""
        self._pool.shutdown(wait=False, cancel_futures=True)
