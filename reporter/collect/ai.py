"""AI usage from the application's Redis counters (the keys are listed in README.md, "AI usage counters").

Keys (prefix configurable, default ``ai:``): ``total_requests``, ``total_time`` (seconds), ``cache_hits`` and per
feature ``{feature}:requests``, ``{feature}:success``, ``{feature}:time``. An absent key is 0 (never written
yet); a value that is not a number, negative, too large to count exactly (2^53 and more) or, in a count of
requests, not a whole number is missing (None) and logged as a warning saying which. The optional token
counters (``{feature}:prompt_tokens``, ``completion_tokens``, ``generation_ns``, ``cold_loads``; absent = None)
are read in the same ``MGET`` and described in :mod:`reporter.collect.ai_tokens`.

A part larger than its whole (``{feature}:success`` > ``{feature}:requests``, ``cache_hits`` >
``total_requests``, over the lifetime or as increases over a window) is inconsistent: the rates computed from
the pair are missing (None), never above 100 %, and :func:`inconsistent_counters` names the pairs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from reporter.base.errors import one_line
from reporter.collect.ai_tokens import add_lifetime, add_window, mark_resets, mark_seeded_resets, token_names, token_value
from reporter.collect.collector import Collector, Section
from reporter.collect.sources import LazyClient, lazy
from reporter.counters import CounterSample, CounterWindow, window_increase
from reporter.rounding import percent, round_percent
from reporter.snapshot import AISection, FeatureStats, FeatureWindow, WindowStats

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

WINDOWS = {"5m": 300.0}
MAX_COUNTER = 2**53  # floats count exactly below this (9,007,199,254,740,992)


def counter_names(features: list[str]) -> list[str]:
    """Counter names without prefix, in a fixed order: totals first, then three per feature, then the four
    optional token counters per feature (:func:`reporter.collect.ai_tokens.token_names`)."""
    names = ["total_requests", "total_time", "cache_hits"]
    for feature in features:
        names += [f"{feature}:requests", f"{feature}:success", f"{feature}:time"]
    return names + token_names(features)


class AICollector(Collector):
    """The ``ai`` section from the AI counters in Redis, with windowed rates from the counters it has read.

    :meth:`read` gets every counter with one ``MGET`` (``{name: value or None}``) and raises the redis-py error
    when Redis cannot be read; :meth:`collect` adds the reading to its counter window (kept ``5m`` plus three
    sample intervals) and builds the section, a Redis failure or unusable counters being its error. A read that
    took longer than ``deadline`` seconds (the sampler has given up on it) leaves the window untouched.
    ``client`` is a ready redis-py client or a :class:`LazyClient` made on the first read.
    """

    name = "ai"
    app_wide = True

    def __init__(self, client: redis.Redis | LazyClient[redis.Redis], prefix: str, features: list[str], *,
                 model: str = "", sample_interval: float = 10.0, deadline: float | None = None) -> None:
        self.client = lazy(client)
        self.prefix = prefix
        self.features = features
        self.model = model
        self.deadline = deadline
        self.names = counter_names(features)
        self.optional = frozenset(token_names(features))
        self.counts = frozenset(count_names(features))
        self.window = CounterWindow(keep_seconds=max(WINDOWS.values()) + 3 * sample_interval)
        self._window_lock = threading.Lock()
        self._warned: dict[str, bytes] = {}
        self.invalid: dict[str, str] = {}  # key -> why its last value was unusable (read after read())
        self.absent: frozenset[str] = frozenset()  # the optional token counters absent at the last read()

    def collect(self, now: datetime) -> Section[AISection]:
        """The AI section at ``now``: lifetime figures and windows; never raises for Redis being down."""
        started = time.monotonic()
        try:
            counters = self.read()
        except Exception as exc:  # Redis down or hung: the section is all null, the error says why
            log.debug("reading the AI counters failed", exc_info=True)
            return Section(None, one_line(exc))
        if self.deadline is not None and time.monotonic() - started > self.deadline:
            return Section(None, f"timed out after {self.deadline:g} s")  # late: the sampler has moved on
        with self._window_lock:
            section = ai_section(counters, self.window, now.timestamp(), self.features, self.model, None,
                                 self.absent)
            spans = [self.window.last(2), *(self.window.span(seconds) for seconds in WINDOWS.values())]
        problems = [describe_invalid(self.invalid)] if self.invalid else []
        pairs = inconsistent_counters(counters, spans, self.features)
        if pairs:
            problems.append("inconsistent counters, their rates are null: " + ", ".join(
                f"{self.prefix}{part} > {self.prefix}{whole}" for part, whole in pairs))
        section.error = "; ".join(problems) or None
        return Section.of(section)

    def missing(self, error: str) -> AISection:
        """All-null figures (every feature listed, windows null) with ``error``."""
        return ai_section(None, self.window, 0.0, self.features, self.model, error)

    def seed(self, samples: list[CounterSample]) -> None:
        """Add counter samples read from history (oldest first), so windows survive restarts (the token counters'
        deletions marked as resets, :func:`reporter.collect.ai_tokens.mark_seeded_resets`)."""
        with self._window_lock:
            self.window.extend(mark_seeded_resets(samples, self.features))

    def shift_clock(self, seconds: float) -> None:
        """Move the window's samples with a wall-clock step, so windowed rates use the real elapsed time."""
        with self._window_lock:
            self.window.shift(seconds)

    def close(self) -> None:
        self.client.close()

    def read(self) -> dict[str, float | None]:
        """Every counter, by name without prefix: 0.0 when absent, None when unusable (see :attr:`invalid`);
        the optional token counters None when absent too (listed in :attr:`absent`), whole numbers, and
        ``{feature}:generation_ns`` in seconds (:mod:`reporter.collect.ai_tokens`)."""
        client = self.client.get()
        keys = [self.prefix + n for n in self.names]
        pipe = client.pipeline(transaction=False)
        pipe.mget(keys)
        pipe.exists(*keys)
        raw, existing = pipe.execute()
        wrong_type = set()
        if existing > sum(v is not None for v in raw):  # MGET gives nil for a key that is a list, hash...
            wrong_type = {n for n, k, v in zip(self.names, keys, raw, strict=True)
                          if v is None and client.type(k) not in (b"none", "none")}
        invalid: dict[str, str] = {}
        counters: dict[str, float | None] = {}
        absent = []
        optional = self.optional
        for name, value in zip(self.names, raw, strict=True):
            number: float | None = None
            if name in wrong_type:
                problem: str | None = "not a string key"
            elif name in optional:
                if value is None:
                    absent.append(name)
                    problem = None
                else:
                    number, problem = token_value(name, value)
            else:
                problem = counter_problem(value, whole=name in self.counts)
                if problem is None:
                    number = 0.0 if value is None else float(value)
            if problem is None:
                if self._warned:
                    self._warned.pop(name, None)
                counters[name] = number
            else:
                self._warn(name, b"<a list, hash or set>" if name in wrong_type else value, problem)
                invalid[self.prefix + name] = problem
                counters[name] = None
        self.invalid = invalid
        self.absent = frozenset(absent)
        return counters

    def _warn(self, name: str, value: bytes, problem: str) -> None:
        if self._warned.get(name) != value:  # warn once per bad value, not every sample
            self._warned[name] = value
            log.warning(
                "Redis key %s%s holds %r: %s; treating it as missing. "
                "Check the application code that writes it.", self.prefix, name,
                value[:64].decode("utf-8", "replace"), problem)


def count_names(features: Sequence[str]) -> list[str]:
    """The counters that count requests (written with ``INCR``, so whole numbers): ``total_requests``,
    ``cache_hits`` and each feature's ``requests`` and ``success`` (the ``time`` counters are float seconds)."""
    return ["total_requests", "cache_hits", *(f"{f}:{kind}" for f in features for kind in ("requests", "success"))]


def counter_problem(value: bytes | None, *, whole: bool = False) -> str | None:
    """Why a raw counter value cannot be used, or None when it can (absent = 0 is fine): "not a number",
    "negative", "not a finite number", "too large" (naming the limit, 2^53) or, for a count of requests
    (``whole``, see :func:`count_names`), "not a whole number"."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "not a number"
    if math.isnan(number):
        return "not a number"
    if number < 0:
        return "negative (a counter only grows from 0)"
    if math.isinf(number):
        return "not a finite number"
    if number >= MAX_COUNTER:
        return f"too large (the limit is 2^53 = {MAX_COUNTER}, above which counts are not exact)"
    if whole and not number.is_integer():
        return "not a whole number (a count of requests, written with INCR)"
    return None


def describe_invalid(invalid: dict[str, str]) -> str:
    """One line naming each unusable key and why, the keys with the same problem together:
    ``ai:a, ai:b: not a number; ai:c: too large (...)``."""
    by_problem: dict[str, list[str]] = {}
    for key, problem in invalid.items():
        by_problem.setdefault(problem, []).append(key)
    return "; ".join(f"{', '.join(keys)}: {problem}" for problem, keys in by_problem.items())


def _ratio(part: float | None, whole: float | None) -> float | None:
    """part / whole with 6 decimals (seconds per request, requests per second); None without a positive whole."""
    if part is None or whole is None or whole <= 0:
        return None
    return round(part / whole, 6)


def _share(part: float | None, whole: float | None) -> float | None:
    """``part`` as a rounded percentage of ``whole``; None when either is missing, the whole is 0, or the part
    exceeds the whole (inconsistent counters)."""
    if part is not None and whole is not None and part > whole:
        return None
    return percent(part, whole)


def part_whole_pairs(features: Sequence[str]) -> list[tuple[str, str]]:
    """The (part, whole) counter pairs whose part can never exceed its whole."""
    return [("cache_hits", "total_requests"), *((f"{f}:success", f"{f}:requests") for f in features)]


def inconsistent_counters(counters: dict[str, float | None] | None, samples: Sequence[Sequence[CounterSample]],
                          features: Sequence[str]) -> list[tuple[str, str]]:
    """(part, whole) pairs whose part exceeds the whole in ``counters`` (lifetime values) or in the increase
    over any of the windows ``samples`` (each oldest first), in :func:`part_whole_pairs` order."""
    found = []
    for part, whole in part_whole_pairs(features):
        values = [] if counters is None else [(counters.get(part), counters.get(whole))]
        values += [(window_increase(s, part), window_increase(s, whole)) for s in samples if len(s) >= 2]
        if any(p is not None and w is not None and p > w for p, w in values):
            found.append((part, whole))
    return found


def lifetime_section(counters: dict[str, float | None], features: list[str], model: str) -> AISection:
    """The seed's lifetime figures: totals, averages over all requests, per-feature stats."""
    total, hits = counters.get("total_requests"), counters.get("cache_hits")
    section = AISection(
        model=model,
        total_requests=None if total is None else int(total),
        total_time_seconds=counters.get("total_time"),
        cache_hits=None if hits is None else int(hits),
        avg_response_time=_ratio(counters.get("total_time"), total),
        cache_hit_rate=_share(hits, total),
    )
    for feature in features:
        requests = counters.get(f"{feature}:requests")
        success = counters.get(f"{feature}:success")
        section.features[feature] = FeatureStats(
            requests=None if requests is None else int(requests),
            success=None if success is None else int(success),
            success_rate=_share(success, requests),
            total_time_seconds=counters.get(f"{feature}:time"),
            avg_time=_ratio(counters.get(f"{feature}:time"), requests),
        )
        add_lifetime(section.features[feature], counters, feature)
    return section


def window_stats(samples: Sequence[CounterSample], features: list[str],
                 absent: frozenset[str] = frozenset()) -> WindowStats | None:
    """AI figures over consecutive counter ``samples`` (oldest first) from their increases; None with fewer
    than two samples. ``absent``: the token counters not in Redis at the latest read (their figures None)."""
    if len(samples) < 2:
        return None
    covered = samples[-1].at - samples[0].at
    requests = window_increase(samples, "total_requests")
    stats = WindowStats(
        window_seconds=round(covered, 3),
        requests=requests,
        requests_per_second=_ratio(requests, covered),
        avg_response_time=_ratio(window_increase(samples, "total_time"), requests),
        cache_hit_rate=_share(window_increase(samples, "cache_hits"), requests),
    )
    sum_requests = sum_success = 0.0
    complete = True
    for feature in features:
        f_requests = window_increase(samples, f"{feature}:requests")
        f_success = window_increase(samples, f"{feature}:success")
        stats.features[feature] = FeatureWindow(
            requests=f_requests,
            success_rate=_share(f_success, f_requests),
            avg_time=_ratio(window_increase(samples, f"{feature}:time"), f_requests),
        )
        if f_requests is None or f_success is None or f_success > f_requests:
            complete = False  # a feature's rate is missing, so is the overall one
        else:
            sum_requests += f_requests
            sum_success += f_success
    if complete and (rate := percent(sum_success, sum_requests)) is not None:  # None: no request
        stats.success_rate = rate
        stats.error_rate = round_percent(100.0 - rate)
    add_window(stats, samples, features, absent)
    return stats


def ai_section(
    counters: dict[str, float | None] | None,
    window: CounterWindow,
    at: float,
    features: list[str],
    model: str,
    error: str | None,
    absent: frozenset[str] = frozenset(),
) -> AISection:
    """Build the AI section: lifetime figures from ``counters`` (None when Redis could not be read) and
    windows ``last_interval`` and ``5m`` after adding this sample (taken at Unix time ``at``) to ``window``;
    ``absent``: the optional token counters absent from Redis (0 in the window, so that a deletion or a first
    write counts from 0; their figures None, :func:`reporter.collect.ai_tokens.mark_resets`)."""
    if counters is None:
        section = AISection(model=model, error=error, features={f: FeatureStats() for f in features})
    else:
        window.add(CounterSample(at=at, values=mark_resets(counters, absent)))
        section = lifetime_section(counters, features, model)
    fresh = counters is not None
    section.windows["last_interval"] = window_stats(window.last(2), features, absent) if fresh else None
    for name, seconds in WINDOWS.items():
        section.windows[name] = window_stats(window.span(seconds), features, absent) if fresh else None
    return section
