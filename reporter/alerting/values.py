"""Where a rule's value comes from: a snapshot path, or the history (``predict_linear``, ``error_spike``,
``anomaly``, ``increase``, ``throughput_drop``).

Each source returns ``(value, condition)``: ``condition`` None means the value is missing (the alert neither
starts nor resolves), False means the condition does not hold (including "not enough requests").
"""

from __future__ import annotations

import math
import time
import zlib
from datetime import datetime, timedelta
from typing import Any

from reporter.alerting.annotate import fmt
from reporter.alerting.anomaly import hour_of_week_start, is_anomalous, weekly_baseline
from reporter.alerting.increase import counter_increase
from reporter.alerting.rules import COMPARISONS, Rule, compare
from reporter.alerting.throughput import ThroughputBaseline
from reporter.counters import increase
from reporter.snapshot import NOT_PROBED

DEFERRED = object()  # a history value not computed yet (the evaluation's read budget was used up)


def lookup(data: dict, path: str) -> float | None:
    """The number at dotted ``path`` in a snapshot dict; booleans as 1.0/0.0; None when absent or not numeric."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool):
        return 1.0 if node else 0.0
    if isinstance(node, int | float) and math.isfinite(node):
        return float(node)
    return None


def reading(data: dict, path: str, guard: str | None) -> tuple[bool, float | None, float | None]:
    """What a threshold reads from one snapshot's ``data``: (``path`` is of a service not probed, the value at
    ``path``, the count at ``guard``); the same for every rule reading those paths."""
    if not_probed(data, path):
        return True, None, None
    return False, lookup(data, path), None if guard is None else lookup(data, guard)


def threshold_value(rule: Rule, data: dict, path: str, guard: str | None,
                    memo: dict | None = None) -> tuple[float | None, bool | None]:
    """Value at ``path`` compared with the threshold. With a ``guard`` (a count such as requests in the
    window), the condition is false while the count is below ``rule.min_count`` (no traffic is not "no data"),
    and missing when the count itself is missing (false with ``min_count_missing = "false"``: a missing count
    is 0, as ``model_cpu_fallback``'s unknown ``model_loaded``). A value of a service this host does not probe
    (REPORTER_PROBES) gives a false condition: no alert, and not missing (no ``no_data``). ``memo``: a dict
    kept for one ``data`` (one snapshot), so rules reading the same paths read them once."""
    if memo is None:
        unprobed, value, count = reading(data, path, guard)
    else:
        hit = memo.get((path, guard))
        if hit is None:
            hit = memo[(path, guard)] = reading(data, path, guard)
        unprobed, value, count = hit
    if unprobed:
        return None, False
    if guard is not None:
        if count is None:
            return value, None if rule.min_count_missing == "no_data" else False
        if count < rule.min_count:
            return value, False
    if value is None:
        return None, None
    return value, COMPARISONS[rule.op](value, rule.threshold)


def not_probed(data: dict, path: str) -> bool:
    """True when ``path`` is under ``services.<name>`` and that service is not probed on the snapshot's host."""
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != "services":
        return False
    health = data.get("services", {}).get(parts[1])
    return isinstance(health, dict) and health.get("up") is None and health.get("error") == NOT_PROBED


def predict_linear(points: list[tuple[float, float]], at: float) -> float | None:
    """Least-squares line through ``(t, v)`` points evaluated at ``at`` (as Prometheus ``predict_linear``)."""
    n = len(points)
    if n < 2:
        return None
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var
    return mean_v + slope * (at - mean_t)


def _fit(rule: Rule, series: list[tuple[int, float | None]], now: datetime) -> float | None:
    """``rule``'s value from ``series`` (``[(ts_ms, value)]``): the predicted value (``predict_linear``), None
    with too little history; for an ``increase`` rule the counter's increase, None with under two readings."""
    if rule.kind == "increase":
        return counter_increase(series)
    points = [(ts / 1000.0, v) for ts, v in series if v is not None]
    if len(points) < 2 or points[-1][0] - points[0][0] < rule.min_range_seconds:
        return None
    return predict_linear(points, now.timestamp() + rule.horizon_seconds)


class HistoryValues:
    """History-based values, cached for ``refresh_seconds`` (they change slowly and cost a range read). Each
    entry lives between one and two ``refresh_seconds`` (a fixed spread per key), so the range reads of many
    hosts' entries computed in one evaluation are spread over later ones instead of all coming due together.

    Per-host reads (``predict_linear`` of every host of a fleet) are bounded per evaluation: once
    ``budget_seconds`` have passed since :meth:`start_cycle` (and one was read), an expired entry keeps its old
    value and an entry never computed is missing (neither starts nor resolves an alert) until a later evaluation
    computes it. One read covers up to ``batch_hosts`` hosts' series of a rule (:meth:`prefetch_predicted`)."""

    def __init__(self, history, refresh_seconds: float = 60.0, budget_seconds: float = 0.25,
                 batch_hosts: int = 10) -> None:
        self.history = history
        self.refresh_seconds, self.budget_seconds, self.batch_hosts = refresh_seconds, budget_seconds, batch_hosts
        self._cache: dict[str, tuple[datetime, Any]] = {}
        self._deadline, self._read = math.inf, False
        self._anomaly: dict[str, tuple[datetime, list[float]]] = {}
        self._throughput: dict[str, ThroughputBaseline] = {}

    def start_cycle(self) -> None:
        """An evaluation starts: the per-host reads of this one get ``budget_seconds`` from now."""
        self._deadline, self._read = time.monotonic() + self.budget_seconds, False

    def clear(self) -> None:
        """Forget cached values (the wall clock stepped: their times are in the old frame)."""
        self._cache.clear()
        self._anomaly.clear()
        self._throughput.clear()

    def _cached(self, key: str, now: datetime, compute, deferrable: bool = False):
        hit = self._cache.get(key)
        lifetime = self.refresh_seconds * (1 + (zlib.crc32(key.encode()) % 1000) / 1000)
        if hit is not None and 0 <= (now - hit[0]).total_seconds() < lifetime:
            return hit[1]
        if deferrable and self._read and time.monotonic() > self._deadline:  # this evaluation's reads are used up
            return hit[1] if hit is not None else DEFERRED
        value = compute()
        self._read = self._read or deferrable
        self._cache[key] = (now, value)
        return value

    def _due(self, key: str, now: datetime) -> bool:
        hit = self._cache.get(key)
        lifetime = self.refresh_seconds * (1 + (zlib.crc32(key.encode()) % 1000) / 1000)
        return hit is None or not 0 <= (now - hit[0]).total_seconds() < lifetime

    def prefetch_predicted(self, rule: Rule, now: datetime, hosts: list[str]) -> None:
        """Read the series of the hosts whose :meth:`predicted` value of ``rule`` is due at ``now`` together
        (one query per ``batch_hosts`` hosts instead of one per host), within this evaluation's read budget;
        what is left is read (or deferred) by :meth:`predicted` as before."""
        chunk = self.batch_hosts
        due = [host for host in hosts if self._due(f"predict:{rule.name}:{host}", now)]
        if len(due) < 2:
            return
        span = rule.window_seconds if rule.kind == "increase" else rule.range_seconds
        start, end = now - timedelta(seconds=span), now + timedelta(milliseconds=1)
        for i in range(0, len(due), chunk):
            if self._read and time.monotonic() > self._deadline:
                return
            for host, series in self.history.series_of_hosts(rule.metric, start, end, due[i:i + chunk]).items():
                self._cache[f"predict:{rule.name}:{host}"] = (now, _fit(rule, series, now))
            self._read = True

    def predicted(self, rule: Rule, now: datetime, host: str | None = None) -> tuple[float | None, bool | None]:
        """Predicted value ``horizon`` seconds ahead from a fit over ``range`` of ``host``'s series (None: the
        history's own host; an app-wide metric is the fleet's series); false with too little history. For an
        ``increase`` rule: the counter's increase over ``window`` (:mod:`reporter.alerting.increase`), false
        with under two readings. Read at most once per ``refresh_seconds`` (spread, see the class)."""
        span = rule.window_seconds if rule.kind == "increase" else rule.range_seconds

        def compute():
            return _fit(rule, self.history.series(rule.metric, now - timedelta(seconds=span),
                                                  now + timedelta(milliseconds=1), host=host), now)

        predicted = self._cached(f"predict:{rule.name}:{host or ''}", now, compute, deferrable=True)
        if predicted is DEFERRED:
            return None, None
        if predicted is None:
            return None, False
        return round(predicted, 2), compare(rule.op, predicted, rule.threshold)

    def baseline_error_rate(self, rule: Rule, now: datetime, features: list[str], window_seconds: float) -> float:
        """Error rate (percent) over ``baseline`` seconds before the current window, from stored counters; 0.0
        when that period had no request."""
        def compute():
            end = now - timedelta(seconds=window_seconds)
            start = end - timedelta(seconds=rule.baseline_seconds)
            names = [f"ai_{f}_{k}" for f in features for k in ("requests", "success")]
            names = [n for n in names if n in self.history.metrics]
            rows = self.history.app_rows(names, start, end)  # the AI counters are app-wide
            requests = success = 0.0
            for i in range(0, len(names), 2):
                r = increase(row[1 + i] for row in rows)
                s = increase(row[2 + i] for row in rows)
                if r:
                    requests += r
                    success += min(s or 0.0, r)
            return 0.0 if requests <= 0 else (1 - success / requests) * 100.0

        return self._cached(f"baseline:{rule.name}", now, compute)

    def error_spike(self, rule: Rule, data: dict, guard: str | None, now: datetime,
                    features: list[str]) -> tuple[float | None, bool | None]:
        """The window's error rate; true when >= threshold and >= factor x the baseline."""
        value, condition = threshold_value(rule, data, rule.metric, guard)
        if not condition or value is None:  # a condition holds only for a value
            return value, condition
        baseline = self.baseline_error_rate(rule, now, features, 300.0)
        return value, value >= rule.factor * baseline

    def anomaly(self, rule: Rule, data: dict, guard: str | None, now: datetime) -> tuple[float | None, bool | None]:
        """The window's request count; true when far from this hour of the week's baseline
        (:mod:`reporter.alerting.anomaly`). The baseline is read once per hour (cached under its hour)."""
        value, condition = threshold_value(rule, data, rule.metric, guard)
        if value is None or condition is None:
            return value, condition
        hour = hour_of_week_start(now)
        hit = self._anomaly.get(rule.name)
        if hit is None or hit[0] != hour:
            hit = (hour, weekly_baseline(self.history, now, rule.weeks))
            self._anomaly[rule.name] = hit
        return value, is_anomalous(value, hit[1], rule.factor, rule.min_count, rule.min_weeks)

    def throughput_drop(self, rule: Rule, data: dict, guard: str | None, now: datetime,
                        features: list[str]) -> tuple[float | None, bool | None, dict[str, str]]:
        """The window's tokens per second; true when below ``factor`` x the baseline median
        (:mod:`reporter.alerting.throughput`), with at least ``min_count`` requests in the window. Without
        enough baseline: false (no alert, no ``no_data``). Also the template fields ``baseline`` (the median)
        and ``limit`` (factor x median), tokens per second."""
        baseline = self._throughput.get(rule.name)
        if baseline is None:
            baseline = self._throughput[rule.name] = ThroughputBaseline(
                self.history, features, rule.baseline_seconds, rule.min_count, rule.min_range_seconds / 3600.0)
        mid = baseline.median(now)
        value = lookup(data, rule.metric)
        if mid is None:
            return value, False, {}
        limit = rule.factor * mid
        fields = {"baseline": fmt(mid), "limit": fmt(limit)}
        count = None if guard is None else lookup(data, guard)
        if guard is not None and count is None:
            return value, None if rule.min_count_missing == "no_data" else False, fields
        if guard is not None and count is not None and count < rule.min_count:
            return value, False, fields
        if value is None:
            return None, None, fields
        return value, value < limit, fields
