"""The sampler: runs the collectors it is given concurrently (each within the probe timeout) and builds one
Snapshot from their sections (see :mod:`reporter.collect.collector`)."""

from __future__ import annotations

import logging
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
from reporter.snapshot import (
    SAMPLED_BY_LEADER,
    AISection,
    GenerationProbe,
    Services,
    Snapshot,
    collector_places,
    overall_status,
    probed,
)

log = logging.getLogger(__name__)

# the setting telling where a source is, named in its failure's log line (a refused connection names no address)
SOURCE_SETTINGS = {"database": "REPORTER_APP_DATABASE_URL", "usage": "REPORTER_APP_DATABASE_URL",
                   "redis": "REPORTER_REDIS_URL", "ai": "REPORTER_REDIS_URL", "ollama": "REPORTER_OLLAMA_URL"}


class Sampler:
    """Takes snapshots from ``collectors`` (exactly those; :meth:`from_settings` uses the default list); call
    :meth:`sample` from one thread at a time.

    Each collector's name is its place in the snapshot (:func:`reporter.snapshot.collector_places`): names must
    be unique, known, and cover every required place, whose collectors' ``missing()`` give a value; else
    ``ValueError``. A collector with an ``interval`` (usage statistics, every ``REPORTER_USAGE_INTERVAL`` seconds)
    runs when due; in between, snapshots carry its last section and error.

    ``app_wide`` (called once per sample; default: always true) says whether this node samples the figures of
    the whole application (in a fleet: while it leads). While it is false the collectors marked ``app_wide``
    (``ai``, ``usage``) do not run: ``ai`` is all null with the error :data:`reporter.snapshot.SAMPLED_BY_LEADER`,
    ``usage`` is None, neither is in ``errors``, and the AI counter window is not fed; when it turns true they
    run at once. The snapshot's ``host`` is ``settings.host_name`` (REPORTER_HOST_NAME).

    ``generation`` (the synthetic probe, run on its own thread: :mod:`reporter.collect.generation_probe`): called
    with the sample's time, its latest result becomes ``services.ollama.probe`` when Ollama is probed here.
    """

    def __init__(self, settings: Settings, collectors: Sequence[Collector],
                 app_wide: Callable[[], bool] | None = None,
                 generation: Callable[[datetime], GenerationProbe | None] | None = None) -> None:
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
        self.host = settings.host_name
        self.app_wide = app_wide or (lambda: True)
        self._sampled_app_wide: bool | None = None  # app_wide() at the previous sample
        self.collectors = list(collectors)
        self.runner = BoundedRunner(max_workers=8)
        self.next_run = {c.name: 0.0 for c in self.collectors}  # monotonic time each collector is due next
        self._last: dict[str, Section[Any]] = {}
        self.failures = FailureLog(log)
        self.generation = generation  # the synthetic probe's latest result (GenerationProber.result), when on

    @classmethod
    def from_settings(cls, settings: Settings, app_wide: Callable[[], bool] | None = None,
                      generation: Callable[[datetime], GenerationProbe | None] | None = None) -> Sampler:
        """A sampler running :func:`reporter.collect.defaults.default_collectors` (nothing is connected yet);
        ``generation``: see the class."""
        from reporter.collect.defaults import default_collectors

        return cls(settings, default_collectors(settings), app_wide, generation)

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
        app_wide = self._app_wide_now()
        running = [c for c in self.collectors if app_wide or not c.app_wide]
        due = [c for c in running if time.monotonic() >= self.next_run[c.name]]
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
            if not app_wide and collector.app_wide:  # the leader samples it: nothing failed here
                values[collector.name] = collector.missing(SAMPLED_BY_LEADER)
                continue
            section = self._last[collector.name]
            if section.error:
                errors[collector.name] = section.error
            values[collector.name] = (section.value if section.value is not None
                                      else collector.missing(section.error or "no value"))
        services = Services(**{name: values.pop(name) for name in Services.model_fields})
        if self.generation is not None and probed(services.ollama):
            services.ollama = services.ollama.model_copy(update={"probe": self.generation(now)})
        if app_wide and isinstance(values.get("ai"), AISection):  # the model's availability is Ollama's answer
            values["ai"].is_available = services.ollama.is_available
            values["ai"].models = list(services.ollama.loaded)  # and so are the loaded models (GET /api/ps)
        self._log_changes(errors, skipped={c.name for c in self.collectors if c not in running},
                          ran={c.name for c in due})
        snapshot = Snapshot(
            timestamp=now, host=self.host, status=overall_status(services), services=services, errors=errors,
            duration_ms=elapsed_ms(started), **values,
        )
        log.debug("sample %s: status=%s cpu=%s%% took %.0f ms%s", snapshot.timestamp.isoformat(), snapshot.status,
                  snapshot.system.cpu_percent, snapshot.duration_ms, f" errors={sorted(errors)}" if errors else "")
        return snapshot

    def _app_wide_now(self) -> bool:
        """``app_wide()`` for this sample; when it turns false the app-wide collectors' last sections are
        dropped and they are made due, so they run at once when it turns true again."""
        try:
            app_wide = bool(self.app_wide())
        except Exception as exc:  # the leadership state cannot be read: leave the app-wide figures to others
            log.warning("sampler: app_wide() failed (%s); app-wide collectors skipped this sample", exc)
            app_wide = False
        previous, self._sampled_app_wide = self._sampled_app_wide, app_wide
        if app_wide != previous and (previous is not None or not app_wide):
            names = ", ".join(c.name for c in self.collectors if c.app_wide) or "none configured"
            if app_wide:
                log.info("sampler: this node samples the app-wide figures (%s) from now on", names)
            else:
                log.info("sampler: the app-wide figures (%s) are left to the leader from now on", names)
            for collector in self.collectors:
                if collector.app_wide:
                    self._last.pop(collector.name, None)
                    self.next_run[collector.name] = 0.0
        return app_wide

    def _log_changes(self, errors: dict[str, str], skipped: set[str], ran: set[str]) -> None:
        """Warn when a source starts failing, remind every 5 minutes, say when it recovers (never every sample:
        keyed by source, not by the error's text, which a hung peer alternates); a ``skipped`` source (not run
        this sample) has not recovered. Only a source that ran this sample (``ran``) counts a failed attempt: one
        read every ``REPORTER_USAGE_INTERVAL`` is not 60 failures a minute."""
        for name, error in errors.items():
            if name in ran:
                where = SOURCE_SETTINGS.get(name)
                check = f"; check {where}" if where and where not in error else ""
                self.failures.failed(name, error,
                                     hint=f"sampling goes on; the snapshot shows this source as missing{check}")
        for name in self.failures.failing().keys() - errors.keys() - skipped:
            self.failures.ok(name)

    def close(self) -> None:
        """Release the thread pool and the clients the collectors made."""
        self.runner.close()
        for collector in self.collectors:
            try:
                collector.close()
            except Exception as exc:  # closing is best effort at shutdown, but say so
                log.debug("closing collector %s failed: %s", collector.name, exc)
