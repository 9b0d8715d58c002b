"""The sampler: runs every collector concurrently (each within the probe timeout) and builds one Snapshot."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime

from reporter.base.ms import elapsed_ms
from reporter.collect.ai import WINDOWS, AICollector, ai_section, describe_invalid, inconsistent_counters
from reporter.collect.runner import BoundedRunner
from reporter.collect.services import DatabaseProbe, OllamaProbe, RedisProbe
from reporter.collect.sources import app_database_engine, redis_client
from reporter.collect.system import SystemCollector
from reporter.collect.usage import UsageCollector
from reporter.counters import CounterSample, CounterWindow
from reporter.failures import FailureLog
from reporter.settings import Settings
from reporter.snapshot import OllamaHealth, ServiceHealth, Services, Snapshot, SystemSection, overall_status

log = logging.getLogger(__name__)


class Sampler:
    """Takes snapshots. Build with :meth:`from_settings`; call :meth:`sample` from one thread at a time.

    Usage statistics are re-queried every ``usage_interval`` seconds; in between, snapshots carry the last
    usage section (its ``collected_at`` says when it was read).
    """

    def __init__(self, settings: Settings, *, system: SystemCollector, database: DatabaseProbe,
                 redis: RedisProbe, ollama: OllamaProbe, ai: AICollector, usage: UsageCollector,
                 closers: tuple = ()) -> None:
        self.settings = settings
        self.host = socket.gethostname()
        self.system, self.database, self.redis, self.ollama = system, database, redis, ollama
        self.ai, self.usage = ai, usage
        self.window = CounterWindow(keep_seconds=max(WINDOWS.values()) + 3 * settings.sample_interval)
        self.runner = BoundedRunner(max_workers=8)
        self._usage_next_at = 0.0
        self._usage = None
        self._usage_error: str | None = None
        self._closers = closers
        self.failures = FailureLog(log)

    @classmethod
    def from_settings(cls, settings: Settings) -> Sampler:
        """A sampler whose collectors use clients built from ``settings`` (nothing is connected yet)."""
        timeout = settings.probe_timeout
        engine = app_database_engine(settings.app_database_url, timeout)
        rclient = redis_client(settings.redis_url, timeout)
        return cls(
            settings,
            system=SystemCollector(settings.disk_path),
            database=DatabaseProbe(engine),
            redis=RedisProbe(rclient),
            ollama=OllamaProbe(settings.ollama_url, settings.ollama_model, timeout),
            ai=AICollector(rclient, settings.ai_key_prefix, settings.ai_features),
            usage=UsageCollector(engine, settings.usage_queries, settings.top_n, settings.show_emails),
            closers=(engine.dispose, rclient.close),
        )

    def seed_window(self, samples: list[CounterSample]) -> None:
        """Seed the AI counter window with samples read from history (oldest first), so windows survive restarts."""
        self.window.extend(samples)

    def shift_clock(self, seconds: float) -> None:
        """The wall clock stepped by ``seconds``: move the counter window's samples with it (see
        :class:`reporter.clock.StepDetector`), so windowed rates use the real elapsed time."""
        self.window.shift(seconds)

    def sample(self, now: datetime | None = None) -> Snapshot:
        """Run all collectors and return the Snapshot stamped ``now`` (default: the wall clock, UTC); never
        raises for a failing dependency."""
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        jobs = {
            "database": self.database.collect,
            "redis": self.redis.collect,
            "ollama": self.ollama.collect,
            "ai": self.ai.collect,
        }
        usage_due = time.monotonic() >= self._usage_next_at
        if usage_due:
            jobs["usage"] = lambda: self.usage.collect(now)
        outcomes = self.runner.run(jobs, self.settings.probe_timeout, inline={"system": self.system.collect})

        errors: dict[str, str] = {}
        for name, outcome in outcomes.items():
            if outcome.error:
                errors[name] = outcome.error
        system = outcomes["system"].value or SystemSection(disk_path=self.settings.disk_path,
                                                            error=errors.get("system"))
        if system.error:
            errors["system"] = system.error
        services = Services(
            database=outcomes["database"].value or ServiceHealth(up=False, error=errors.get("database")),
            redis=outcomes["redis"].value or ServiceHealth(up=False, error=errors.get("redis")),
            ollama=outcomes["ollama"].value or OllamaHealth(model=self.settings.ollama_model, up=False,
                                                            is_available=False, error=errors.get("ollama")),
        )
        for name in ("database", "redis", "ollama"):
            error = getattr(services, name).error
            if error:
                errors[name] = error
        ai = ai_section(outcomes["ai"].value, self.window, now.timestamp(), self.settings.ai_features,
                        self.settings.ollama_model, errors.get("ai"))
        ai.is_available = services.ollama.is_available
        if outcomes["ai"].value is not None:
            problems = [describe_invalid(self.ai.invalid)] if self.ai.invalid else []
            spans = [self.window.last(2), *(self.window.span(seconds) for seconds in WINDOWS.values())]
            pairs = inconsistent_counters(outcomes["ai"].value, spans, self.settings.ai_features)
            if pairs:
                prefix = self.ai.prefix
                problems.append("inconsistent counters, their rates are null: " + ", ".join(
                    f"{prefix}{part} > {prefix}{whole}" for part, whole in pairs))
            if problems:
                ai.error = errors["ai"] = "; ".join(problems)
        if usage_due:
            self._usage_next_at = time.monotonic() + self.settings.usage_interval
            self._usage, self._usage_error = outcomes["usage"].value, outcomes["usage"].error
        if self._usage_error:
            errors["usage"] = self._usage_error
        self._log_changes(errors)
        snapshot = Snapshot(
            timestamp=now, host=self.host, status=overall_status(services), system=system,
            services=services, ai=ai, usage=self._usage, errors=errors,
            duration_ms=elapsed_ms(started),
        )
        log.debug("sample %s: status=%s cpu=%s%% took %.0f ms%s", snapshot.timestamp.isoformat(), snapshot.status,
                  system.cpu_percent, snapshot.duration_ms, f" errors={sorted(errors)}" if errors else "")
        return snapshot

    def _log_changes(self, errors: dict[str, str]) -> None:
        """Warn when a source starts failing, remind every 5 minutes, say when it recovers (never every sample:
        keyed by source, not by the error's text, which a hung peer alternates)."""
        for name, error in errors.items():
            self.failures.failed(name, error, hint="sampling goes on; the snapshot shows this source as missing")
        for name in self.failures.failing().keys() - errors.keys():
            self.failures.ok(name)

    def close(self) -> None:
        """Release the thread pool and the clients."""
        self.runner.close()
        for close in self._closers:
            try:
                close()
            except Exception as exc:  # closing is best effort at shutdown, but say so
                log.debug("closing a client failed: %s", exc)
