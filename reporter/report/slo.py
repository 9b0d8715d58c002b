"""Objectives (SLOs) of a report: for each objective its attainment over the period, the error budget left in
the period and in the rolling 30 days ending at the period's end, the burn rate, and a status.

How each SLI is counted (the report states the same under "How this is counted"):

* **Availability** of a service (``database``, ``redis``, ``ollama``): up probes / probes, every host's probes
  together. A sample without a value for the service (missing sample, or a host that does not probe it) counts
  neither as up nor as down. A probe is as stored: 1 up, 0 down (no answer within the probe timeout).
* **AI success rate**: increases of the per-feature success counters / increases of the per-feature request
  counters (a counter that goes down was reset: the increase is its new value), as the report's AI table.
* **AI p95 response time**: a request-weighted window SLI. A sampling interval is good when its average response
  time (increase of ``ai_total_time_seconds`` / increase of ``ai_total_requests``) is at most the target; the
  attainment is the percentage of requests in good intervals, and the objective is that 95 % are.
* **Sampling coverage**: samples stored / samples expected (one per sample interval per host with a sample in
  the window; the 30 days start at the oldest sample when the history is younger).

Error budget: the allowed bad fraction is ``100 - goal`` percent (``goal``: the target, or 95 for the p95 rule).
``burn_rate`` = bad fraction / allowed bad fraction (1.0 spends the budget exactly over the window);
``budget_left`` = ``(1 - burn_rate) * 100`` percent (negative once overspent).

Status: ``no_data`` without a figure for the period; ``missed`` when the period's attainment is below the goal;
``at_risk`` when met but less than :data:`AT_RISK_BUDGET` percent of the period's budget is left, or the rolling
30 days' budget is spent (burn rate over 30 days >= 1); ``met`` otherwise.

The rolling 30 days are read with SQL aggregates (SUM/COUNT of the probe columns; on PostgreSQL, counter increases
of each row against the one before, found with the ``LAG`` window function). On SQLite the counter increases are
summed in numpy from the rows, read a few thousand at a time: the same sums for a third of that query's CPU there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Float, and_, case, cast, func, literal, or_, select, type_coerce

from reporter.base.ms import to_ms
from reporter.catalog import catalog, report_metrics
from reporter.settings import DEFAULT_AVAILABILITY, PROBES, Settings
from reporter.store.history import History

ROLLING = timedelta(days=30)
AT_RISK_BUDGET = 25.0  # percent of the period's error budget left under which a met objective is at risk
P95_GOAL = 95.0  # percent of requests in intervals within the p95 target
COUNTER_BASE = timedelta(hours=1)  # how far before a window its first counter increase may start (as build.py)
ROWS_CHUNK = 2048  # rows read at a time on SQLite (:func:`_ai_sums_rows`): each chunk is Python objects for a moment
STATUSES = ("met", "at_risk", "missed", "no_data")
DEFAULTS = {"ai_success_rate": 90.0, "ai_p95_seconds": 10.0, "coverage": 99.0}


@dataclass(frozen=True)
class Objective:
    """One objective of a report.

    ``name``: what is measured (``"redis availability"``, ``"AI success rate"``, ``"AI p95 response time"``,
    ``"Sampling coverage"``); ``kind``: ``availability``, ``ai_success_rate``, ``ai_p95`` or ``coverage``;
    ``service``: the service of an availability objective, else ``""``.
    ``target``: the objective as the user set it, in ``unit`` (``"%"``, or ``"s"`` for the p95 response time);
    ``goal``: the attainment it asks for, percent (the target, or 95 for the p95 rule).
    ``attainment``: the SLI over the report's period, percent (None without data);
    ``attainment_30d``: the same over the rolling 30 days ending at the report's end.
    ``budget_left`` / ``budget_left_30d``: percent of the error budget left over the period / the 30 days (may
    be negative). ``burn_rate``: bad fraction / allowed bad fraction over the period (1.0 spends it exactly).
    ``status``: ``met``, ``at_risk``, ``missed`` or ``no_data`` (see the module's rule).
    """

    name: str
    kind: str
    target: float
    unit: str
    goal: float
    attainment: float | None
    attainment_30d: float | None
    budget_left: float | None
    budget_left_30d: float | None
    burn_rate: float | None
    status: str
    service: str = ""

    @property
    def target_text(self) -> str:
        """The objective in words: ``≥ 99.5 %`` or ``≤ 10 s for 95 % of requests`` (no-break spaces around the
        numbers)."""
        if self.unit == "s":
            return f"≤\u00a0{self.target:g}\u00a0s for {self.goal:g}\u00a0% of requests"
        return f"≥\u00a0{self.target:g}\u00a0%"


def burn(attainment: float | None, goal: float) -> float | None:
    """Bad fraction / allowed bad fraction (``attainment`` and ``goal`` in percent, goal < 100); None without
    an attainment."""
    if attainment is None:
        return None
    return max(0.0, 100.0 - attainment) / (100.0 - goal)


def budget_left(attainment: float | None, goal: float) -> float | None:
    """Percent of the error budget left: ``(1 - burn) * 100``, negative once overspent; None without data."""
    rate = burn(attainment, goal)
    return None if rate is None else (1.0 - rate) * 100.0


def status(attainment: float | None, goal: float, budget_30d: float | None) -> str:
    """``no_data``, ``missed``, ``at_risk`` or ``met`` by the module's rule."""
    left = budget_left(attainment, goal)
    if left is None:
        return "no_data"
    if left < -1e-9:
        return "missed"
    if left < AT_RISK_BUDGET or (budget_30d is not None and budget_30d <= 0.0):
        return "at_risk"
    return "met"


def objective(name: str, kind: str, target: float, unit: str, goal: float, period: float | None,
              rolling: float | None, service: str = "") -> Objective:
    """An :class:`Objective` from its attainments over the period and over the rolling 30 days (percent)."""
    left_30d = budget_left(rolling, goal)
    return Objective(name, kind, target, unit, goal, period, rolling, budget_left(period, goal), left_30d,
                     burn(period, goal), status(period, goal, left_30d), service)


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else min(100.0, part / whole * 100.0)


def _in(ts: Any, window: tuple[datetime, datetime]) -> Any:
    return and_(ts >= to_ms(window[0]), ts < to_ms(window[1]))


def probe_totals(history: History, windows: list[tuple[datetime, datetime]],
                 services: tuple[str, ...] = PROBES) -> list[tuple[dict[str, tuple[float, int]], dict[str, int]]]:
    """For each window ``(start, end)`` (UTC, start <= t < end): ``({service: (up probes, probes)},
    {host: samples})`` from one aggregate query (SUM/COUNT per window, grouped by host on PostgreSQL; on SQLite
    the one host is ``history.host``). A probe value is 0 or 1; NULL (not probed, missing) is not counted."""
    c = history.samples.c
    host = c.host if history.fleet else literal(history.host)
    columns: list[Any] = [host]
    for window in windows:
        inside = _in(c.ts, window)
        columns.append(func.count(case((inside, 1))))
        for name in services:
            raw = c[f"{name}_up"]
            columns += [type_coerce(func.sum(case((inside, raw))), Float), func.count(case((inside, raw)))]
    query = select(*columns).where(c.ts >= to_ms(min(w[0] for w in windows)), c.ts < to_ms(max(w[1] for w in windows)))
    if history.fleet:
        query = query.group_by(c.host)
    out: list[tuple[dict[str, tuple[float, int]], dict[str, int]]] = [
        ({name: (0.0, 0) for name in services}, {}) for _ in windows]
    with history.engine.connect() as conn:
        for row in conn.execute(query):
            i = 1
            for ups, samples in out:
                if row[i]:
                    samples[row[0]] = samples.get(row[0], 0) + row[i]
                i += 1
                for name in services:
                    scale = history.metrics[f"{name}_up"].scale
                    up, probes = ups[name]
                    ups[name] = (up + float(row[i] or 0.0) / scale, probes + row[i + 1])
                    i += 2
    return out


def _step(cur: Any, prev: Any) -> Any:
    """A counter's increase between two samples: NULL if either is missing, the new value after a reset."""
    return case((or_(cur.is_(None), prev.is_(None)), None), (cur >= prev, cur - prev), else_=cur)


def _pairs(history: History, counters: list[str], lo: datetime, hi: datetime) -> Any:
    """A query of the app-wide rows of lo <= t < hi, each beside the row before it: ``ts``, ``prev_ts`` and,
    per counter, ``<name>`` and ``<name>__prev``. PostgreSQL: ``LAG`` of each column over the rows ordered by
    (ts, host), as :meth:`History.app_rows` reads them. SQLite (the key ``ts`` is the rowid): ``LAG`` of ``ts``
    only, the row before found by its key (twice as fast as a ``LAG`` per column there)."""
    c = history.samples.c
    in_range = (c.ts >= to_ms(lo), c.ts < to_ms(hi))
    if history.fleet:
        order = [c.ts, c.host]
        inner = [c.ts.label("ts"), func.lag(c.ts).over(order_by=order).label("prev_ts")]
        for name in counters:
            inner += [c[name].label(name), func.lag(c[name]).over(order_by=order).label(f"{name}__prev")]
        # the app-wide rows, as History.app_rows reads them for the report
        usage = [f"usage_{u.removeprefix('usage_')}" for u in report_metrics("usage")]
        read = [m.name for m in catalog(history.features).values() if m.counter] + usage
        return select(*inner).where(*in_range, c.app, or_(*(c[n].is_not(None) for n in read)))
    keys = select(c.ts.label("ts"), func.lag(c.ts).over(order_by=c.ts).label("prev_ts")).where(*in_range).subquery()
    cur, prev = history.samples.alias("cur"), history.samples.alias("prev")
    return (select(keys.c.ts, keys.c.prev_ts, *(cur.c[n].label(n) for n in counters),
                   *(prev.c[n].label(f"{n}__prev") for n in counters))
            .select_from(keys.join(cur, cur.c.ts == keys.c.ts).outerjoin(prev, prev.c.ts == keys.c.prev_ts)))


def ai_totals(history: History, windows: list[tuple[datetime, datetime]], p95_seconds: float) -> list[dict]:
    """For each window: ``requests`` and ``success`` (summed over the features whose requests increased, as the
    report), ``inconsistent`` (a feature's successes grew more than its requests: no success rate),
    ``timed`` (requests in intervals with a time increase) and ``fast`` (those in intervals whose average
    response time is at most ``p95_seconds``). Counter increases with resets handled (:func:`_step`); the first
    increase of a window starts at the last sample at most an hour before it (as ``build_report``). One scan
    over the rows of every window: each row beside the one before (:func:`_pairs`), summed per window (in SQL on
    PostgreSQL, :func:`_ai_sums_sql`; in numpy on SQLite, :func:`_ai_sums_rows`: the same sums)."""
    features = history.features
    counters = ["ai_total_requests", "ai_total_time_seconds",
                *(f"ai_{f}_{what}" for f in features for what in ("requests", "success"))]
    scale = {name: history.metrics[name].scale for name in counters}
    limit = p95_seconds * scale["ai_total_time_seconds"] / scale["ai_total_requests"]
    if not windows:
        return []
    values = (_ai_sums_sql if history.fleet else _ai_sums_rows)(history, counters, windows, limit)
    width = 2 + 2 * len(features)
    out = []
    for i in range(len(windows)):
        row = values[i * width:(i + 1) * width]
        r_scale = scale["ai_total_requests"]
        found = {"timed": (row[0] or 0.0) / r_scale, "fast": (row[1] or 0.0) / r_scale, "requests": 0.0,
                 "success": 0.0, "inconsistent": False}
        for n, f in enumerate(features):
            f_req, f_ok = row[2 + 2 * n], row[3 + 2 * n]
            f_req = None if f_req is None else f_req / scale[f"ai_{f}_requests"]
            f_ok = None if f_ok is None else f_ok / scale[f"ai_{f}_success"]
            if f_ok is not None and f_ok > (f_req or 0.0):
                found["inconsistent"] = True
            if f_req:
                found["requests"] += f_req
                found["success"] += f_ok or 0.0
        out.append(found)
    return out


def _ai_sums_sql(history: History, counters: list[str], windows: list[tuple[datetime, datetime]],
                 limit: float) -> list[float | None]:
    """:func:`ai_totals`' sums in stored units (per window: requests in timed intervals, those in fast ones,
    then each feature's requests and successes; None for a sum of nothing) from one SQL query over the rows of
    every window, each beside the one before (:func:`_pairs`). Used on PostgreSQL (it gives the same sums on
    SQLite, at three times :func:`_ai_sums_rows`' CPU)."""
    features = history.features
    # one scan for every window (the period and the rolling 30 days ending with it overlap): each sum counts the
    # rows of its own window, whose first increase starts at most COUNTER_BASE before it
    s = _pairs(history, counters, min(w[0] for w in windows) - COUNTER_BASE, max(w[1] for w in windows)).subquery().c
    # CAST, not only typed: SQLite sums integers in 64 bits and fails ("integer overflow") on counters near 2^63
    steps = {n: _step(cast(s[n], Float), cast(s[f"{n}__prev"], Float)) for n in counters}
    req, spent = steps["ai_total_requests"], steps["ai_total_time_seconds"]
    timed = and_(req > 0, spent.is_not(None))
    sums: list[Any] = []
    for start, end in windows:
        inside = and_(s.ts >= to_ms(start), s.ts < to_ms(end), s.prev_ts >= to_ms(start - COUNTER_BASE))
        sums += [func.sum(case((and_(inside, timed), req))),
                 func.sum(case((and_(inside, timed, spent <= req * limit), req)))]
        for f in features:
            sums += [func.sum(case((inside, steps[f"ai_{f}_requests"]))),
                     func.sum(case((inside, steps[f"ai_{f}_success"])))]
    with history.engine.connect() as conn:
        return [None if v is None else float(v) for v in conn.execute(select(*sums)).one()]


def _ai_sums_rows(history: History, counters: list[str], windows: list[tuple[datetime, datetime]],
                  limit: float) -> list[float | None]:
    """The sums of :func:`_ai_sums_sql` from the rows themselves, read :data:`ROWS_CHUNK` at a time into numpy
    (SQLite: that query costs three times the CPU there, each row's increases recomputed in every sum using
    them, and a day's report waits on its rolling 30 days). Each row against the row before it (the first has
    none), as ``LAG(ts)`` orders them; counters are stored as integers, so their sums are exact doubles in any
    order of addition."""
    c = history.samples.c
    lo, hi = min(w[0] for w in windows) - COUNTER_BASE, max(w[1] for w in windows)
    query = (select(c.ts, *(cast(c[n], Float) for n in counters)).where(c.ts >= to_ms(lo), c.ts < to_ms(hi))
             .order_by(c.ts))
    width = len(counters)  # per window: timed, fast, then each feature's requests and successes
    sums, counts = np.zeros(len(windows) * width), np.zeros(len(windows) * width, dtype=np.int64)
    bounds = [(to_ms(start), to_ms(end), to_ms(start - COUNTER_BASE)) for start, end in windows]
    carry: np.ndarray | None = None  # the last row of the chunk before
    with history.engine.connect() as conn:
        result = conn.execute(query)
        try:
            while rows := result.cursor.fetchmany(ROWS_CHUNK):
                table = np.array(rows, dtype=float).reshape(-1, len(counters) + 1)
                both = table if carry is None else np.vstack((carry, table))
                carry = table[-1:]
                cur, prev = both[1:], both[:-1]
                with np.errstate(invalid="ignore"):
                    step = np.where(cur[:, 1:] >= prev[:, 1:], cur[:, 1:] - prev[:, 1:], cur[:, 1:])
                    step[np.isnan(prev[:, 1:])] = np.nan  # a missing side: no increase (NaN in cur stays)
                    req, spent = step[:, 0], step[:, 1]
                    timed = (req > 0) & ~np.isnan(spent)
                    fast = timed & (spent <= req * limit)
                    for w, (start, end, base) in enumerate(bounds):
                        inside = (cur[:, 0] >= start) & (cur[:, 0] < end) & (prev[:, 0] >= base)
                        picks = [req[inside & timed], req[inside & fast],
                                 *(step[inside, 2 + k] for k in range(width - 2))]
                        for k, values in enumerate(picks):
                            present = values[~np.isnan(values)]
                            sums[w * width + k] += present.sum()
                            counts[w * width + k] += len(present)
        finally:
            result.close()
    return [float(total) if n else None for total, n in zip(sums, counts, strict=True)]


def _coverage(samples: dict[str, int], start: datetime, end: datetime, interval: float) -> float | None:
    expected = round((end - start).total_seconds() / interval)
    if not samples or expected <= 0:
        return None
    return sum(min(n, expected) for n in samples.values()) / (expected * len(samples)) * 100.0


def objectives(history: History, start: datetime, end: datetime, *, sample_interval: float,
               settings: Settings | None = None) -> list[Objective]:
    """The objectives of the report covering start <= t < end (UTC; ``end`` is "now" for a partial period),
    in this order: availability of each service probed in the period or the 30 days (every service when
    nothing was probed), AI success rate, AI p95 response time, sampling coverage. The rolling window is the
    30 days ending at ``end``. ``settings``: a :class:`reporter.settings.Settings` (its ``slo_*``), None for
    the defaults. Never raises for missing data (those objectives are ``no_data``)."""
    targets = settings.availability_objectives if settings is not None else dict.fromkeys(PROBES, DEFAULT_AVAILABILITY)
    success = settings.slo_ai_success_rate if settings is not None else DEFAULTS["ai_success_rate"]
    p95 = settings.slo_ai_p95_seconds if settings is not None else DEFAULTS["ai_p95_seconds"]
    cover = settings.slo_coverage if settings is not None else DEFAULTS["coverage"]
    windows = [(start, end), (end - ROLLING, end)]
    with ThreadPoolExecutor(1) as pool:  # the two scans at once (the database works without the GIL)
        probes = pool.submit(probe_totals, history, windows)
        period_ai, rolling_ai = ai_totals(history, windows, p95)
        (period_up, period_samples), (rolling_up, rolling_samples) = probes.result()
    out = []
    probed = [s for s in PROBES if period_up[s][1] or rolling_up[s][1]] or list(PROBES)
    for name in probed:
        out.append(objective(f"{name} availability", "availability", targets[name], "%", targets[name],
                             _ratio(*period_up[name]), _ratio(*rolling_up[name]), service=name))
    out.append(objective("AI success rate", "ai_success_rate", success, "%", success,
                         None if period_ai["inconsistent"] else _ratio(period_ai["success"], period_ai["requests"]),
                         None if rolling_ai["inconsistent"] else _ratio(rolling_ai["success"], rolling_ai["requests"])))
    out.append(objective("AI p95 response time", "ai_p95", p95, "s", P95_GOAL,
                         _ratio(period_ai["fast"], period_ai["timed"]), _ratio(rolling_ai["fast"], rolling_ai["timed"])))
    first = history.first_time()
    rolling_start = max(end - ROLLING, first) if first is not None else end - ROLLING
    out.append(objective("Sampling coverage", "coverage", cover, "%", cover,
                         _coverage(period_samples, start, end, sample_interval),
                         _coverage(rolling_samples, rolling_start, end, sample_interval)))
    return out
