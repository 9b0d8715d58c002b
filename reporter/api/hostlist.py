"""The fleet as people see it: one entry per host (``GET /api/v1/hosts``; ``reporter hosts`` prints
:func:`table`).

An entry is built from the host's ``hosts`` row and the ``leadership`` record (:mod:`reporter.store.hosts`):
``status`` is the status of its latest snapshot, or ``down`` when it has stored no sample for
:data:`DOWN_AFTER_INTERVALS` sample intervals (or none at all); ``leader`` is true for the host that took over
last. A SQLite history is single-host: only this host is listed, and it leads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from reporter.base.timefmt import duration, format_utc
from reporter.store.hosts import HostRegistry, HostRow

DOWN = "down"
DOWN_AFTER_INTERVALS = 3  # as host_down and /healthz: no sample for 3 sample intervals


@dataclass(frozen=True)
class HostEntry:
    """One host of the fleet. ``last_sample``: when its newest stored sample was taken (aware UTC, None before
    its first); ``age_seconds``: now minus that (None likewise); ``version``: the reporter version it runs
    (None when it never registered)."""

    name: str
    role: str
    leader: bool
    status: str
    last_sample: datetime | None
    age_seconds: float | None
    version: str | None

    @property
    def down(self) -> bool:
        """True when the host stored no sample for :data:`DOWN_AFTER_INTERVALS` intervals."""
        return self.status == DOWN

    def as_json(self) -> dict:
        """``{"name", "last_sample" (ISO 8601 UTC or null), "status", "leader", "version", "role"}``."""
        return {"name": self.name, "last_sample": None if self.last_sample is None else format_utc(self.last_sample),
                "status": self.status, "leader": self.leader, "version": self.version, "role": self.role}


def entry(row: HostRow, leader: bool, now: datetime, sample_interval: float) -> HostEntry:
    """The entry of one ``hosts`` row at ``now`` (aware) for hosts sampling every ``sample_interval`` s."""
    age = None if row.last_sample is None else max(0.0, (now - row.last_sample).total_seconds())
    down = age is None or age > DOWN_AFTER_INTERVALS * sample_interval
    return HostEntry(name=row.name, role=row.role, leader=leader, status=DOWN if down else (row.status or "unknown"),
                     last_sample=row.last_sample, age_seconds=age, version=row.version or None)


def host_entries(registry: HostRegistry, this_host: str, fleet: bool, now: datetime, sample_interval: float,
                 this_version: str | None = None) -> list[HostEntry]:
    """Every host, by name (``fleet``: the history is PostgreSQL); on SQLite this host only (when it has stored
    a sample or registered), as leader. ``this_version``: the version shown for ``this_host`` when its row has
    none (a single host does not register). Raises SQLAlchemy's errors when the history cannot be read."""
    if fleet:
        leader = registry.leader()
        entries = [entry(row, leader is not None and row.name == leader[0], now, sample_interval)
                   for row in registry.list(snapshots=False)]
    else:
        row = registry.get(this_host)
        entries = [] if row is None else [entry(row, True, now, sample_interval)]
    return [replace(e, version=this_version) if e.name == this_host and e.version is None else e for e in entries]


HEADER = ("NAME", "ROLE", "LEADER", "STATUS", "LAST SAMPLE", "VERSION")


def table(entries: list[HostEntry]) -> str:
    """The entries as an aligned text table with a header (``LAST SAMPLE`` is an age: ``8 s ago``, ``never``);
    a line saying so when there is none."""
    if not entries:
        return "no host has written into this history yet"
    rows = [HEADER, *((e.name, e.role, "yes" if e.leader else "no", e.status,
                       "never" if e.age_seconds is None else f"{duration(e.age_seconds)} ago", e.version or "-")
                      for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
