"""Per-second rates from cumulative host counters (network and disk bytes), resets handled.

:class:`CounterRate` turns successive readings of a set of counters (one per interface or disk) into the rate
of their sum between consecutive samples, on the monotonic clock. A sample gives None (null), never a negative
or a huge rate, when there is nothing to compare with: the first reading, a counter that went down (a reset,
a driver reload), an interface or disk that disappeared or appeared (the sum would jump), no reading, or
nothing to count (no interface, no disk).

:class:`HostIO` reads psutil's network and disk counters into four such rates.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psutil

from reporter.failures import FailureLog

log = logging.getLogger(__name__)


class CounterRate:
    """The rate (units per second) of the sum of a set of named cumulative counters between two readings.

    ``update(counters, at)``: ``counters`` maps a name (an interface, a disk) to its cumulative count (bytes),
    or is None when it could not be read; ``at`` is monotonic seconds. Returns the rate since the previous
    reading (rounded to 0.1), or None as described in the module docstring.
    """

    def __init__(self) -> None:
        self._previous: dict[str, int] | None = None
        self._at = 0.0

    def update(self, counters: Mapping[str, int] | None, at: float) -> float | None:
        previous, since = self._previous, self._at
        self._previous, self._at = (None if counters is None else dict(counters)), at
        if not counters or previous is None or at <= since or counters.keys() != previous.keys():
            return None
        deltas = [counters[name] - previous[name] for name in counters]
        if any(d < 0 for d in deltas):
            return None
        return round(sum(deltas) / (at - since), 1)


@dataclass
class IORates:
    """One sample's host IO rates in bytes per second (None: unknown for this sample)."""

    network_receive: float | None = None
    network_transmit: float | None = None
    disk_read: float | None = None
    disk_write: float | None = None
    error: str | None = None


def _whole_disks(counters: Mapping[str, object], known: dict[str, bool] | None = None) -> list[str]:
    """The disk names psutil counts in its total: on Linux those in ``/sys/block`` (not partitions); ``known``
    caches each name's answer (a name stays a disk or a partition; a new one is looked up once)."""
    if not sys.platform.startswith("linux") or not os.path.isdir("/sys/block"):
        return list(counters)
    known = {} if known is None else known
    for name in counters:
        if name not in known:
            known[name] = os.path.exists(f"/sys/block/{name}")
    return [name for name in counters if known[name]]


class HostIO:
    """Network (all non-loopback interfaces) and disk (all whole disks) byte rates since the previous read.

    ``net_counters``/``disk_counters``: psutil's ``net_io_counters(pernic=True)`` and
    ``disk_io_counters(perdisk=True)`` by default (injectable). A source psutil cannot read here (None, as
    ``disk_io_counters`` returns in many containers, or an OSError) gives None rates and an ``error`` in the
    first sample where it fails only; it is logged once (then every 5 minutes) and when it works again.
    """

    def __init__(self, net_counters: Callable[[], Mapping | None] | None = None,
                 disk_counters: Callable[[], Mapping | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._net = net_counters or (lambda: psutil.net_io_counters(pernic=True))
        self._disk = disk_counters or (lambda: psutil.disk_io_counters(perdisk=True))
        self._clock = clock
        self._rates = {key: CounterRate() for key in ("rx", "tx", "read", "write")}
        self._loopback: dict[str, bool] = {}
        self._whole: dict[str, bool] = {}  # disk name -> a whole disk (not a partition)
        self._failures = FailureLog(log)

    def _is_loopback(self, name: str) -> bool:
        if name not in self._loopback:
            try:
                stats = psutil.net_if_stats().get(name)
            except OSError:
                stats = None
            flags = getattr(stats, "flags", "") or ""
            self._loopback[name] = "loopback" in flags.split(",") if flags else name.startswith("lo")
        return self._loopback[name]

    def _read(self, source: str, read: Callable[[], Mapping | None], errors: list[str]) -> Mapping | None:
        try:
            counters = read()
            problem = None if counters else "psutil has no counters here"
        except (OSError, RuntimeError, NotImplementedError) as exc:
            counters, problem = None, f"{exc.__class__.__name__}: {exc}"
        key = f"system.{source}"
        if problem is None:
            self._failures.ok(key)
            return counters
        if self._failures.error(key) is None:  # recorded in the snapshot once, logged once then every 5 minutes
            errors.append(f"{source} counters: {problem}")
        self._failures.failed(key, f"{source} counters unreadable ({problem}); its rates are null")
        return None

    def read(self) -> IORates:
        """The rates since the previous ``read()`` (all None on the first one)."""
        errors: list[str] = []
        at = self._clock()
        net = self._read("network", self._net, errors)
        disk = self._read("disk", self._disk, errors)
        nics = None if net is None else {n: c for n, c in net.items() if not self._is_loopback(n)}
        disks = None if disk is None else {n: disk[n] for n in _whole_disks(disk, self._whole)}
        return IORates(
            network_receive=self._rates["rx"].update(None if nics is None else
                                                     {n: c.bytes_recv for n, c in nics.items()}, at),
            network_transmit=self._rates["tx"].update(None if nics is None else
                                                      {n: c.bytes_sent for n, c in nics.items()}, at),
            disk_read=self._rates["read"].update(None if disks is None else
                                                 {n: c.read_bytes for n, c in disks.items()}, at),
            disk_write=self._rates["write"].update(None if disks is None else
                                                   {n: c.write_bytes for n, c in disks.items()}, at),
            error="; ".join(errors) or None,
        )
