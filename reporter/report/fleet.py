"""The fleet part of a report: every host's summary figures in one aggregate query (PostgreSQL), and which
hosts get a section of their own.

A report of a large fleet reads every host's summary (samples; min / average / p95 / max of the system
metrics; Ollama model probes) from one ``GROUP BY host`` query over the day's partitions, and the full
figures (series, gaps, services) only of the hosts it details (:func:`detailed_hosts`), so its build time and
its length stay bounded as the fleet grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, func, select, type_coerce

from reporter.base.ms import to_ms
from reporter.catalog import report_metrics
from reporter.report.model import HostDay, Stats
from reporter.store.history import History

MODEL_PROBE = "ollama_model_available"


@dataclass(frozen=True)
class HostSummary:
    """One host's figures from the aggregate query: ``samples``, ``system`` (metric -> Stats, the p95 by
    PostgreSQL's ``percentile_cont(0.95)``: linear interpolation between the closest ranks, as
    :func:`reporter.report.build.percentile`), its model probes (sum of the 0/1 values, and how many), and
    the same of each service's ``<service>_up`` probes (by service)."""

    samples: int
    system: dict[str, Stats]
    model_up: float
    model_probes: int
    services: dict[str, tuple[float, int]]


def summaries(history: History, start: datetime, end: datetime,
              services: tuple[str, ...] = ("database", "redis", "ollama")) -> dict[str, HostSummary]:
    """Every host's :class:`HostSummary` for start <= t < end, by host name (hosts without samples absent).
    PostgreSQL only (a fleet history)."""
    c = history.samples.c
    metrics = list(report_metrics("system"))
    columns = [c.host, func.count()]
    for name in metrics:
        raw = c[name]  # the stored fixed-point integer: divided by the metric's scale below
        columns += [type_coerce(func.min(raw), Float), type_coerce(func.avg(raw), Float),
                    type_coerce(func.percentile_cont(0.95).within_group(raw), Float),
                    type_coerce(func.max(raw), Float), func.count(raw)]
    probes = [MODEL_PROBE, *(f"{name}_up" for name in services)]
    for name in probes:
        columns += [type_coerce(func.sum(c[name]), Float), func.count(c[name])]
    query = (select(*columns).where(c.ts >= to_ms(start), c.ts < to_ms(end)).group_by(c.host))
    out: dict[str, HostSummary] = {}
    with history.engine.connect() as conn:
        for row in conn.execute(query):
            system, i = {}, 2
            for name in metrics:
                scale = history.metrics[name].scale
                low, avg, p95, high, count = row[i:i + 5]
                low, avg, p95, high = (None if v is None else v / scale for v in (low, avg, p95, high))
                system[name] = Stats(low, avg, p95, high, count)
                i += 5
            up = {}
            for name in probes:
                up[name] = ((row[i] or 0.0) / history.metrics[name].scale, row[i + 1])
                i += 2
            out[row[0]] = HostSummary(row[1], system, *up[MODEL_PROBE],
                                      services={s: up[f"{s}_up"] for s in services})
    return out


def attention(host: HostDay) -> tuple:
    """Sort key, most in need of attention first: most alerts still firing, then most alert episodes, then the
    lowest coverage, then the highest CPU/memory/disk p95, then the name."""
    p95 = max((s.p95 for s in host.system.values() if s.p95 is not None), default=0.0)
    return (-sum(1 for a in host.alerts if a.firing), -len(host.alerts), host.coverage or 0.0, -p95, host.name)


def detailed_hosts(hosts: list[HostDay], top_n: int) -> set[str]:
    """The names of the hosts that get a section of their own: all of them up to ``top_n`` hosts; in a larger
    fleet the ``top_n`` first by :func:`attention`, so the report's length stays bounded. Every host keeps its
    row in the fleet summary and the hosts CSV."""
    if len(hosts) <= top_n:
        return {h.name for h in hosts}
    return {h.name for h in sorted(hosts, key=attention)[:top_n]}
