"""The sampler: runs the collectors it is given concurrently (each within the probe timeout) and builds one
Snapshot from their sections (see :mod:`reporter.collect.collector`)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from reporter.base.ms import elapsed_ms
from reporter.collect.ai import AICollector
from reporter.collect.collector import Collector, Section
from reporter.collect.runner import BoundedRunner
from reporter.counters import CounterSample
from reporter.failures import FailureLog
from reporter.settings import Settings
from reporter.snapshot import AISection, Services, Snapshot, collector_places, overall_status

log = logging.getLogger(__name__)

APP_WIDE = ("ai", "usage")  # collectors of the whole fleet's figures: sampled by its leader only
BY_THE_LEADER = "sampled by the leader"


class Sampler:
    """Takes snapshots from ``collectors`` (exactly those; :meth:`from_settings` uses the default list); call
    :meth:`sample` from one thread at a time.

    Each collector's name is its place in the snapshot (:func:`reporter.snapshot.collector_places`): names must
    be unique, known, and cover every required place, whose collectors' ``missing()`` give a value; else
    ``ValueError``. A collector with an ``interval`` (usage statistics, every ``REPORTER_USAGE_INTERVAL`` seconds)
    runs when due; in between, snapshots carry its last section and error.

    ``app_wide()`` says whether this node samples the fleet-wide collectors (:data:`APP_WIDE`: the AI counters
    and the usage statistics; only the leader of a fleet does): while it is false they do not run and their
    place is their ``missing("sampled by the leader")`` value (not an error). None: always.
    """

    def __init__(self, settings: Settings, collectors: Sequence[Collector],
                 app_wide: Callable[[], bool] | None = None) -> None:
        names = [c.name for c in collectors]
        known = collector_places()
        problems = [f"two collectors named {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
        problems += [f"collector {n!r} has no place in the snapshot (one of {', '.join(known)})"
                     for n in names if n not in known]
        problems += [f"no collector for the snapshot's {n!r}" for n, required in known.items()
                     if required and n not in names]
        problems += [f"collector {c.name!r} fills a required place: its missing() must give a value, not None"
                     for c in collectors if known.get(c.name) and c.missing("check") is None]
        if problems:
            raise ValueError("; ".join(problems))
        self.settings = settings
        self.host = socket.gethostname()
        self.collectors = list(collectors)
        self.runner = BoundedRunner(max_workers=8)
        self.next_run = {c.name: 0.0 for c in self.collectors}  # monotonic time each collector is due next
        self._last: dict[str, Section[Any]] = {}
        self.failures = FailureLog(log)
        self.app_wide = app_wide

    @classmethod
    def from_settings(cls, settings: Settings, app_wide: Callable[[], bool] | None = None) -> Sampler:
        """A sampler running :func:`reporter.collect.defaults.default_collectors` (nothing is connected yet)."""
        from reporter.collect.defaults import default_collectors

        return cls(settings, default_collectors(settings), app_wide)

    def collector(self, name: str) -> Collector:
        """The collector named ``name`` (``KeyError`` if none)."""
        for collector in self.collectors:
            if collector.name == name:
                return collector
        raise KeyError(name)

    def seed_window(self, samples: list[CounterSample]) -> None:
        """Seed the AI counter window with samples read from history (oldest first), so windows survive restarts."""
        for collector in self.collectors:
            if isinstance(collector, AICollector):
                collector.seed(samples)

    def shift_clock(self, seconds: float) -> None:
        """The wall clock stepped by ``seconds``: every collector moves the wall times it holds (the AI counter
        window; see :class:`reporter.clock.StepDetector`), so windowed rates use the real elapsed time."""
        for collector in self.collectors:
            collector.shift_clock(seconds)

    def sample(self, now: datetime | None = None) -> Snapshot:
        """Run the due collectors and return the Snapshot stamped ``now`` (default: the wall clock, UTC); never
        raises for a failing dependency (nor for a collector that raises: that is its error)."""
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        skipped = set(APP_WIDE) if self.app_wide is not None and not self.app_wide() else set()
        due = [c for c in self.collectors if time.monotonic() >= self.next_run[c.name] and c.name not in skipped]
        outcomes = self.runner.run({c.name: partial(c.collect, now) for c in due if not c.inline},
                                   self.settings.probe_timeout,
                                   inline={c.name: partial(c.collect, now) for c in due if c.inline})
        for collector in due:
            outcome = outcomes[collector.name]
            section = outcome.value
            if outcome.error is not None:
                section = Section(None, outcome.error)
            elif not isinstance(section, Section):
                section = Section(None, f"collector returned {type(section).__name__}, not a Section")
            self._last[collector.name] = section
            if collector.interval:
                self.next_run[collector.name] = time.monotonic() + collector.interval

        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for collector in self.collectors:
            if collector.name in skipped:
                values[collector.name] = collector.missing(BY_THE_LEADER)
                self.next_run[collector.name] = 0.0  # due at once when this node leads again
                self._last.pop(collector.name, None)
                continue
            section = self._last[collector.name]
            if section.error:
                errors[collector.name] = section.error
            values[collector.name] = (section.value if section.value is not None
                                      else collector.missing(section.error or "no value"))
        services = Services(**{name: values.pop(name) for name in Services.model_fields})
        if isinstance(values.get("ai"), AISection):  # the model's availability is Ollama's answer
            values["ai"].is_available = services.ollama.is_available
        self._log_changes(errors)
        snapshot = Snapshot(
            timestamp=now, host=self.host, status=overall_status(services), services=services, errors=errors,
            duration_ms=elapsed_ms(started), **values,
        )
        log.debug("sample %s: status=%s cpu=%s%% took %.0f ms%s", snapshot.timestamp.isoformat(), snapshot.status,
                  snapshot.system.cpu_percent, snapshot.duration_ms, f" errors={sorted(errors)}" if errors else "")
        return snapshot

    def _log_changes(self, errors: dict[str, str]) -> None:
        """Warn when a source starts failing, remind every 5 minutes, say when it recovers (never every sample:
        keyed by source, not by the error's text, which a hung peer alternates)."""
        for name, error in errors.items():
            self.failures.failed(name, error, hint="sampling goes on; the snapshot shows this source as missing")
        for name in self.failures.failing().keys() - errors.keys():
            self.failures.ok(name)

    def close(self) -> None:
        """Release the thread pool and the clients the collectors made."""
        self.runner.close()
        for collector in self.collectors:
            try:
                collector.close()
            except Exception as exc:  # closing is best effort at shutdown, but say so
                log.debug("closing collector %s failed: %s", collector.name, exc)
